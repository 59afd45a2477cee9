/*
 * The randomness bridge: PQClean's randombytes() for the wasm build.
 *
 * Two sources. Normally the host fills the buffer in one call per request
 * (Emscripten's getentropy asks one byte at a time, which made ML-KEM keygen
 * five times slower). For the *_derand entry points a caller presets the exact
 * bytes the algorithm will ask for; the wrappers then check that the preset was
 * consumed exactly, so a seed of the wrong length can never silently mix with
 * host randomness.
 *
 * The host import returns non-zero on failure. PQClean ignores randombytes'
 * return value, so failures are latched here and reported by the wrappers,
 * which then wipe their outputs.
 */
#include <string.h>

#include "pqc.h"
#include "randombytes.h"

__attribute__((import_module("pqc"), import_name("random_fill")))
extern int pqc_host_random_fill(uint8_t *buf, size_t len);

static const uint8_t *preset_next = NULL;
static size_t preset_left = 0;
static int preset_active = 0;
static int failed = 0;

int PQCLEAN_randombytes(uint8_t *output, size_t n) {
    if (preset_active) {
        if (n > preset_left) {
            failed = PQC_ERR_BAD_SEED;
            memset(output, 0, n);
            preset_left = 0;
            return -1;
        }
        memcpy(output, preset_next, n);
        preset_next += n;
        preset_left -= n;
        return 0;
    }
    if (pqc_host_random_fill(output, n) != 0) {
        failed = PQC_ERR_RANDOMNESS;
        memset(output, 0, n);
        return -1;
    }
    return 0;
}

/* Starts an operation: with seed != NULL, randombytes() serves exactly those bytes. */
int pqc_random_preset(const uint8_t *seed, size_t len) {
    failed = 0;
    preset_active = seed != NULL;
    preset_next = seed;
    preset_left = seed != NULL ? len : 0;
    return PQC_OK;
}

/* Ends an operation: PQC_OK, or why its randomness was not what was asked for. */
int pqc_random_finish(void) {
    int status = failed;
    if (status == 0 && preset_active && preset_left != 0) {
        status = PQC_ERR_BAD_SEED;
    }
    preset_active = 0;
    preset_next = NULL;
    preset_left = 0;
    failed = 0;
    return status;
}
