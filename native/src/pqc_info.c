/* Lengths as exported constants, so the bindings can check their table against the build. */
#include "fips202.h"
#include "pqc.h"

int pqc_kem_info(int alg, int field);
int pqc_sign_info(int alg, int field);
int pqc_ae_info(int field);

int pqc_info(int alg, int field) {
    if (alg == PQC_AE) {
        return pqc_ae_info(field);
    }
    return alg < PQC_FALCON512 ? pqc_kem_info(alg, field) : pqc_sign_info(alg, field);
}

int pqc_shake256(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen) {
    shake256(out, outlen, in, inlen);
    return PQC_OK;
}
