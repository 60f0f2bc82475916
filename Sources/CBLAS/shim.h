#ifndef FILMRESTORE_CBLAS_SHIM_H
#define FILMRESTORE_CBLAS_SHIM_H
#include <cblas.h>
#endif
