/*
 * Falcon-512/1024 and their padded (constant-length signature) forms behind one
 * status-code API. PQClean's Falcon has no derand entry points, so the derand
 * variants preset the randomness bridge with the caller's seed: keygen asks for
 * 48 bytes, signing for a 40-byte nonce then a 48-byte sampler seed.
 * Both verifications run our falcon_verify.c (PQClean's own verify would also
 * take a second encoding of each signature: see there).
 */
#include <string.h>

#include "pqc.h"
#include "falcon_fast.h"
#include "crypto_sign/falcon-512/clean/api.h"
#include "crypto_sign/falcon-1024/clean/api.h"
#include "crypto_sign/falcon-padded-512/clean/api.h"
#include "crypto_sign/falcon-padded-1024/clean/api.h"

#define KEYGEN_SEED_BYTES 48
#define SIGN_SEED_BYTES (40 + 48)

typedef struct {
    int alg;
    int logn, padded;
    int pk_bytes, sk_bytes, sig_bytes;
    int (*keypair)(uint8_t *, uint8_t *);
    int (*sign)(uint8_t *, size_t *, const uint8_t *, size_t, const uint8_t *);
} signer_t;

#define SIGN_ENTRY(ID, LOGN, PADDED, NS)                                                            \
    {ID, LOGN, PADDED, NS##_CRYPTO_PUBLICKEYBYTES, NS##_CRYPTO_SECRETKEYBYTES, NS##_CRYPTO_BYTES, NS##_crypto_sign_keypair, \
     NS##_crypto_sign_signature}

static const signer_t signers[] = {
    SIGN_ENTRY(PQC_FALCON512, 9, 0, PQCLEAN_FALCON512_CLEAN),
    SIGN_ENTRY(PQC_FALCON1024, 10, 0, PQCLEAN_FALCON1024_CLEAN),
    SIGN_ENTRY(PQC_FALCONPADDED512, 9, 1, PQCLEAN_FALCONPADDED512_CLEAN),
    SIGN_ENTRY(PQC_FALCONPADDED1024, 10, 1, PQCLEAN_FALCONPADDED1024_CLEAN),
};

static const signer_t *find(int alg) {
    for (size_t i = 0; i < sizeof signers / sizeof signers[0]; i++) {
        if (signers[i].alg == alg) {
            return &signers[i];
        }
    }
    return NULL;
}

int pqc_sign_info(int alg, int field) {
    const signer_t *s = find(alg);
    if (s == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    switch (field) {
        case PQC_PUBLIC_KEY_BYTES: return s->pk_bytes;
        case PQC_SECRET_KEY_BYTES: return s->sk_bytes;
        case PQC_SIGNATURE_BYTES: return s->sig_bytes;
        case PQC_KEYGEN_SEED_BYTES: return KEYGEN_SEED_BYTES;
        case PQC_SIGN_SEED_BYTES: return SIGN_SEED_BYTES;
        case PQC_EXPANDED_KEY_BYTES: return (int)pqc_falcon_expanded_bytes(s->logn);
        case PQC_PREPARED_KEY_BYTES: return (int)pqc_falcon_prepared_bytes(s->logn);
        default: return PQC_ERR_BAD_ARGUMENT;
    }
}

static int keypair_with(const signer_t *s, uint8_t *pk, uint8_t *sk, const uint8_t *seed) {
    int rc, status;
    pqc_random_preset(seed, seed != NULL ? KEYGEN_SEED_BYTES : 0);
    rc = s->keypair(pk, sk);
    status = pqc_random_finish();
    if (status == PQC_OK && rc != 0) {
        status = PQC_ERR_FAILED;
    }
    if (status != PQC_OK) {
        pqc_memzero(sk, (size_t)s->sk_bytes);
    }
    return status;
}

int pqc_sign_keypair(int alg, uint8_t *pk, uint8_t *sk) {
    const signer_t *s = find(alg);
    return s == NULL ? PQC_ERR_BAD_ARGUMENT : keypair_with(s, pk, sk, NULL);
}

int pqc_sign_keypair_derand(int alg, uint8_t *pk, uint8_t *sk, const uint8_t *seed) {
    const signer_t *s = find(alg);
    return s == NULL || seed == NULL ? PQC_ERR_BAD_ARGUMENT : keypair_with(s, pk, sk, seed);
}

static int sign_with(const signer_t *s, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen,
                     const uint8_t *sk, const uint8_t *seed) {
    int rc, status;
    *siglen = (size_t)s->sig_bytes;
    pqc_random_preset(seed, seed != NULL ? SIGN_SEED_BYTES : 0);
    rc = s->sign(sig, siglen, m, mlen, sk);
    status = pqc_random_finish();
    if (status == PQC_OK && rc != 0) {
        status = PQC_ERR_FAILED;
    }
    if (status != PQC_OK) {
        pqc_memzero(sig, (size_t)s->sig_bytes);
        *siglen = 0;
    }
    return status;
}

int pqc_sign(int alg, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen, const uint8_t *sk) {
    const signer_t *s = find(alg);
    return s == NULL ? PQC_ERR_BAD_ARGUMENT : sign_with(s, sig, siglen, m, mlen, sk, NULL);
}

int pqc_sign_derand(int alg, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen, const uint8_t *sk,
                    const uint8_t *seed) {
    const signer_t *s = find(alg);
    return s == NULL || seed == NULL ? PQC_ERR_BAD_ARGUMENT : sign_with(s, sig, siglen, m, mlen, sk, seed);
}

int pqc_verify(int alg, const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen, const uint8_t *pk) {
    const signer_t *s = find(alg);
    uint16_t prepared[1024]; /* pqc_falcon_prepared_bytes(10) */
    if (s == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    return pqc_falcon_verify_prepare(s->logn, (uint8_t *)prepared, pk, (size_t)s->pk_bytes) == 0 &&
                   pqc_falcon_verify_prepared(s->logn, s->padded, sig, siglen, m, mlen, (const uint8_t *)prepared) == 0
               ? PQC_OK
               : PQC_ERR_FAILED;
}

int pqc_sign_expand(int alg, uint8_t *expanded, const uint8_t *sk) {
    const signer_t *s = find(alg);
    if (s == NULL || expanded == NULL || sk == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    if (pqc_falcon_expand(s->logn, expanded, sk, (size_t)s->sk_bytes) != 0) {
        pqc_memzero(expanded, pqc_falcon_expanded_bytes(s->logn));
        return PQC_ERR_FAILED;
    }
    return PQC_OK;
}

int pqc_sign_expanded(int alg, uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen, const uint8_t *expanded,
                      const uint8_t *seed) {
    const signer_t *s = find(alg);
    int rc, status;
    if (s == NULL || siglen == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    /* With a seed the bytes are used directly; without, the bridge serves 40 then 48 bytes. */
    pqc_random_preset(NULL, 0);
    rc = pqc_falcon_sign_expanded(s->logn, s->padded, sig, siglen, m, mlen, expanded, seed);
    status = pqc_random_finish();
    if (status == PQC_OK && rc != 0) {
        status = PQC_ERR_FAILED;
    }
    if (status != PQC_OK) {
        pqc_memzero(sig, (size_t)s->sig_bytes);
        *siglen = 0;
    }
    return status;
}

int pqc_verify_prepare(int alg, uint8_t *prepared, const uint8_t *pk) {
    const signer_t *s = find(alg);
    if (s == NULL || prepared == NULL || pk == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    return pqc_falcon_verify_prepare(s->logn, prepared, pk, (size_t)s->pk_bytes) == 0 ? PQC_OK : PQC_ERR_FAILED;
}

int pqc_verify_prepared(int alg, const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                        const uint8_t *prepared) {
    const signer_t *s = find(alg);
    if (s == NULL || prepared == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    return pqc_falcon_verify_prepared(s->logn, s->padded, sig, siglen, m, mlen, prepared) == 0 ? PQC_OK : PQC_ERR_FAILED;
}

int pqc_falcon_native_fp(void) {
#ifdef PQC_FALCON_F64
    return 1;
#else
    return 0;
#endif
}
