/*
 * ML-KEM-512/768/1024 behind one status-code API, dispatched by algorithm id.
 * PQClean already has derand entry points for ML-KEM, so the seeds go straight
 * to them; the plain calls draw the same number of bytes from the bridge.
 */
#include <string.h>

#include "pqc.h"
#include "randombytes.h"
#include "crypto_kem/ml-kem-512/clean/api.h"
#include "crypto_kem/ml-kem-768/clean/api.h"
#include "crypto_kem/ml-kem-1024/clean/api.h"

/* api.h does not declare the derand variants; kem.h does, but its include guard and
   macro names collide across parameter sets, so declare them here. */
#define PQC_DECLARE_DERAND(NS)                                                          \
    int NS##_crypto_kem_keypair_derand(uint8_t *pk, uint8_t *sk, const uint8_t *coins); \
    int NS##_crypto_kem_enc_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *coins);
PQC_DECLARE_DERAND(PQCLEAN_MLKEM512_CLEAN)
PQC_DECLARE_DERAND(PQCLEAN_MLKEM768_CLEAN)
PQC_DECLARE_DERAND(PQCLEAN_MLKEM1024_CLEAN)

#define KEYGEN_SEED_BYTES 64 /* d || z (FIPS 203) */
#define ENCAPS_SEED_BYTES 32 /* m */

typedef struct {
    int alg;
    int pk_bytes, sk_bytes, ct_bytes, ss_bytes;
    int (*keypair_derand)(uint8_t *, uint8_t *, const uint8_t *);
    int (*enc_derand)(uint8_t *, uint8_t *, const uint8_t *, const uint8_t *);
    int (*dec)(uint8_t *, const uint8_t *, const uint8_t *);
} kem_t;

#define KEM_ENTRY(ID, NS)                                                                  \
    {ID, NS##_CRYPTO_PUBLICKEYBYTES, NS##_CRYPTO_SECRETKEYBYTES, NS##_CRYPTO_CIPHERTEXTBYTES, \
     NS##_CRYPTO_BYTES, NS##_crypto_kem_keypair_derand, NS##_crypto_kem_enc_derand, NS##_crypto_kem_dec}

static const kem_t kems[] = {
    KEM_ENTRY(PQC_MLKEM512, PQCLEAN_MLKEM512_CLEAN),
    KEM_ENTRY(PQC_MLKEM768, PQCLEAN_MLKEM768_CLEAN),
    KEM_ENTRY(PQC_MLKEM1024, PQCLEAN_MLKEM1024_CLEAN),
};

static const kem_t *find(int alg) {
    for (size_t i = 0; i < sizeof kems / sizeof kems[0]; i++) {
        if (kems[i].alg == alg) {
            return &kems[i];
        }
    }
    return NULL;
}

int pqc_kem_info(int alg, int field) {
    const kem_t *k = find(alg);
    if (k == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    switch (field) {
        case PQC_PUBLIC_KEY_BYTES: return k->pk_bytes;
        case PQC_SECRET_KEY_BYTES: return k->sk_bytes;
        case PQC_CIPHERTEXT_BYTES: return k->ct_bytes;
        case PQC_SHARED_SECRET_BYTES: return k->ss_bytes;
        case PQC_KEYGEN_SEED_BYTES: return KEYGEN_SEED_BYTES;
        case PQC_ENCAPS_SEED_BYTES: return ENCAPS_SEED_BYTES;
        default: return PQC_ERR_BAD_ARGUMENT;
    }
}

int pqc_kem_keypair_derand(int alg, uint8_t *pk, uint8_t *sk, const uint8_t *seed) {
    const kem_t *k = find(alg);
    if (k == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    return k->keypair_derand(pk, sk, seed) == 0 ? PQC_OK : PQC_ERR_FAILED;
}

int pqc_kem_keypair(int alg, uint8_t *pk, uint8_t *sk) {
    const kem_t *k = find(alg);
    uint8_t seed[KEYGEN_SEED_BYTES];
    int status;
    if (k == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    pqc_random_preset(NULL, 0);
    randombytes(seed, sizeof seed);
    status = pqc_random_finish();
    if (status == PQC_OK) {
        status = pqc_kem_keypair_derand(alg, pk, sk, seed);
    }
    if (status != PQC_OK) {
        pqc_memzero(sk, (size_t)k->sk_bytes);
    }
    pqc_memzero(seed, sizeof seed);
    return status;
}

int pqc_kem_encaps_derand(int alg, uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *seed) {
    const kem_t *k = find(alg);
    if (k == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    return k->enc_derand(ct, ss, pk, seed) == 0 ? PQC_OK : PQC_ERR_FAILED;
}

int pqc_kem_encaps(int alg, uint8_t *ct, uint8_t *ss, const uint8_t *pk) {
    const kem_t *k = find(alg);
    uint8_t seed[ENCAPS_SEED_BYTES];
    int status;
    if (k == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    pqc_random_preset(NULL, 0);
    randombytes(seed, sizeof seed);
    status = pqc_random_finish();
    if (status == PQC_OK) {
        status = pqc_kem_encaps_derand(alg, ct, ss, pk, seed);
    }
    if (status != PQC_OK) {
        pqc_memzero(ss, (size_t)k->ss_bytes);
    }
    pqc_memzero(seed, sizeof seed);
    return status;
}

int pqc_kem_decaps(int alg, uint8_t *ss, const uint8_t *ct, const uint8_t *sk) {
    const kem_t *k = find(alg);
    if (k == NULL) {
        return PQC_ERR_BAD_ARGUMENT;
    }
    /* Implicit rejection: a bad ciphertext yields a pseudorandom secret, not an error. */
    return k->dec(ss, ct, sk) == 0 ? PQC_OK : PQC_ERR_FAILED;
}
