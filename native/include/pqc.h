/*
 * pqc-iiot native API: a liboqs-shaped layer over the pinned PQClean sources.
 *
 * Conventions (as in liboqs): the caller allocates every buffer, lengths are
 * exported constants (pqc_info), every call returns a status code. The
 * *_derand variants take the randomness explicitly so known-answer tests are
 * reproducible; the plain variants draw it from the host through the
 * randomness bridge (pqc_random.c).
 */
#ifndef PQC_IIOT_H
#define PQC_IIOT_H

#include <stddef.h>
#include <stdint.h>

#define PQC_EXPORT __attribute__((used, visibility("default")))

/* Status codes: stable, mirrored in bindings/status.ts. */
#define PQC_OK 0
#define PQC_ERR_FAILED -1          /* the algorithm itself reported an error */
#define PQC_ERR_RANDOMNESS -2      /* the host could not supply randomness */
#define PQC_ERR_BAD_SEED -3        /* a derand seed was not consumed exactly */
#define PQC_ERR_BAD_ARGUMENT -4    /* unknown algorithm id or field */

/* Algorithm ids: stable, mirrored in bindings/params.ts. */
enum pqc_alg {
    PQC_MLKEM512 = 1,
    PQC_MLKEM768 = 2,
    PQC_MLKEM1024 = 3,
    PQC_FALCON512 = 16,
    PQC_FALCON1024 = 17,
    PQC_FALCONPADDED512 = 18,
    PQC_FALCONPADDED1024 = 19,
    PQC_AE = 32 /* the authenticated encryption of pqc_ae.c */
};

/* Fields for pqc_info. */
enum pqc_field {
    PQC_PUBLIC_KEY_BYTES = 1,
    PQC_SECRET_KEY_BYTES = 2,
    PQC_CIPHERTEXT_BYTES = 3,   /* KEM only */
    PQC_SHARED_SECRET_BYTES = 4, /* KEM only */
    PQC_SIGNATURE_BYTES = 5,    /* signatures: the maximum length */
    PQC_KEYGEN_SEED_BYTES = 6,
    PQC_ENCAPS_SEED_BYTES = 7,  /* KEM only */
    PQC_SIGN_SEED_BYTES = 8,    /* signatures only */
    PQC_EXPANDED_KEY_BYTES = 9, /* signatures only: the expanded signing key (tree) */
    PQC_PREPARED_KEY_BYTES = 10, /* signatures only: the prepared public key (pqc_verify_prepare) */
    PQC_KEY_BYTES = 11,         /* AE only: each of its two keys */
    PQC_NONCE_BYTES = 12,       /* AE only */
    PQC_TAG_BYTES = 13,         /* AE only: what seal adds to the plaintext */
    PQC_CONTEXT_BYTES = 14      /* AE only: the caller-allocated pqc_ae_ctx */
};

/* Returns the length for (alg, field), or a negative status code. */
PQC_EXPORT int pqc_info(int alg, int field);

/* KEM: ML-KEM (FIPS 203), PQClean clean implementation. */
PQC_EXPORT int pqc_kem_keypair(int alg, uint8_t *pk, uint8_t *sk);
PQC_EXPORT int pqc_kem_keypair_derand(int alg, uint8_t *pk, uint8_t *sk, const uint8_t *seed);
PQC_EXPORT int pqc_kem_encaps(int alg, uint8_t *ct, uint8_t *ss, const uint8_t *pk);
PQC_EXPORT int pqc_kem_encaps_derand(int alg, uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *seed);
PQC_EXPORT int pqc_kem_decaps(int alg, uint8_t *ss, const uint8_t *ct, const uint8_t *sk);

/* Signatures: Falcon (and its padded, constant-length form). */
PQC_EXPORT int pqc_sign_keypair(int alg, uint8_t *pk, uint8_t *sk);
PQC_EXPORT int pqc_sign_keypair_derand(int alg, uint8_t *pk, uint8_t *sk, const uint8_t *seed);
PQC_EXPORT int pqc_sign(int alg, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen, const uint8_t *sk);
PQC_EXPORT int pqc_sign_derand(int alg, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen,
                               const uint8_t *sk, const uint8_t *seed);
/*
 * Returns PQC_OK for a valid signature, PQC_ERR_FAILED otherwise. One encoding
 * per signature: a compact (Falcon-512/1024) signature must end where its
 * compressed s2 ends (no trailing byte, zero or not); a padded one must be
 * exactly 666 / 1,280 bytes with only zeros after s2.
 */
PQC_EXPORT int pqc_verify(int alg, const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                          const uint8_t *pk);

/*
 * Signing with an expanded key (Falcon's signing tree): the private key is
 * expanded once (the divisions and square roots happen here), then each
 * signature uses only additions, multiplications and conversions. Signatures
 * are byte-identical to pqc_sign's for the same randomness. `expanded` must be
 * 8-byte aligned and pqc_info(alg, PQC_EXPANDED_KEY_BYTES) long; wipe it with
 * pqc_free when done.
 */
PQC_EXPORT int pqc_sign_expand(int alg, uint8_t *expanded, const uint8_t *sk);
PQC_EXPORT int pqc_sign_expanded(int alg, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen,
                                 const uint8_t *expanded, const uint8_t *seed);

/*
 * Verification with a prepared public key: pqc_verify_prepare decodes `pk`
 * and converts it to Falcon's NTT (Montgomery) form once, into `prepared`
 * (pqc_info(alg, PQC_PREPARED_KEY_BYTES) bytes: 1,024 for Falcon-512, 2,048
 * for Falcon-1024; 2-byte aligned). It returns PQC_ERR_FAILED if the key does
 * not decode (pqc_verify rejects every signature under such a key).
 * pqc_verify_prepared then returns PQC_OK for exactly the signatures pqc_verify
 * accepts under that key, PQC_ERR_FAILED otherwise, without decoding the key
 * again. Public data only: `prepared` need not be wiped.
 */
PQC_EXPORT int pqc_verify_prepare(int alg, uint8_t *prepared, const uint8_t *pk);
PQC_EXPORT int pqc_verify_prepared(int alg, const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                                   const uint8_t *prepared);

/* 1 if this build's Falcon uses hardware (wasm f64) floating point, 0 for the integer emulation. */
PQC_EXPORT int pqc_falcon_native_fp(void);

/* SHAKE-256 from the pinned fips202.c (self-test digests, known-answer checks). */
PQC_EXPORT int pqc_shake256(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen);

/*
 * Authenticated encryption (encrypt-then-MAC) from two pinned primitives:
 *   ciphertext = plaintext XOR AES-256-CTR(enc_key, nonce || 32-bit big-endian block counter from 0)
 *   tag        = KMAC256(mac_key, nonce || left_encode(8 * aad_len) || aad || ciphertext, 128, "pqc-iiot/v1/ae")
 *   sealed     = ciphertext || tag
 * (AES from PQClean's common/aes.c, constant-time bitsliced; KMAC256 per NIST SP 800-185 over its
 * common/sp800-185.c). The 12-byte nonce must never repeat under one key.
 *
 * The context is caller-allocated (pqc_info(PQC_AE, PQC_CONTEXT_BYTES) bytes, 8-byte aligned); it points to
 * the expanded AES key and the precomputed KMAC state, which the pinned code keeps on the heap.
 * pqc_ae_init overwrites the context (release an earlier key first); pqc_ae_release wipes and frees both
 * and zeroes the context, after which seal and open return PQC_ERR_BAD_ARGUMENT.
 * Outputs must not overlap any input (PQC_ERR_BAD_ARGUMENT): seal writes pt_len + 16 bytes, open
 * in_len - 16. open returns PQC_ERR_FAILED for a wrong tag or an input shorter than the tag, and then
 * writes zeros, never unauthenticated plaintext.
 */
typedef struct pqc_ae_ctx pqc_ae_ctx;
PQC_EXPORT int pqc_ae_init(pqc_ae_ctx *ctx, const uint8_t *enc_key, const uint8_t *mac_key);
PQC_EXPORT int pqc_ae_seal(const pqc_ae_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                           const uint8_t *pt, size_t pt_len, uint8_t *out);
PQC_EXPORT int pqc_ae_open(const pqc_ae_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                           const uint8_t *in, size_t in_len, uint8_t *out);
PQC_EXPORT void pqc_ae_release(pqc_ae_ctx *ctx);

/* KMAC256(key, in, 8 * outlen, custom) per NIST SP 800-185 (known-answer tests of the AE's MAC). */
PQC_EXPORT int pqc_kmac256(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const uint8_t *in,
                           size_t inlen, const uint8_t *custom, size_t customlen);

/* Memory: every region is zeroed before it is returned to the allocator. */
PQC_EXPORT void *pqc_malloc(size_t n);
PQC_EXPORT void pqc_free(void *p, size_t n);
PQC_EXPORT void pqc_memzero(void *p, size_t n);

/* The wasm stack, for the bindings' wipe after each call (pqc_stack.S, pqc_stack.c). */
PQC_EXPORT uintptr_t pqc_stack_current(void);
PQC_EXPORT void pqc_stack_restore(uintptr_t sp);
PQC_EXPORT uintptr_t pqc_stack_end(void);

/* Randomness bridge (pqc_random.c). */
int pqc_random_preset(const uint8_t *seed, size_t len);
int pqc_random_finish(void);

#endif
