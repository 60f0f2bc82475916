// FilmCore's users get the one lock type with it.
@_exported import Locking
