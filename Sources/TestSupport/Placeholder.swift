import FilmCore
