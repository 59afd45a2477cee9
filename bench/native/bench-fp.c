/*
 * "nativeFp" for `npm run bench`: our own Falcon floating-point layer (native/falcon_fpr, C doubles
 * instead of PQClean's integer emulation) over the pinned falcon-512 internals, the same units the wasm
 * fast build compiles (wasm/targets.mjs: variants.fast, falconFastSources), compiled natively by
 * gcc -O3 (bench/native-fp.ts). It answers what the same code reaches on this CPU without wasm: the
 * physical limit for ours, which signs and verifies the same way.
 *
 * KEY is falcon512.sign | falcon512.verify, through native/src/pqc_sign.c as the bindings call it:
 *   sign    pqc_sign_expanded with a key expanded once by pqc_sign_expand (as ExpandedSigningKey.sign);
 *           its 40 + 48 random bytes come from the bridge, hence from getrandom() below
 *   verify  pqc_verify_prepared with a key prepared once by pqc_verify_prepare (as Verifier.verify)
 * Serve mode only (bench-fp --serve): rounds.h's protocol, the same loop as bench.c's.
 *
 * Inputs (one key pair from pqc_sign_keypair, one signature of the 256-byte message bench/core.ts
 * signs) are made and checked on first use: the signature verifies on both paths, and a copy with a
 * flipped bit is rejected, so a verification that accepted anything could not be timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "falcon_fast.h"
#include "pqc.h"
#include "rounds.h"

#define LOGN 9
#define PK_BYTES 897
#define SK_BYTES 1281
#define SIG_BYTES 752
#define EXPANDED_BYTES 57344 /* checked against pqc_falcon_expanded_bytes() at setup */
#define PREPARED_BYTES 1024  /* checked against pqc_falcon_prepared_bytes() at setup */
#define MSG_LEN 256

/*
 * native/src/pqc_random.c imports its randomness from the wasm host (pqc.random_fill, one call per
 * request); natively nothing provides that import, so the driver defines it: the kernel's CSPRNG,
 * looping on short reads. Non-zero on failure, as the bridge expects.
 */
int pqc_host_random_fill(uint8_t *buf, size_t len) {
    while (len > 0) {
        ssize_t got = getrandom(buf, len, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += got;
        len -= (size_t)got;
    }
    return 0;
}

static uint8_t msg[MSG_LEN], pk[PK_BYTES], sk[SK_BYTES], sig[SIG_BYTES], out_sig[SIG_BYTES];
static size_t siglen;
/* The expanded key is an array of doubles (8-byte alignment); the prepared key holds uint16_t. */
static double expanded[EXPANDED_BYTES / sizeof(double)];
static uint16_t prepared[PREPARED_BYTES / sizeof(uint16_t)];
static int ready;
static volatile uint8_t sink;

enum op_kind { FP_SIGN, FP_VERIFY };
static const enum op_kind sign_op = FP_SIGN, verify_op = FP_VERIFY;

static int setup(void) {
    if (ready) return 0;
    uint8_t bad[SIG_BYTES];
    for (size_t i = 0; i < MSG_LEN; i++) msg[i] = (uint8_t)i;
    if (pqc_falcon_expanded_bytes(LOGN) != sizeof expanded || pqc_falcon_prepared_bytes(LOGN) != sizeof prepared) {
        fprintf(stderr, "bench-fp: expanded or prepared key size differs from falcon_fast.h's\n");
        return -1;
    }
    if (pqc_sign_keypair(PQC_FALCON512, pk, sk) != PQC_OK || pqc_sign_expand(PQC_FALCON512, (uint8_t *)expanded, sk) != PQC_OK ||
        pqc_sign_expanded(PQC_FALCON512, sig, &siglen, msg, MSG_LEN, (const uint8_t *)expanded, NULL) != PQC_OK ||
        pqc_verify_prepare(PQC_FALCON512, (uint8_t *)prepared, pk) != PQC_OK) {
        return -1;
    }
    memcpy(bad, sig, siglen);
    bad[siglen / 2] ^= 0x10;
    if (pqc_verify(PQC_FALCON512, sig, siglen, msg, MSG_LEN, pk) != PQC_OK ||
        pqc_verify_prepared(PQC_FALCON512, sig, siglen, msg, MSG_LEN, (const uint8_t *)prepared) != PQC_OK ||
        pqc_verify_prepared(PQC_FALCON512, bad, siglen, msg, MSG_LEN, (const uint8_t *)prepared) == PQC_OK) {
        return -1;
    }
    ready = 1;
    return 0;
}

static void run_op(const void *op) {
    int rc;
    size_t len = 0;
    if (*(const enum op_kind *)op == FP_SIGN) {
        rc = pqc_sign_expanded(PQC_FALCON512, out_sig, &len, msg, MSG_LEN, (const uint8_t *)expanded, NULL);
        sink ^= out_sig[0];
    } else {
        rc = pqc_verify_prepared(PQC_FALCON512, sig, siglen, msg, MSG_LEN, (const uint8_t *)prepared);
    }
    if (rc != PQC_OK) {
        fprintf(stderr, "bench-fp: an operation failed (%d)\n", rc);
        exit(3);
    }
}

static int lookup(const char *key, bench_run_fn *run, const void **op) {
    if (strcmp(key, "falcon512.sign") == 0) *op = &sign_op;
    else if (strcmp(key, "falcon512.verify") == 0) *op = &verify_op;
    else return -1;
    *run = run_op;
    return setup() ? -2 : 0;
}

int main(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[1], "--serve") != 0) {
        fprintf(stderr, "usage: %s --serve\n", argv[0]);
        return 1;
    }
    return bench_serve(lookup);
}
