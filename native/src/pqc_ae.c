/*
 * Authenticated encryption composed from two pinned primitives (never a primitive of our own):
 * AES-256-CTR from PQClean's common/aes.c (BearSSL's constant-time bitsliced ct64) for confidentiality,
 * KMAC256 (NIST SP 800-185) over PQClean's cSHAKE256 (common/sp800-185.c) for integrity, as
 * encrypt-then-MAC. GHASH is not among the pinned sources, hence KMAC rather than AES-GCM; the output has
 * GCM's shape (ciphertext || 16-byte tag).
 *
 * Secrets on the heap: the pinned code mallocs the AES round keys and every cSHAKE state, and frees them
 * with free(), which the build maps to the wiping pqc_zfree (pqc_memory.c). Secrets on the stack (the
 * pinned AES keeps keystream and round-key temporaries in its own frames, where our code cannot reach)
 * are wiped by the bindings after every call (bindings/core.ts, the AE's STACK_WIPE bound); our own
 * temporaries are wiped here before returning.
 */
#include <stdint.h>
#include <string.h>

#include "aes.h"
#include "fips202.h"
#include "pqc.h"
#include "sp800-185.h"

#define AE_KEY_BYTES 32
#define AE_TAG_BYTES 16

/* The SP 800-185 "S" of every AE tag: a distinct customisation keeps these tags apart from any other
 * KMAC use of the same key. */
static const uint8_t ae_custom[] = "pqc-iiot/v1/ae";
#define AE_CUSTOM_BYTES (sizeof ae_custom - 1)

static const uint8_t kmac_name[4] = {'K', 'M', 'A', 'C'};

/*
 * Both members point to heap regions owned by the pinned code: the precomputed MAC state is cloned per call
 * (the clone is the only thing a call absorbs into), so the context itself is never written after init and
 * one key can serve calls in any order.
 */
struct pqc_ae_ctx {
    aes256ctx enc;      /* AES-256 round keys, bitsliced (PQClean mallocs them) */
    shake256incctx mac; /* cSHAKE256("KMAC", S) after bytepad(encode_string(mac_key), 136) */
};

/* Writes the minimal big-endian bytes of x (at least one): the core of SP 800-185's encodings. */
static size_t be_bytes(uint8_t *dst, uint64_t x) {
    size_t n = 1;
    while (n < 8 && (x >> (8 * n)) != 0) {
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = (uint8_t)(x >> (8 * (n - 1 - i)));
    }
    return n;
}

/* SP 800-185 2.3.1 left_encode(x): the byte count, then the bytes. Returns its length (2 to 9). */
static size_t left_encode(uint8_t out[9], uint64_t x) {
    size_t n = be_bytes(out + 1, x);
    out[0] = (uint8_t)n;
    return n + 1;
}

/* SP 800-185 2.3.1 right_encode(x): the bytes, then the byte count. */
static size_t right_encode(uint8_t out[9], uint64_t x) {
    size_t n = be_bytes(out, x);
    out[n] = (uint8_t)n;
    return n + 1;
}

/*
 * KMAC256's start, SP 800-185 4.3.1: cSHAKE256 with N = "KMAC" and S = custom (the pinned init absorbs
 * bytepad(encode_string(N) || encode_string(S), 136)), then bytepad(encode_string(K), 136), i.e.
 * left_encode(136) || left_encode(8 * keylen) || K, zero-filled to a multiple of the rate.
 */
static void kmac256_start(shake256incctx *state, const uint8_t *key, size_t keylen, const uint8_t *custom,
                          size_t customlen) {
    static const uint8_t zeros[SHAKE256_RATE];
    uint8_t enc[9];
    size_t head, pad;

    cshake256_inc_init(state, kmac_name, sizeof kmac_name, custom, customlen);
    head = left_encode(enc, SHAKE256_RATE);
    cshake256_inc_absorb(state, enc, head);
    pad = left_encode(enc, (uint64_t)keylen * 8);
    cshake256_inc_absorb(state, enc, pad);
    head += pad;
    cshake256_inc_absorb(state, key, keylen);
    /* (head + keylen) mod rate, without the sum overflowing */
    pad = (SHAKE256_RATE - (head + keylen % SHAKE256_RATE) % SHAKE256_RATE) % SHAKE256_RATE;
    cshake256_inc_absorb(state, zeros, pad);
}

/* KMAC256's end: X is absorbed; right_encode(L) with L = 8 * outlen, then the output. Frees (wipes) state. */
static void kmac256_finish(uint8_t *out, size_t outlen, shake256incctx *state) {
    uint8_t enc[9];
    cshake256_inc_absorb(state, enc, right_encode(enc, (uint64_t)outlen * 8));
    cshake256_inc_finalize(state);
    cshake256_inc_squeeze(out, outlen, state);
    cshake256_inc_ctx_release(state);
}

int pqc_kmac256(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                const uint8_t *custom, size_t customlen) {
    shake256incctx state;
    kmac256_start(&state, key, keylen, custom, customlen);
    cshake256_inc_absorb(&state, in, inlen);
    kmac256_finish(out, outlen, &state);
    return PQC_OK;
}

/*
 * The AE tag. The MAC input is X = nonce || left_encode(8 * aadlen) || aad || ciphertext.
 * - The nonce is authenticated too: otherwise a changed nonce would pass the tag and decrypt to garbage
 *   that open() calls authentic (AES-GCM authenticates its nonce as well).
 * - With the nonce of fixed length and the aad's length encoded in front of it, no (nonce, aad, ciphertext)
 *   can be re-split into another triple with the same X, so a tag authenticates exactly one of each. (The
 *   ciphertext needs no length of its own: it is the rest of X, and KMAC takes X of any length as it is.)
 */
static void ae_tag(uint8_t tag[AE_TAG_BYTES], const struct pqc_ae_ctx *ctx, const uint8_t *nonce, const uint8_t *aad,
                   size_t aadlen, const uint8_t *ct, size_t ctlen) {
    shake256incctx state;
    uint8_t enc[9];
    cshake256_inc_ctx_clone(&state, &ctx->mac);
    cshake256_inc_absorb(&state, nonce, AESCTR_NONCEBYTES);
    cshake256_inc_absorb(&state, enc, left_encode(enc, (uint64_t)aadlen * 8));
    cshake256_inc_absorb(&state, aad, aadlen);
    cshake256_inc_absorb(&state, ct, ctlen);
    kmac256_finish(tag, AE_TAG_BYTES, &state);
}

/* 0 if the tags are equal, 1 otherwise; the time does not depend on where (or whether) they differ. */
static int tags_differ(const uint8_t a[AE_TAG_BYTES], const uint8_t b[AE_TAG_BYTES]) {
    uint32_t diff = 0;
    for (size_t i = 0; i < AE_TAG_BYTES; i++) {
        diff |= (uint32_t)(a[i] ^ b[i]);
    }
    return (int)(((diff | (0u - diff)) >> 31) & 1);
}

static int overlaps(const void *a, size_t alen, const void *b, size_t blen) {
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return alen != 0 && blen != 0 && x < y + blen && y < x + alen;
}

static int ready(const struct pqc_ae_ctx *ctx) {
    return ctx != NULL && ctx->enc.sk_exp != NULL && ctx->mac.ctx != NULL;
}

/* PQClean's counter is the nonce's last 32 bits: 2^32 blocks at most, so it never wraps into the nonce. */
static int too_long(size_t len) {
    return (uint64_t)len > ((uint64_t)1 << 36);
}

/* out = in XOR AES-256-CTR(nonce): the keystream goes to out first (out never overlaps in), then in is
 * folded into it, so no keystream outlives the call and no buffer of ours holds it. */
static void ctr_xor(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *nonce, const aes256ctx *enc) {
    aes256_ctr(out, len, nonce, enc);
    for (size_t i = 0; i < len; i++) {
        out[i] ^= in[i];
    }
}

int pqc_ae_info(int field) {
    switch (field) {
        case PQC_KEY_BYTES: return AE_KEY_BYTES;
        case PQC_NONCE_BYTES: return AESCTR_NONCEBYTES;
        case PQC_TAG_BYTES: return AE_TAG_BYTES;
        case PQC_CONTEXT_BYTES: return (int)sizeof(struct pqc_ae_ctx);
        default: return PQC_ERR_BAD_ARGUMENT;
    }
}

int pqc_ae_init(pqc_ae_ctx *ctx, const uint8_t *enc_key, const uint8_t *mac_key) {
    if (ctx == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    aes256_ctr_keyexp(&ctx->enc, enc_key);
    /* Precomputed once per key: every tag then starts from this state and absorbs only its message. */
    kmac256_start(&ctx->mac, mac_key, AE_KEY_BYTES, ae_custom, AE_CUSTOM_BYTES);
    return PQC_OK;
}

int pqc_ae_seal(const pqc_ae_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                size_t pt_len, uint8_t *out) {
    if (!ready(ctx) || too_long(pt_len)) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    size_t out_len = pt_len + AE_TAG_BYTES;
    if (overlaps(out, out_len, pt, pt_len) || overlaps(out, out_len, aad, aad_len) ||
        overlaps(out, out_len, nonce, AESCTR_NONCEBYTES)) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    ctr_xor(out, pt, pt_len, nonce, &ctx->enc);
    ae_tag(out + pt_len, ctx, nonce, aad, aad_len, out, pt_len);
    return PQC_OK;
}

int pqc_ae_open(const pqc_ae_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                size_t in_len, uint8_t *out) {
    if (!ready(ctx)) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    if (in_len < AE_TAG_BYTES) {
        return PQC_ERR_FAILED;
    }
    size_t ct_len = in_len - AE_TAG_BYTES;
    if (too_long(ct_len) || overlaps(out, ct_len, in, in_len) || overlaps(out, ct_len, aad, aad_len) ||
        overlaps(out, ct_len, nonce, AESCTR_NONCEBYTES)) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    uint8_t expected[AE_TAG_BYTES];
    ae_tag(expected, ctx, nonce, aad, aad_len, in, ct_len);
    int bad = tags_differ(expected, in + ct_len);
    /* The right tag for a forged input is what a forger lacks: it does not outlive the call. */
    pqc_memzero(expected, sizeof expected);
    if (bad) {
        pqc_memzero(out, ct_len);
        return PQC_ERR_FAILED;
    }
    ctr_xor(out, in, ct_len, nonce, &ctx->enc);
    return PQC_OK;
}

void pqc_ae_release(pqc_ae_ctx *ctx) {
    if (ctx == NULL) {
        return;
    }
    if (ctx->enc.sk_exp != NULL) {
        aes256_ctx_release(&ctx->enc);
    }
    if (ctx->mac.ctx != NULL) {
        cshake256_inc_ctx_release(&ctx->mac);
    }
    pqc_memzero(ctx, sizeof *ctx);
}
