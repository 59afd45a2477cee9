/*
 * pqc-iiot: fast Falcon signing over the pinned PQClean internals.
 *
 * A private key is expanded once (decode, NTRU completion, FFT, Gram matrix,
 * LDL tree, normalisation: every division and square root of Falcon's
 * signing happens here), then each signature runs PQClean's sign_tree on the
 * expanded key: no division and no square root per signature.
 *
 * Signatures are in PQClean's format, byte for byte:
 *   header 0x30 + logn, 40-byte nonce, compressed s2;
 *   padded: the same, zero-filled to a fixed length (666 / 1280 bytes),
 *   re-signing from the same SHAKE-256 stream while it does not fit, as
 *   PQClean's falcon-padded pqclean.c does.
 * Randomness is consumed in PQClean's order: a 40-byte nonce, then one
 * 48-byte seed for the sampler's SHAKE-256 (one per signature, also when the
 * padded form re-signs).
 *
 * logn is 9 (Falcon-512) or 10 (Falcon-1024). The internals are falcon-512's
 * (prefix PQCLEAN_FALCON512_CLEAN_), which take logn at run time.
 * Return values: 0 on success, -1 on any error (outputs wiped).
 */
#ifndef PQC_FALCON_FAST_H
#define PQC_FALCON_FAST_H

#include <stddef.h>
#include <stdint.h>

#define PQC_FALCON_NONCE_BYTES 40
#define PQC_FALCON_SAMPLER_SEED_BYTES 48
/* Bytes read from `seed` by pqc_falcon_sign_expanded: nonce, then sampler seed. */
#define PQC_FALCON_SIGN_SEED_BYTES (PQC_FALCON_NONCE_BYTES + PQC_FALCON_SAMPLER_SEED_BYTES)

/*
 * Size of an expanded key: (logn + 5) * 2^logn doubles = (8*logn + 40) << logn
 * bytes: 57,344 for logn 9, 122,880 for logn 10; 0 for any other logn.
 * It is as secret as the private key: wipe it before freeing it.
 */
size_t pqc_falcon_expanded_bytes(int logn);

/* Private key length: 1281 (logn 9), 2305 (logn 10); 0 otherwise. */
size_t pqc_falcon_sk_bytes(int logn);

/*
 * Maximum signature length (padded = 0: 752 / 1462), or the fixed length of
 * the padded form (padded != 0: 666 / 1280). 0 for any other logn.
 */
size_t pqc_falcon_sig_bytes(int logn, int padded);

/*
 * Decodes sk (PQClean's private key encoding, header 0x50 + logn, exactly
 * sklen = pqc_falcon_sk_bytes(logn) bytes) and writes the expanded key.
 * `expanded` must hold pqc_falcon_expanded_bytes(logn) bytes and be 8-byte
 * aligned (it is an array of doubles).
 */
int pqc_falcon_expand(int logn, uint8_t *expanded, const uint8_t *sk, size_t sklen);

/*
 * Signs m with an expanded key. sig must hold pqc_falcon_sig_bytes(logn,
 * padded) bytes; *siglen receives the length written. seed: NULL to draw the
 * randomness from PQCLEAN_randombytes (40 bytes, then 48 bytes, as PQClean's
 * crypto_sign_signature), or PQC_FALCON_SIGN_SEED_BYTES bytes: the nonce
 * followed by the sampler seed (deterministic signing for tests).
 */
int pqc_falcon_sign_expanded(int logn, int padded, uint8_t *sig, size_t *siglen,
                             const uint8_t *m, size_t mlen,
                             const uint8_t *expanded, const uint8_t *seed);

/*
 * Verification with a prepared public key (falcon_verify.c). The public key
 * (PQClean's encoding, header logn, exactly pqc_falcon_pk_bytes(logn) =
 * 897 / 1793 bytes) is decoded and converted to NTT Montgomery form once, into
 * `prepared` (pqc_falcon_prepared_bytes(logn) = 1024 / 2048 bytes, 2-byte
 * aligned); -1 if the key does not decode (PQClean's verify rejects every
 * signature under such a key). pqc_falcon_verify_prepared then accepts (0)
 * the signatures PQClean's crypto_sign_verify accepts under that key, in one
 * encoding only: padded = 0, a compact signature that the compressed s2 fills
 * exactly (no trailing byte); padded != 0, exactly pqc_falcon_sig_bytes(logn,
 * 1) bytes, zero after s2. It returns -1 otherwise.
 * Public data only: nothing to wipe.
 */
size_t pqc_falcon_pk_bytes(int logn);
size_t pqc_falcon_prepared_bytes(int logn);
int pqc_falcon_verify_prepare(int logn, uint8_t *prepared, const uint8_t *pk, size_t pklen);
int pqc_falcon_verify_prepared(int logn, int padded, const uint8_t *sig, size_t siglen,
                               const uint8_t *m, size_t mlen, const uint8_t *prepared);

#endif /* PQC_FALCON_FAST_H */
