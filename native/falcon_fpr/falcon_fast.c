/*
 * pqc-iiot: fast Falcon signing (expanded key + PQClean's sign_tree) over the
 * pinned PQClean falcon-512 internals, for logn 9 and 10. See falcon_fast.h.
 *
 * This file does no floating-point arithmetic itself: it calls the internals,
 * so it compiles the same whether they are built with the pinned integer
 * emulation or with our binary64 layer (fpr_f64.h). The flow mirrors PQClean's
 * pqclean.c (do_sign): decode the key, complete it with G, draw the nonce,
 * hash nonce || message to a point (constant-time variant), seed SHAKE-256
 * with 48 fresh bytes, sample, compress.
 *
 * Compile with -I <PQClean>/crypto_sign/falcon-512/clean -I <PQClean>/common.
 */
#include <stdint.h>
#include <string.h>

#include "falcon_fast.h"
#include "inner.h"
#include "randombytes.h"

#define MAX_LOGN 10
#define MAX_N ((size_t)1 << MAX_LOGN)

/*
 * Scratch space: 48 bytes per coefficient covers every internal called here
 * (expand_privkey: six polynomials of doubles; sign_tree: t0, t1, tx, ty and
 * less than two more for ffSampling; complete_private and hash_to_point_ct
 * need 4 and 2 bytes per coefficient).
 */
#define TMP_BYTES (48 * MAX_N)

typedef union {
    uint8_t b[TMP_BYTES];
    uint64_t align_u64;
    fpr align_fpr;
} scratch;

/* memset through a volatile pointer: not removable as a dead store. */
static void
wipe(void *p, size_t n) {
    static void *(*volatile const memset_v)(void *, int, size_t) = memset;
    memset_v(p, 0, n);
}

static int
valid_logn(int logn) {
    return logn == 9 || logn == 10;
}

size_t
pqc_falcon_expanded_bytes(int logn) {
    if (!valid_logn(logn)) {
        return 0;
    }
    /* B0 (4 polynomials) + ffLDL tree ((logn + 1) polynomials), 8 bytes each. */
    return ((size_t)8 * (size_t)logn + 40) << logn;
}

size_t
pqc_falcon_sk_bytes(int logn) {
    size_t bits;

    if (!valid_logn(logn)) {
        return 0;
    }
    bits = (size_t)2 * PQCLEAN_FALCON512_CLEAN_max_fg_bits[logn]
           + PQCLEAN_FALCON512_CLEAN_max_FG_bits[logn];
    return 1 + ((bits << logn) >> 3);
}

size_t
pqc_falcon_sig_bytes(int logn, int padded) {
    if (logn == 9) {
        return padded ? 666 : 752;
    }
    if (logn == 10) {
        return padded ? 1280 : 1462;
    }
    return 0;
}

int
pqc_falcon_expand(int logn, uint8_t *expanded, const uint8_t *sk, size_t sklen) {
    int8_t f[MAX_N], g[MAX_N], F[MAX_N], G[MAX_N];
    scratch tmp;
    size_t n, u, v;
    int ok;

    if (!valid_logn(logn) || expanded == NULL || sk == NULL) {
        return -1;
    }
    if (((uintptr_t)expanded & 7) != 0) {
        return -1;
    }
    n = (size_t)1 << logn;
    ok = 0;
    if (sklen != pqc_falcon_sk_bytes(logn) || sk[0] != 0x50 + logn) {
        goto done;
    }
    u = 1;
    v = PQCLEAN_FALCON512_CLEAN_trim_i8_decode(f, (unsigned)logn,
            PQCLEAN_FALCON512_CLEAN_max_fg_bits[logn], sk + u, sklen - u);
    if (v == 0) {
        goto done;
    }
    u += v;
    v = PQCLEAN_FALCON512_CLEAN_trim_i8_decode(g, (unsigned)logn,
            PQCLEAN_FALCON512_CLEAN_max_fg_bits[logn], sk + u, sklen - u);
    if (v == 0) {
        goto done;
    }
    u += v;
    v = PQCLEAN_FALCON512_CLEAN_trim_i8_decode(F, (unsigned)logn,
            PQCLEAN_FALCON512_CLEAN_max_FG_bits[logn], sk + u, sklen - u);
    if (v == 0) {
        goto done;
    }
    u += v;
    if (u != sklen) {
        goto done;
    }
    if (!PQCLEAN_FALCON512_CLEAN_complete_private(G, f, g, F, (unsigned)logn, tmp.b)) {
        goto done;
    }
    PQCLEAN_FALCON512_CLEAN_expand_privkey((fpr *)(void *)expanded, f, g, F, G,
                                           (unsigned)logn, tmp.b);
    ok = 1;
done:
    wipe(f, n);
    wipe(g, n);
    wipe(F, n);
    wipe(G, n);
    wipe(tmp.b, 48 * n);
    if (!ok) {
        wipe(expanded, pqc_falcon_expanded_bytes(logn));
        return -1;
    }
    return 0;
}

int
pqc_falcon_sign_expanded(int logn, int padded, uint8_t *sig, size_t *siglen,
                         const uint8_t *m, size_t mlen,
                         const uint8_t *expanded, const uint8_t *seed) {
    scratch tmp;
    int16_t s2[MAX_N];
    uint16_t hm[MAX_N];
    uint8_t nonce[PQC_FALCON_NONCE_BYTES];
    uint8_t sseed[PQC_FALCON_SAMPLER_SEED_BYTES];
    inner_shake256_context sc;
    size_t n, cap, vcap, v;

    if (siglen != NULL) {
        *siglen = 0;
    }
    if (!valid_logn(logn) || sig == NULL || siglen == NULL || expanded == NULL
            || (m == NULL && mlen != 0)) {
        return -1;
    }
    if (((uintptr_t)expanded & 7) != 0) {
        return -1;
    }
    n = (size_t)1 << logn;
    cap = pqc_falcon_sig_bytes(logn, padded);
    vcap = cap - 1 - PQC_FALCON_NONCE_BYTES;

    /* Nonce first, then the sampler seed: PQClean's order. */
    if (seed != NULL) {
        memcpy(nonce, seed, PQC_FALCON_NONCE_BYTES);
        memcpy(sseed, seed + PQC_FALCON_NONCE_BYTES, PQC_FALCON_SAMPLER_SEED_BYTES);
    } else {
        randombytes(nonce, PQC_FALCON_NONCE_BYTES);
    }

    inner_shake256_init(&sc);
    inner_shake256_inject(&sc, nonce, PQC_FALCON_NONCE_BYTES);
    if (mlen != 0) {
        inner_shake256_inject(&sc, m, mlen);
    }
    inner_shake256_flip(&sc);
    PQCLEAN_FALCON512_CLEAN_hash_to_point_ct(&sc, hm, (unsigned)logn, tmp.b);
    inner_shake256_ctx_release(&sc);

    if (seed == NULL) {
        randombytes(sseed, PQC_FALCON_SAMPLER_SEED_BYTES);
    }
    inner_shake256_init(&sc);
    inner_shake256_inject(&sc, sseed, PQC_FALCON_SAMPLER_SEED_BYTES);
    inner_shake256_flip(&sc);
    wipe(sseed, sizeof sseed);

    /*
     * Unpadded: one attempt; PQClean's crypto_sign_signature fails (-1) when
     * the compressed value exceeds the buffer (probability negligible).
     * Padded: sign again from the same SHAKE-256 stream until it fits, then
     * zero-fill, as PQClean's falcon-padded do_sign.
     */
    for (;;) {
        PQCLEAN_FALCON512_CLEAN_sign_tree(s2, &sc, (const fpr *)(const void *)expanded,
                                          hm, (unsigned)logn, tmp.b);
        v = PQCLEAN_FALCON512_CLEAN_comp_encode(sig + 1 + PQC_FALCON_NONCE_BYTES, vcap, s2,
                                                (unsigned)logn);
        if (v != 0 || !padded) {
            break;
        }
    }
    inner_shake256_ctx_release(&sc);
    wipe(tmp.b, 48 * n);
    wipe(s2, sizeof s2);
    if (v == 0) {
        wipe(sig, cap);
        return -1;
    }
    sig[0] = (uint8_t)(0x30 + logn);
    memcpy(sig + 1, nonce, PQC_FALCON_NONCE_BYTES);
    if (padded) {
        memset(sig + 1 + PQC_FALCON_NONCE_BYTES + v, 0, vcap - v);
        *siglen = cap;
    } else {
        *siglen = 1 + PQC_FALCON_NONCE_BYTES + v;
    }
    return 0;
}
