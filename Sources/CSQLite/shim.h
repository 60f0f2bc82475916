// SQLite 3 from Debian's libsqlite3-dev: the workbench's job queue (only Workbench imports it).
#include <sqlite3.h>
