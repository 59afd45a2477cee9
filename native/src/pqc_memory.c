/*
 * Zeroisation and the one allocator everything goes through.
 *
 * The pinned sources call malloc/free directly (fips202's SHAKE contexts hold
 * seed-derived state); the build maps their free() to pqc_zfree() so that
 * those regions are wiped too, not only the buffers the bindings allocate.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "pqc.h"

void pqc_memzero(void *p, size_t n) {
    if (p == NULL || n == 0) {
        return;
    }
    /* A volatile function pointer keeps the compiler from proving the store dead. */
    static void *(*volatile const memset_v)(void *, int, size_t) = memset;
    memset_v(p, 0, n);
}

void *pqc_malloc(size_t n) {
    return malloc(n == 0 ? 1 : n);
}

void pqc_free(void *p, size_t n) {
    if (p == NULL) {
        return;
    }
    pqc_memzero(p, n);
    free(p);
}

/* Used by the pinned sources through -Dfree=pqc_zfree: the size comes from the allocator. */
void pqc_zfree(void *p) {
    if (p == NULL) {
        return;
    }
    pqc_memzero(p, malloc_usable_size(p));
    free(p);
}
