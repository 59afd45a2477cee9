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
    PQC_FALCONPADDED1024 = 19
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
    PQC_PREPARED_KEY_BYTES = 10 /* signatures only: the prepared public key (pqc_verify_prepare) */
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
/* Returns PQC_OK for a valid signature, PQC_ERR_FAILED otherwise. */
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

/* Memory: every region is zeroed before it is returned to the allocator. */
PQC_EXPORT void *pqc_malloc(size_t n);
PQC_EXPORT void pqc_free(void *p, size_t n);
PQC_EXPORT void pqc_memzero(void *p, size_t n);

/* Randomness bridge (pqc_random.c). */
int pqc_random_preset(const uint8_t *seed, size_t len);
int pqc_random_finish(void);

#endif
