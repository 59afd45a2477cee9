/*
 * pqc-iiot: exactness test of the binary64 Falcon floating-point layer
 * (fpr_f64.h) against the pinned PQClean integer emulation. Native only;
 * built and run by native/falcon_fpr/check.sh, which links four groups:
 *
 *   REF   the pinned falcon-512, falcon-1024, falcon-padded-512 and
 *         falcon-padded-1024 clean builds, compiled as they are (emulated),
 *         with their own symbol prefixes: PQClean's reference behaviour.
 *   EMU_  falcon-512 internals as they are (emulated) + falcon_fast.c:
 *         the expanded-key (sign_tree) path on the emulation.
 *   F64_  falcon-512 internals with fpr_f64.h (fft, sign, keygen through our
 *         wrappers) + the four pinned pqclean.c (1024 and padded mapped onto
 *         falcon-512's internals, as the wasm build does) + falcon_fast.c.
 *   CNT_  F64_ again, with operation counters (-DPQC_FPR_F64_COUNT).
 * EMU_, F64_ and CNT_ are partially linked and their symbols prefixed, so
 * that all four coexist in one program.
 *
 * For every seed and logn in {9, 10} (the randomness comes from a SHAKE-256
 * stream that the test resets before each call, so both builds see the same
 * bytes through PQCLEAN_randombytes), it requires byte-identical:
 *   keys                 REF keypair           vs F64 keypair
 *   dyn signatures       REF sign (PQClean)    vs F64 sign (PQClean's API)
 *   padded dyn           REF padded sign       vs F64 padded sign
 *   expanded keys        EMU expand            vs F64 expand
 *   tree signatures      EMU sign_expanded     vs F64 sign_expanded (plain, padded)
 *   randomness order     F64 sign_expanded(seed = NULL) vs (seed = the same 88 bytes)
 * and that REF verify accepts the F64 signatures. Whether the tree and dyn
 * paths give the same signature for the same randomness is reported, not
 * required. It also compares every fpr operation one by one (millions of
 * operands, edge cases included), counts the operations of one signature per
 * path, and times signing (informational).
 *
 * This file itself is compiled with fpr_f64.h and -I .../falcon-1024/clean,
 * so that it sees both our operations (fpr_add, ...) and the pinned emulated
 * ones (PQCLEAN_FALCON1024_CLEAN_fpr_add, ..., pqc_emu_fpr_rint, ...), the
 * latter linked from the REF group.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpr_f64.h"
#include "fips202.h"
#include "randombytes.h"
#include "crypto_sign/falcon-512/clean/api.h"
#include "crypto_sign/falcon-1024/clean/api.h"
#include "crypto_sign/falcon-padded-512/clean/api.h"
#include "crypto_sign/falcon-padded-1024/clean/api.h"
#include "falcon_fast.h"

/* ------------------------------------------------------------------ */
/* Symbols of the prefixed groups.                                     */

#define DECL_PQCLEAN(G, NS)                                                              \
    int G##NS##_crypto_sign_keypair(uint8_t *pk, uint8_t *sk);                         \
    int G##NS##_crypto_sign_signature(uint8_t *sig, size_t *siglen, const uint8_t *m, \
                                      size_t mlen, const uint8_t *sk);                 \
    int G##NS##_crypto_sign_verify(const uint8_t *sig, size_t siglen, const uint8_t *m, \
                                   size_t mlen, const uint8_t *pk);
#define DECL_FAST(G)                                                                       \
    int G##pqc_falcon_expand(int logn, uint8_t *expanded, const uint8_t *sk, size_t sklen); \
    int G##pqc_falcon_sign_expanded(int logn, int padded, uint8_t *sig, size_t *siglen,    \
                                    const uint8_t *m, size_t mlen, const uint8_t *expanded, \
                                    const uint8_t *seed);                                     \
    size_t G##pqc_falcon_expanded_bytes(int logn);

DECL_PQCLEAN(F64_, PQCLEAN_FALCON512_CLEAN)
DECL_PQCLEAN(F64_, PQCLEAN_FALCON1024_CLEAN)
DECL_PQCLEAN(F64_, PQCLEAN_FALCONPADDED512_CLEAN)
DECL_PQCLEAN(F64_, PQCLEAN_FALCONPADDED1024_CLEAN)
DECL_PQCLEAN(CNT_, PQCLEAN_FALCON512_CLEAN)
DECL_PQCLEAN(CNT_, PQCLEAN_FALCON1024_CLEAN)
DECL_FAST(EMU_)
DECL_FAST(F64_)
DECL_FAST(CNT_)
extern unsigned long CNT_pqc_fpr_count[PQC_FPR_OP_COUNT];
extern unsigned CNT_pqc_fpr_exp_min, CNT_pqc_fpr_exp_max;
extern unsigned long CNT_pqc_fpr_subnormals;
uint64_t F64_PQCLEAN_FALCON512_CLEAN_fpr_expm_p63(fpr x, fpr ccs);

typedef int (*keypair_fn)(uint8_t *, uint8_t *);
typedef int (*sign_fn)(uint8_t *, size_t *, const uint8_t *, size_t, const uint8_t *);
typedef int (*verify_fn)(const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *);
typedef int (*expand_fn)(int, uint8_t *, const uint8_t *, size_t);
typedef int (*sign_exp_fn)(int, int, uint8_t *, size_t *, const uint8_t *, size_t, const uint8_t *,
                           const uint8_t *);

typedef struct {
    int logn;
    size_t pk_bytes, sk_bytes, sig_bytes, psig_bytes;
    keypair_fn ref_keypair, f64_keypair;
    sign_fn ref_sign, f64_sign, ref_psign, f64_psign;
    verify_fn ref_verify, ref_pverify;
} variant;

static const variant variants[2] = {
    {9, PQCLEAN_FALCON512_CLEAN_CRYPTO_PUBLICKEYBYTES, PQCLEAN_FALCON512_CLEAN_CRYPTO_SECRETKEYBYTES,
     PQCLEAN_FALCON512_CLEAN_CRYPTO_BYTES, PQCLEAN_FALCONPADDED512_CLEAN_CRYPTO_BYTES,
     PQCLEAN_FALCON512_CLEAN_crypto_sign_keypair, F64_PQCLEAN_FALCON512_CLEAN_crypto_sign_keypair,
     PQCLEAN_FALCON512_CLEAN_crypto_sign_signature, F64_PQCLEAN_FALCON512_CLEAN_crypto_sign_signature,
     PQCLEAN_FALCONPADDED512_CLEAN_crypto_sign_signature,
     F64_PQCLEAN_FALCONPADDED512_CLEAN_crypto_sign_signature,
     PQCLEAN_FALCON512_CLEAN_crypto_sign_verify, PQCLEAN_FALCONPADDED512_CLEAN_crypto_sign_verify},
    {10, PQCLEAN_FALCON1024_CLEAN_CRYPTO_PUBLICKEYBYTES, PQCLEAN_FALCON1024_CLEAN_CRYPTO_SECRETKEYBYTES,
     PQCLEAN_FALCON1024_CLEAN_CRYPTO_BYTES, PQCLEAN_FALCONPADDED1024_CLEAN_CRYPTO_BYTES,
     PQCLEAN_FALCON1024_CLEAN_crypto_sign_keypair, F64_PQCLEAN_FALCON1024_CLEAN_crypto_sign_keypair,
     PQCLEAN_FALCON1024_CLEAN_crypto_sign_signature, F64_PQCLEAN_FALCON1024_CLEAN_crypto_sign_signature,
     PQCLEAN_FALCONPADDED1024_CLEAN_crypto_sign_signature,
     F64_PQCLEAN_FALCONPADDED1024_CLEAN_crypto_sign_signature,
     PQCLEAN_FALCON1024_CLEAN_crypto_sign_verify, PQCLEAN_FALCONPADDED1024_CLEAN_crypto_sign_verify},
};

/* ------------------------------------------------------------------ */
/* Deterministic randomness: a SHAKE-256 stream, reset before each call. */

static shake256incctx rng_ctx;
static int rng_live = 0;
static unsigned long rng_drawn = 0;

static void
rng_reset(const char *label, uint64_t a, uint64_t b) {
    uint8_t in[64];
    size_t len;

    if (rng_live) {
        shake256_inc_ctx_release(&rng_ctx);
    }
    len = (size_t)snprintf((char *)in, sizeof in, "pqc-iiot falcon exactness/%s/%" PRIu64 "/%" PRIu64,
                           label, a, b);
    shake256_inc_init(&rng_ctx);
    shake256_inc_absorb(&rng_ctx, in, len);
    shake256_inc_finalize(&rng_ctx);
    rng_live = 1;
    rng_drawn = 0;
}

int
PQCLEAN_randombytes(uint8_t *output, size_t n) {
    if (!rng_live) {
        fprintf(stderr, "randombytes called without a seed\n");
        exit(2);
    }
    shake256_inc_squeeze(output, n, &rng_ctx);
    rng_drawn += n;
    return 0;
}

static uint64_t
rng_u64(void) {
    uint8_t b[8];
    uint64_t x = 0;

    PQCLEAN_randombytes(b, 8);
    for (int i = 0; i < 8; i++) {
        x |= (uint64_t)b[i] << (8 * i);
    }
    return x;
}

/* ------------------------------------------------------------------ */
/* 1. Operation by operation.                                           */

static unsigned long op_tests = 0, op_fail = 0;

static void
op_check(const char *name, uint64_t x, uint64_t y, uint64_t emu, uint64_t f64) {
    op_tests++;
    if (emu != f64) {
        if (op_fail < 20) {
            fprintf(stderr, "op %s(%016" PRIx64 ", %016" PRIx64 "): emulated %016" PRIx64
                    ", f64 %016" PRIx64 "\n", name, x, y, emu, f64);
        }
        op_fail++;
    }
}

/* A random double with |exponent| <= span around 2^0, random sign and mantissa. */
static fpr
rnd_fpr(int span) {
    uint64_t r = rng_u64();
    int e = 1023 + (int)(r % (uint64_t)(2 * span + 1)) - span;
    return (rng_u64() & (((uint64_t)1 << 52) - 1)) | ((uint64_t)e << 52) | (r & ((uint64_t)1 << 63));
}

static fpr
set_exp(fpr x, int e) {
    return (x & ~((uint64_t)0x7FF << 52)) | ((uint64_t)e << 52);
}

static const double special[] = {
    0.0, 1.0, 0.5, 1.5, 2.5, 3.5, 0.49999999999999994, 0.5000000000000001, 2.0, 3.0, 1e-300,
    1e300, 4503599627370495.5, 4503599627370496.0, 4503599627370497.0, 9007199254740991.0,
    9007199254740992.0, 2251799813685247.5, 12289.0, 6144.5, 4611686018427387904.0,
    9223372036854774784.0, 2147483647.0, 2147483648.0, 0.7071067811865476, 1.0 / 12289.0,
};

static void
test_ops(unsigned long count) {
    size_t ns = sizeof special / sizeof special[0];
    fpr sp[2 * sizeof special / sizeof special[0]];

    rng_reset("ops", 0, 0);
    for (size_t i = 0; i < ns; i++) {
        sp[2 * i] = pqc_fpr_put(special[i]);
        sp[2 * i + 1] = pqc_fpr_put(-special[i]);
    }
    ns *= 2;

    /* Special values, all pairs. */
    for (size_t i = 0; i < ns; i++) {
        fpr x = sp[i];
        double dx = pqc_fpr_get(x);
        for (size_t j = 0; j < ns; j++) {
            fpr y = sp[j];
            double dy = pqc_fpr_get(y);
            double ax = dx < 0 ? -dx : dx, ay = dy < 0 ? -dy : dy;
            /* stay inside the emulation's domain: normal (or zero) results */
            if (ax * ay < 1e300 && (ax == 0 || ay == 0 || ax * ay > 1e-300)) {
                op_check("mul", x, y, PQCLEAN_FALCON1024_CLEAN_fpr_mul(x, y), fpr_mul(x, y));
            }
            if (ay != 0 && ax / ay < 1e300 && (ax == 0 || ax / ay > 1e-300)) {
                op_check("div", x, y, PQCLEAN_FALCON1024_CLEAN_fpr_div(x, y), fpr_div(x, y));
            }
            op_check("add", x, y, PQCLEAN_FALCON1024_CLEAN_fpr_add(x, y), fpr_add(x, y));
            op_check("sub", x, y, pqc_emu_fpr_sub(x, y), fpr_sub(x, y));
            op_check("lt", x, y, (uint64_t)pqc_emu_fpr_lt(x, y), (uint64_t)fpr_lt(x, y));
        }
        op_check("sqrt", x, 0, PQCLEAN_FALCON1024_CLEAN_fpr_sqrt(x), fpr_sqrt(x));
        op_check("half", x, 0, pqc_emu_fpr_half(x), fpr_half(x));
        op_check("double", x, 0, pqc_emu_fpr_double(x), fpr_double(x));
        op_check("neg", x, 0, pqc_emu_fpr_neg(x), fpr_neg(x));
        if ((dx < 0 ? -dx : dx) < 1e150 && (dx == 0 || (dx < 0 ? -dx : dx) > 1e-150)) {
            op_check("sqr", x, 0, pqc_emu_fpr_sqr(x), fpr_sqr(x));
        }
        if (dx != 0 && (dx < 0 ? -dx : dx) < 1e300 && (dx < 0 ? -dx : dx) > 1e-300) {
            op_check("inv", x, 0, pqc_emu_fpr_inv(x), fpr_inv(x));
        }
        if ((dx < 0 ? -dx : dx) < 9223372036854775808.0) {
            op_check("rint", x, 0, (uint64_t)pqc_emu_fpr_rint(x), (uint64_t)fpr_rint(x));
            op_check("floor", x, 0, (uint64_t)pqc_emu_fpr_floor(x), (uint64_t)fpr_floor(x));
            op_check("trunc", x, 0, (uint64_t)pqc_emu_fpr_trunc(x), (uint64_t)fpr_trunc(x));
        }
    }

    for (unsigned long k = 0; k < count; k++) {
        fpr x = rnd_fpr(200), y;
        uint64_t r = rng_u64();
        int64_t i;

        /* y: same binade neighbourhood half of the time (cancellation, ties). */
        y = rnd_fpr(200);
        if (r & 1) {
            int ex = (int)((x >> 52) & 0x7FF) - (int)((r >> 8) % 64);
            y = set_exp(y, ex);
        }
        if (r & 2) {
            y = (y & ~(((uint64_t)1 << 52) - 1)) | (x & ((((uint64_t)1 << 52) - 1) ^ (r >> 40)));
        }
        op_check("add", x, y, PQCLEAN_FALCON1024_CLEAN_fpr_add(x, y), fpr_add(x, y));
        op_check("sub", x, y, pqc_emu_fpr_sub(x, y), fpr_sub(x, y));
        op_check("add(x,-x)", x, 0, PQCLEAN_FALCON1024_CLEAN_fpr_add(x, x ^ PQC_FPR_MINUS_ZERO),
                 fpr_add(x, x ^ PQC_FPR_MINUS_ZERO));
        op_check("mul", x, y, PQCLEAN_FALCON1024_CLEAN_fpr_mul(x, y), fpr_mul(x, y));
        op_check("sqr", x, 0, pqc_emu_fpr_sqr(x), fpr_sqr(x));
        op_check("div", x, y, PQCLEAN_FALCON1024_CLEAN_fpr_div(x, y), fpr_div(x, y));
        op_check("inv", x, 0, pqc_emu_fpr_inv(x), fpr_inv(x));
        op_check("sqrt", x, 0, PQCLEAN_FALCON1024_CLEAN_fpr_sqrt(x), fpr_sqrt(x));
        op_check("half", x, 0, pqc_emu_fpr_half(x), fpr_half(x));
        op_check("double", x, 0, pqc_emu_fpr_double(x), fpr_double(x));
        op_check("neg", x, 0, pqc_emu_fpr_neg(x), fpr_neg(x));
        op_check("lt", x, y, (uint64_t)pqc_emu_fpr_lt(x, y), (uint64_t)fpr_lt(x, y));
        op_check("lt(x,x)", x, x, (uint64_t)pqc_emu_fpr_lt(x, x), (uint64_t)fpr_lt(x, x));

        /* Conversions to integers: |x| < 2^63; many near integers and halves. */
        x = rnd_fpr(62);
        if ((x >> 52 & 0x7FF) > 1023 + 62) {
            x = set_exp(x, 1023 + 62);
        }
        op_check("rint", x, 0, (uint64_t)pqc_emu_fpr_rint(x), (uint64_t)fpr_rint(x));
        op_check("floor", x, 0, (uint64_t)pqc_emu_fpr_floor(x), (uint64_t)fpr_floor(x));
        op_check("trunc", x, 0, (uint64_t)pqc_emu_fpr_trunc(x), (uint64_t)fpr_trunc(x));
        {
            /* k + 0.5 and k exactly, k up to 2^53 */
            int64_t kk = (int64_t)(r >> (11 + (r & 63) % 53)) * ((r & 4) ? -1 : 1);
            fpr h = pqc_fpr_put((double)kk + ((r & 8) ? 0.5 : 0.0));
            op_check("rint(k/2)", h, 0, (uint64_t)pqc_emu_fpr_rint(h), (uint64_t)fpr_rint(h));
            op_check("floor(k/2)", h, 0, (uint64_t)pqc_emu_fpr_floor(h), (uint64_t)fpr_floor(h));
            op_check("trunc(k/2)", h, 0, (uint64_t)pqc_emu_fpr_trunc(h), (uint64_t)fpr_trunc(h));
        }

        /* int64 -> double, |i| < 2^63, all magnitudes. */
        i = (int64_t)(rng_u64() >> (1 + (r >> 16) % 63));
        if (r & 16) {
            i = -i;
        }
        op_check("of", (uint64_t)i, 0, pqc_emu_fpr_of(i), fpr_of(i));

        {
            /* the sampler calls expm_p63 with 0 <= x < log(2) (give or take a rounding) and 0 < ccs <= 1 */
            double dx = (double)(rng_u64() >> 11) / 9007199254740992.0 * 0.6931471805599453;
            fpr ex = pqc_fpr_put((r & 32) ? dx : dx * 1e-9 - 1e-10);
            fpr cc = pqc_fpr_put((double)(rng_u64() >> 11) / 9007199254740992.0 + 1e-17);
            op_check("expm_p63", ex, cc, PQCLEAN_FALCON1024_CLEAN_fpr_expm_p63(ex, cc),
                     F64_PQCLEAN_FALCON512_CLEAN_fpr_expm_p63(ex, cc));
        }
    }
}

/* ------------------------------------------------------------------ */
/* 2. Keys and signatures.                                              */

#define MAX_PK 1793
#define MAX_SK 2305
#define MAX_SIG 1462
#define MAX_EXP 122880

static uint64_t ek_emu[MAX_EXP / 8], ek_f64[MAX_EXP / 8];

typedef struct {
    unsigned long cases, passed, failed, tree_eq_dyn, tree_ne_dyn;
} tally;

static int
same(const char *what, int logn, unsigned long seed, const uint8_t *a, size_t alen, const uint8_t *b,
     size_t blen) {
    if (alen != blen || memcmp(a, b, alen) != 0) {
        fprintf(stderr, "MISMATCH %s logn=%d seed=%lu (len %zu vs %zu)\n", what, logn, seed, alen, blen);
        return 0;
    }
    return 1;
}

static int
run_case(const variant *v, unsigned long seed, tally *t) {
    uint8_t pk_r[MAX_PK], sk_r[MAX_SK], pk_f[MAX_PK], sk_f[MAX_SK];
    uint8_t s_r[MAX_SIG], s_f[MAX_SIG], s_te[MAX_SIG], s_tf[MAX_SIG], s_tn[MAX_SIG];
    uint8_t m[128], sseed[PQC_FALCON_SIGN_SEED_BYTES];
    size_t l_r, l_f, l_te, l_tf, l_tn, mlen;
    size_t eb = F64_pqc_falcon_expanded_bytes(v->logn);
    int ok = 1, logn = v->logn;

    /* keys */
    rng_reset("keygen", seed, (uint64_t)logn);
    if (v->ref_keypair(pk_r, sk_r) != 0) {
        fprintf(stderr, "REF keypair failed\n");
        return 0;
    }
    rng_reset("keygen", seed, (uint64_t)logn);
    if (v->f64_keypair(pk_f, sk_f) != 0) {
        fprintf(stderr, "F64 keypair failed\n");
        return 0;
    }
    ok &= same("public key", logn, seed, pk_r, v->pk_bytes, pk_f, v->pk_bytes);
    ok &= same("secret key", logn, seed, sk_r, v->sk_bytes, sk_f, v->sk_bytes);

    rng_reset("message", seed, (uint64_t)logn);
    mlen = (size_t)(seed % sizeof m);
    PQCLEAN_randombytes(m, mlen);

    /* dyn path through PQClean's own API: emulated (REF) vs f64 */
    rng_reset("sign", seed, (uint64_t)logn);
    if (v->ref_sign(s_r, &l_r, m, mlen, sk_r) != 0) {
        fprintf(stderr, "REF sign failed\n");
        return 0;
    }
    rng_reset("sign", seed, (uint64_t)logn);
    if (v->f64_sign(s_f, &l_f, m, mlen, sk_r) != 0) {
        fprintf(stderr, "F64 sign failed\n");
        return 0;
    }
    ok &= same("dyn signature", logn, seed, s_r, l_r, s_f, l_f);
    ok &= v->ref_verify(s_f, l_f, m, mlen, pk_r) == 0;

    /* the same randomness for the tree path */
    rng_reset("sign", seed, (uint64_t)logn);
    PQCLEAN_randombytes(sseed, sizeof sseed);

    /* expanded keys, emulated vs f64 (expansion does the divisions and square roots) */
    if (EMU_pqc_falcon_expand(logn, (uint8_t *)ek_emu, sk_r, v->sk_bytes) != 0
            || F64_pqc_falcon_expand(logn, (uint8_t *)ek_f64, sk_r, v->sk_bytes) != 0) {
        fprintf(stderr, "expand failed\n");
        return 0;
    }
    ok &= same("expanded key", logn, seed, (uint8_t *)ek_emu, eb, (uint8_t *)ek_f64, eb);

    /* tree path: emulated vs f64 */
    if (EMU_pqc_falcon_sign_expanded(logn, 0, s_te, &l_te, m, mlen, (uint8_t *)ek_emu, sseed) != 0
            || F64_pqc_falcon_sign_expanded(logn, 0, s_tf, &l_tf, m, mlen, (uint8_t *)ek_f64, sseed) != 0) {
        fprintf(stderr, "tree sign failed\n");
        return 0;
    }
    ok &= same("tree signature", logn, seed, s_te, l_te, s_tf, l_tf);
    ok &= v->ref_verify(s_tf, l_tf, m, mlen, pk_r) == 0;

    /* seed == NULL draws nonce then sampler seed from randombytes, as PQClean */
    rng_reset("sign", seed, (uint64_t)logn);
    if (F64_pqc_falcon_sign_expanded(logn, 0, s_tn, &l_tn, m, mlen, (uint8_t *)ek_f64, NULL) != 0) {
        fprintf(stderr, "tree sign (randombytes) failed\n");
        return 0;
    }
    ok &= same("tree signature, seed NULL", logn, seed, s_tf, l_tf, s_tn, l_tn);
    ok &= rng_drawn == PQC_FALCON_SIGN_SEED_BYTES;

    if (l_te == l_r && memcmp(s_te, s_r, l_r) == 0) {
        t->tree_eq_dyn++;
    } else {
        t->tree_ne_dyn++;
    }

    /* padded: dyn through PQClean's API, emulated vs f64; tree, emulated vs f64 */
    rng_reset("sign", seed, (uint64_t)logn);
    if (v->ref_psign(s_r, &l_r, m, mlen, sk_r) != 0) {
        fprintf(stderr, "REF padded sign failed\n");
        return 0;
    }
    rng_reset("sign", seed, (uint64_t)logn);
    if (v->f64_psign(s_f, &l_f, m, mlen, sk_r) != 0) {
        fprintf(stderr, "F64 padded sign failed\n");
        return 0;
    }
    ok &= same("padded dyn signature", logn, seed, s_r, l_r, s_f, l_f);
    if (EMU_pqc_falcon_sign_expanded(logn, 1, s_te, &l_te, m, mlen, (uint8_t *)ek_emu, sseed) != 0
            || F64_pqc_falcon_sign_expanded(logn, 1, s_tf, &l_tf, m, mlen, (uint8_t *)ek_f64, sseed) != 0) {
        fprintf(stderr, "padded tree sign failed\n");
        return 0;
    }
    ok &= same("padded tree signature", logn, seed, s_te, l_te, s_tf, l_tf);
    ok &= l_tf == v->psig_bytes;
    ok &= v->ref_pverify(s_tf, l_tf, m, mlen, pk_r) == 0;
    return ok;
}

/* ------------------------------------------------------------------ */
/* 3. Operation counts and speed (informational).                       */

static const char *op_names[PQC_FPR_OP_COUNT] = {
    "of", "rint", "floor", "trunc", "add", "sub", "neg", "half",
    "double", "mul", "sqr", "div", "inv", "sqrt", "lt"
};

static void
print_counts(const char *what) {
    printf("  %-28s", what);
    for (int i = 0; i < PQC_FPR_OP_COUNT; i++) {
        if (CNT_pqc_fpr_count[i] != 0) {
            printf(" %s=%lu", op_names[i], CNT_pqc_fpr_count[i]);
        }
    }
    printf("\n");
    memset(CNT_pqc_fpr_count, 0, sizeof CNT_pqc_fpr_count);
}

/*
 * Counts the operations of one expansion and one signature per path (the
 * expm_p63 calls are the number of BerExp trials: a third of the truncs), and
 * the range of magnitudes of all nonzero results over keygen, expansion and
 * both signing paths for a few seeds of each logn.
 */
static void
op_counts(void) {
    uint8_t pk[MAX_PK], sk[MAX_SK], sig[MAX_SIG], sseed[PQC_FALCON_SIGN_SEED_BYTES];
    uint8_t m[32] = {0};
    size_t l;

    for (int vi = 0; vi < 2; vi++) {
        int logn = variants[vi].logn;
        keypair_fn kp = logn == 9 ? CNT_PQCLEAN_FALCON512_CLEAN_crypto_sign_keypair
                                  : CNT_PQCLEAN_FALCON1024_CLEAN_crypto_sign_keypair;
        sign_fn sg = logn == 9 ? CNT_PQCLEAN_FALCON512_CLEAN_crypto_sign_signature
                               : CNT_PQCLEAN_FALCON1024_CLEAN_crypto_sign_signature;

        printf("fpr operations, Falcon-%d (f64 build, one key, one signature each):\n", 1 << logn);
        rng_reset("count", 0, (uint64_t)logn);
        kp(pk, sk);
        print_counts("keygen:");
        PQCLEAN_randombytes(sseed, sizeof sseed);
        CNT_pqc_falcon_expand(logn, (uint8_t *)ek_f64, sk, variants[vi].sk_bytes);
        print_counts("expand (once per key):");
        CNT_pqc_falcon_sign_expanded(logn, 0, sig, &l, m, sizeof m, (uint8_t *)ek_f64, sseed);
        print_counts("sign tree (per signature):");
        rng_reset("count", 1, (uint64_t)logn);
        sg(sig, &l, m, sizeof m, sk);
        print_counts("sign dyn (per signature):");
    }

    {
        static const char *phase[4] = {"keygen", "expand", "sign tree", "sign dyn"};
        unsigned lo[4] = {0x7FF, 0x7FF, 0x7FF, 0x7FF}, hi[4] = {0};
        unsigned long sub = 0;

        for (uint64_t seed = 0; seed < 20; seed++) {
            for (int vi = 0; vi < 2; vi++) {
                int logn = variants[vi].logn;
                for (int ph = 0; ph < 4; ph++) {
                    CNT_pqc_fpr_exp_min = 0x7FF;
                    CNT_pqc_fpr_exp_max = 0;
                    switch (ph) {
                    case 0:
                        rng_reset("range", seed, (uint64_t)logn);
                        (logn == 9 ? CNT_PQCLEAN_FALCON512_CLEAN_crypto_sign_keypair
                                   : CNT_PQCLEAN_FALCON1024_CLEAN_crypto_sign_keypair)(pk, sk);
                        PQCLEAN_randombytes(sseed, sizeof sseed);
                        break;
                    case 1:
                        CNT_pqc_falcon_expand(logn, (uint8_t *)ek_f64, sk, variants[vi].sk_bytes);
                        break;
                    case 2:
                        CNT_pqc_falcon_sign_expanded(logn, 0, sig, &l, m, sizeof m, (uint8_t *)ek_f64, sseed);
                        break;
                    default:
                        (logn == 9 ? CNT_PQCLEAN_FALCON512_CLEAN_crypto_sign_signature
                                   : CNT_PQCLEAN_FALCON1024_CLEAN_crypto_sign_signature)(sig, &l, m, sizeof m, sk);
                    }
                    lo[ph] = CNT_pqc_fpr_exp_min < lo[ph] ? CNT_pqc_fpr_exp_min : lo[ph];
                    hi[ph] = CNT_pqc_fpr_exp_max > hi[ph] ? CNT_pqc_fpr_exp_max : hi[ph];
                }
            }
        }
        sub = CNT_pqc_fpr_subnormals;
        memset(CNT_pqc_fpr_count, 0, sizeof CNT_pqc_fpr_count);
        printf("magnitudes of nonzero fpr results (20 seeds x logn 9, 10):");
        for (int ph = 0; ph < 4; ph++) {
            printf(" %s 2^%d..2^%d%s", phase[ph], (int)lo[ph] - 1023, (int)hi[ph] - 1022, ph < 3 ? ";" : "");
        }
        printf("; subnormal results: %lu\n", sub);
    }
}

static double
now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void
speed(void) {
    for (int vi = 0; vi < 2; vi++) {
        const variant *v = &variants[vi];
        uint8_t pk[MAX_PK], sk[MAX_SK], sig[MAX_SIG], m[32] = {1};
        size_t l;
        double t0, r_dyn_ref, r_dyn_f64, r_tree_emu, r_tree_f64, r_exp_f64, r_kg_ref, r_kg_f64;
        int k, iters = v->logn == 9 ? 400 : 200;

        rng_reset("speed", 0, (uint64_t)v->logn);
        t0 = now();
        for (k = 0; k < 10; k++) v->ref_keypair(pk, sk);
        r_kg_ref = 10 / (now() - t0);
        t0 = now();
        for (k = 0; k < 10; k++) v->f64_keypair(pk, sk);
        r_kg_f64 = 10 / (now() - t0);
        t0 = now();
        for (k = 0; k < iters / 4; k++) v->ref_sign(sig, &l, m, sizeof m, sk);
        r_dyn_ref = (iters / 4) / (now() - t0);
        t0 = now();
        for (k = 0; k < iters; k++) v->f64_sign(sig, &l, m, sizeof m, sk);
        r_dyn_f64 = iters / (now() - t0);
        EMU_pqc_falcon_expand(v->logn, (uint8_t *)ek_emu, sk, v->sk_bytes);
        t0 = now();
        for (k = 0; k < iters; k++) F64_pqc_falcon_expand(v->logn, (uint8_t *)ek_f64, sk, v->sk_bytes);
        r_exp_f64 = iters / (now() - t0);
        t0 = now();
        for (k = 0; k < iters / 4; k++)
            EMU_pqc_falcon_sign_expanded(v->logn, 0, sig, &l, m, sizeof m, (uint8_t *)ek_emu, NULL);
        r_tree_emu = (iters / 4) / (now() - t0);
        t0 = now();
        for (k = 0; k < iters * 2; k++)
            F64_pqc_falcon_sign_expanded(v->logn, 0, sig, &l, m, sizeof m, (uint8_t *)ek_f64, NULL);
        r_tree_f64 = iters * 2 / (now() - t0);
        printf("native speed Falcon-%d (ops/s): sign dyn emulated %.0f, dyn f64 %.0f (x%.1f), "
               "tree emulated %.0f, tree f64 %.0f (x%.1f vs dyn emulated); expand f64 %.0f; "
               "keygen emulated %.1f, f64 %.1f\n",
               1 << v->logn, r_dyn_ref, r_dyn_f64, r_dyn_f64 / r_dyn_ref, r_tree_emu, r_tree_f64,
               r_tree_f64 / r_dyn_ref, r_exp_f64, r_kg_ref, r_kg_f64);
    }
}

int
main(int argc, char **argv) {
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    int do_speed = !(argc > 2 && strcmp(argv[2], "nospeed") == 0);
    tally t = {0};

    test_ops(n * 500 > 1000000 ? n * 500 : 1000000);
    printf("fpr operations: %lu compared, %lu differ\n", op_tests, op_fail);

    for (unsigned long s = 0; s < n; s++) {
        for (int vi = 0; vi < 2; vi++) {
            t.cases++;
            if (run_case(&variants[vi], s, &t)) {
                t.passed++;
            } else {
                t.failed++;
            }
        }
    }
    printf("tree vs dyn signature for the same randomness: %lu identical, %lu different\n",
           t.tree_eq_dyn, t.tree_ne_dyn);
    op_counts();
    if (do_speed) {
        speed();
    }
    printf("falcon f64 exactness: %lu passed, %lu failed%s\n", t.passed, t.failed,
           op_fail ? " (fpr operations differ)" : "");
    return (t.failed == 0 && op_fail == 0) ? 0 : 1;
}
