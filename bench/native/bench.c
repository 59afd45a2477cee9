/*
 * Native baseline for `npm run bench`: the pinned PQClean sources compiled with
 * gcc -O3 (bench/native.ts builds this file together with them), each operation
 * timed with clock_gettime(CLOCK_MONOTONIC).
 *
 * KEY is "<alg>.<op>": mlkem512|mlkem768|mlkem1024 . keygen|encaps|decaps,
 * falcon512|falcon1024 . keygen|sign|verify.
 *
 * Batch mode:  bench [--rounds N] [--round-ms MS] [--warmup-ms MS] [--min-ops N] [--only KEY,KEY,...]
 *   prints one JSON object on stdout: each key maps to the ops/s of every round.
 * Serve mode:  bench --serve
 *   reads lines "KEY WARMUP_MS ROUND_MS MIN_OPS" on stdin and answers each with one line: the ops/s of
 *   one round (after a warm-up when WARMUP_MS > 0), or "error ...". bench/native.ts uses this to
 *   interleave native rounds with the JavaScript implementations' rounds, so that all of them see the
 *   same load on a shared machine.
 *
 * Rounds and serve mode are rounds.c's (shared with bench-fp.c). Inputs (one key pair, one ciphertext,
 * one signature of a 256-byte message per algorithm) are made and checked on first use (decapsulation
 * recovers the secret, the signature verifies); timed operations write to separate buffers and never
 * change them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "randombytes.h"
#include "rounds.h"

#include "crypto_kem/ml-kem-512/clean/api.h"
#include "crypto_kem/ml-kem-768/clean/api.h"
#include "crypto_kem/ml-kem-1024/clean/api.h"
#include "crypto_sign/falcon-512/clean/api.h"
#include "crypto_sign/falcon-1024/clean/api.h"

/* PQClean's randomness: the kernel's CSPRNG, one getrandom() per request (looping on short reads). */
int PQCLEAN_randombytes(uint8_t *output, size_t n) {
    while (n > 0) {
        ssize_t got = getrandom(output, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            perror("getrandom");
            exit(2);
        }
        output += got;
        n -= (size_t)got;
    }
    return 0;
}

#define MSG_LEN 256 /* the signed message; bench/core.ts signs the same bytes */
#define MAX_BUF 4096

typedef struct {
    const char *name;
    int (*keypair)(uint8_t *pk, uint8_t *sk);
    int (*enc)(uint8_t *ct, uint8_t *ss, const uint8_t *pk);
    int (*dec)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
    size_t ss_bytes;
    int ready;
    uint8_t pk[MAX_BUF], sk[MAX_BUF], ct[MAX_BUF], ss[64];
} kem_t;

typedef struct {
    const char *name;
    int (*keypair)(uint8_t *pk, uint8_t *sk);
    int (*sign)(uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen, const uint8_t *sk);
    int (*verify)(const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen, const uint8_t *pk);
    int ready;
    size_t siglen;
    uint8_t pk[MAX_BUF], sk[MAX_BUF], sig[MAX_BUF];
} signer_t;

static kem_t kems[] = {
    {"mlkem512", PQCLEAN_MLKEM512_CLEAN_crypto_kem_keypair, PQCLEAN_MLKEM512_CLEAN_crypto_kem_enc,
     PQCLEAN_MLKEM512_CLEAN_crypto_kem_dec, PQCLEAN_MLKEM512_CLEAN_CRYPTO_BYTES, 0, {0}, {0}, {0}, {0}},
    {"mlkem768", PQCLEAN_MLKEM768_CLEAN_crypto_kem_keypair, PQCLEAN_MLKEM768_CLEAN_crypto_kem_enc,
     PQCLEAN_MLKEM768_CLEAN_crypto_kem_dec, PQCLEAN_MLKEM768_CLEAN_CRYPTO_BYTES, 0, {0}, {0}, {0}, {0}},
    {"mlkem1024", PQCLEAN_MLKEM1024_CLEAN_crypto_kem_keypair, PQCLEAN_MLKEM1024_CLEAN_crypto_kem_enc,
     PQCLEAN_MLKEM1024_CLEAN_crypto_kem_dec, PQCLEAN_MLKEM1024_CLEAN_CRYPTO_BYTES, 0, {0}, {0}, {0}, {0}},
};

static signer_t signers[] = {
    {"falcon512", PQCLEAN_FALCON512_CLEAN_crypto_sign_keypair, PQCLEAN_FALCON512_CLEAN_crypto_sign_signature,
     PQCLEAN_FALCON512_CLEAN_crypto_sign_verify, 0, 0, {0}, {0}, {0}},
    {"falcon1024", PQCLEAN_FALCON1024_CLEAN_crypto_sign_keypair, PQCLEAN_FALCON1024_CLEAN_crypto_sign_signature,
     PQCLEAN_FALCON1024_CLEAN_crypto_sign_verify, 0, 0, {0}, {0}, {0}},
};

static uint8_t msg[MSG_LEN];
/* Where timed operations write. */
static uint8_t out_pk[MAX_BUF], out_sk[MAX_BUF], out_ct[MAX_BUF], out_ss[64], out_sig[MAX_BUF];
static volatile uint8_t sink;

enum op_kind { KEM_KEYGEN, KEM_ENCAPS, KEM_DECAPS, SIGN_KEYGEN, SIGN_SIGN, SIGN_VERIFY };
typedef struct {
    enum op_kind kind;
    kem_t *kem;
    signer_t *signer;
} op_t;

static int setup_kem(kem_t *k) {
    if (k->ready) return 0;
    uint8_t ss2[64];
    if (k->keypair(k->pk, k->sk) != 0 || k->enc(k->ct, k->ss, k->pk) != 0 || k->dec(ss2, k->ct, k->sk) != 0 ||
        memcmp(k->ss, ss2, k->ss_bytes) != 0) {
        return -1;
    }
    k->ready = 1;
    return 0;
}

static int setup_signer(signer_t *s) {
    if (s->ready) return 0;
    if (s->keypair(s->pk, s->sk) != 0 || s->sign(s->sig, &s->siglen, msg, MSG_LEN, s->sk) != 0 ||
        s->verify(s->sig, s->siglen, msg, MSG_LEN, s->pk) != 0) {
        return -1;
    }
    s->ready = 1;
    return 0;
}

/* Finds KEY and makes its inputs; 0 on success, -1 for an unknown key, -2 when the self-check failed. */
static int lookup(const char *key, op_t *op) {
    const char *dot = strchr(key, '.');
    if (!dot) return -1;
    size_t alen = (size_t)(dot - key);
    const char *o = dot + 1;
    for (size_t i = 0; i < sizeof kems / sizeof kems[0]; i++) {
        if (strlen(kems[i].name) != alen || strncmp(kems[i].name, key, alen) != 0) continue;
        if (strcmp(o, "keygen") == 0) op->kind = KEM_KEYGEN;
        else if (strcmp(o, "encaps") == 0) op->kind = KEM_ENCAPS;
        else if (strcmp(o, "decaps") == 0) op->kind = KEM_DECAPS;
        else return -1;
        op->kem = &kems[i];
        op->signer = NULL;
        return setup_kem(op->kem) ? -2 : 0;
    }
    for (size_t i = 0; i < sizeof signers / sizeof signers[0]; i++) {
        if (strlen(signers[i].name) != alen || strncmp(signers[i].name, key, alen) != 0) continue;
        if (strcmp(o, "keygen") == 0) op->kind = SIGN_KEYGEN;
        else if (strcmp(o, "sign") == 0) op->kind = SIGN_SIGN;
        else if (strcmp(o, "verify") == 0) op->kind = SIGN_VERIFY;
        else return -1;
        op->kem = NULL;
        op->signer = &signers[i];
        return setup_signer(op->signer) ? -2 : 0;
    }
    return -1;
}

static void run_once(const op_t *op) {
    int rc = 0;
    size_t len = 0;
    switch (op->kind) {
    case KEM_KEYGEN: rc = op->kem->keypair(out_pk, out_sk); sink ^= out_pk[0]; break;
    case KEM_ENCAPS: rc = op->kem->enc(out_ct, out_ss, op->kem->pk); sink ^= out_ss[0]; break;
    case KEM_DECAPS: rc = op->kem->dec(out_ss, op->kem->ct, op->kem->sk); sink ^= out_ss[0]; break;
    case SIGN_KEYGEN: rc = op->signer->keypair(out_pk, out_sk); sink ^= out_pk[0]; break;
    case SIGN_SIGN: rc = op->signer->sign(out_sig, &len, msg, MSG_LEN, op->signer->sk); sink ^= out_sig[0]; break;
    case SIGN_VERIFY: rc = op->signer->verify(op->signer->sig, op->signer->siglen, msg, MSG_LEN, op->signer->pk); break;
    }
    if (rc != 0) {
        fprintf(stderr, "native bench: an operation failed\n");
        exit(3);
    }
}

/* rounds.h's shape of lookup and run: the one timing loop both native drivers share. */
static void run_op(const void *op) {
    run_once((const op_t *)op);
}

static int serve_lookup(const char *key, bench_run_fn *run, const void **op) {
    static op_t current;
    int rc = lookup(key, &current);
    *run = run_op;
    *op = &current;
    return rc;
}

static const char *all_keys[] = {
    "mlkem512.keygen", "mlkem512.encaps", "mlkem512.decaps", "mlkem768.keygen", "mlkem768.encaps",
    "mlkem768.decaps", "mlkem1024.keygen", "mlkem1024.encaps", "mlkem1024.decaps", "falcon512.keygen",
    "falcon512.sign", "falcon512.verify", "falcon1024.keygen", "falcon1024.sign", "falcon1024.verify",
};

static int wanted(const char *only, const char *key) {
    if (!only) return 1;
    size_t n = strlen(key);
    for (const char *p = only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, key, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int rounds = 5, serve_mode = 0;
    double round_ms = 500, warmup_ms = 200;
    long min_ops = 3;
    const char *only = NULL;
    for (size_t i = 0; i < MSG_LEN; i++) msg[i] = (uint8_t)i;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--serve") == 0) {
            serve_mode = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) a = "--help";
        if (strcmp(a, "--rounds") == 0) rounds = atoi(v);
        else if (strcmp(a, "--round-ms") == 0) round_ms = atof(v);
        else if (strcmp(a, "--warmup-ms") == 0) warmup_ms = atof(v);
        else if (strcmp(a, "--min-ops") == 0) min_ops = atol(v);
        else if (strcmp(a, "--only") == 0) only = v;
        else {
            fprintf(stderr, "usage: %s [--serve] [--rounds N] [--round-ms MS] [--warmup-ms MS] [--min-ops N] [--only KEYS]\n", argv[0]);
            return 1;
        }
    }
    if (serve_mode) return bench_serve(serve_lookup);
    if (rounds < 1 || round_ms <= 0 || min_ops < 1) {
        fprintf(stderr, "bad options\n");
        return 1;
    }

    int first = 1;
    printf("{");
    for (size_t k = 0; k < sizeof all_keys / sizeof all_keys[0]; k++) {
        if (!wanted(only, all_keys[k])) continue;
        op_t op;
        if (lookup(all_keys[k], &op) != 0) {
            fprintf(stderr, "native bench: %s: self-check failed\n", all_keys[k]);
            return 3;
        }
        fprintf(stderr, "native: %s\n", all_keys[k]);
        bench_warm_up(run_op, &op, warmup_ms / 1000.0);
        printf("%s\n  \"%s\": [", first ? "" : ",", all_keys[k]);
        first = 0;
        for (int r = 0; r < rounds; r++) printf("%s%.3f", r ? ", " : "", bench_round(run_op, &op, round_ms / 1000.0, min_ops));
        printf("]");
        fflush(stdout);
    }
    printf("\n}\n");
    return 0;
}
