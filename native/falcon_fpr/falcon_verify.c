/*
 * pqc-iiot: Falcon verification with a prepared public key, over the pinned
 * PQClean falcon-512 internals (logn 9 and 10). See falcon_fast.h.
 *
 * PQClean's crypto_sign_verify decodes the public key and converts it to NTT
 * (Montgomery) form on every call. Here that is done once per key
 * (pqc_falcon_verify_prepare); each verification then only decodes the
 * signature, hashes nonce || message to a point and runs the pinned
 * verify_raw. The acceptance rules are do_verify's in every Falcon pqclean.c
 * (header byte 0x30 + logn, a 40-byte nonce, a compressed s2 that decodes),
 * made strict so that each signature has one encoding (issue 19): PQClean
 * also takes a compact signature zero-filled to the padded length, and the
 * bare compact form under a padded set. Here a compact signature is accepted
 * only if comp_decode consumes all of it (no trailing byte, zero or not),
 * and a padded one only at its fixed length (666 / 1280 bytes) with zero
 * bytes after the compressed value, as @noble/post-quantum accepts them.
 * pqc_verify uses this code too (pqc_sign.c), with a key prepared per call.
 *
 * Everything here is public (key, signature, message, and what is derived
 * from them), so no constant-time discipline is needed. The hash uses
 * hash_to_point_vartime, as the Falcon reference implementation's verifier
 * does: its timing depends on SHAKE-256(nonce || message); whoever can see
 * the nonce can see the whole signature and check a guessed message against
 * it anyway, and without the nonce the hash cannot be matched to a message.
 * (PQClean's verify uses the slower hash_to_point_ct; both give the same point.)
 *
 * This file does no floating-point arithmetic.
 */
#include <stdint.h>
#include <string.h>

#include "falcon_fast.h"
#include "inner.h"

#define MAX_N 1024

static int
valid_logn(int logn) {
    return logn == 9 || logn == 10;
}

size_t
pqc_falcon_pk_bytes(int logn) {
    return valid_logn(logn) ? 1 + (((size_t)14 << logn) >> 3) : 0;
}

size_t
pqc_falcon_prepared_bytes(int logn) {
    return valid_logn(logn) ? (size_t)2 << logn : 0;
}

int
pqc_falcon_verify_prepare(int logn, uint8_t *prepared, const uint8_t *pk, size_t pklen) {
    uint16_t *h = (uint16_t *)(void *)prepared;

    if (!valid_logn(logn) || pklen != pqc_falcon_pk_bytes(logn) || pk[0] != logn) {
        return -1;
    }
    if (PQCLEAN_FALCON512_CLEAN_modq_decode(h, (unsigned)logn, pk + 1, pklen - 1) != pklen - 1) {
        return -1;
    }
    PQCLEAN_FALCON512_CLEAN_to_ntt_monty(h, (unsigned)logn);
    return 0;
}

int
pqc_falcon_verify_prepared(int logn, int padded, const uint8_t *sig, size_t siglen,
                           const uint8_t *m, size_t mlen, const uint8_t *prepared) {
    uint16_t hm[MAX_N];
    int16_t s2[MAX_N];
    union {
        uint8_t b[2 * MAX_N];
        uint64_t align_u64;
    } tmp;
    inner_shake256_context sc;
    const uint8_t *sigbuf;
    size_t sigbuflen, v;

    /* Padded: exactly the fixed length; compact: at most the maximum (752 / 1462). */
    v = pqc_falcon_sig_bytes(logn, padded);
    if (v == 0 || (padded ? siglen != v : siglen > v) || siglen <= 1 + PQC_FALCON_NONCE_BYTES
            || sig[0] != 0x30 + logn) {
        return -1;
    }
    sigbuf = sig + 1 + PQC_FALCON_NONCE_BYTES;
    sigbuflen = siglen - 1 - PQC_FALCON_NONCE_BYTES;
    v = PQCLEAN_FALCON512_CLEAN_comp_decode(s2, (unsigned)logn, sigbuf, sigbuflen);
    /* One encoding per signature: a compact one ends where s2 ends, a padded one has only zeros after it. */
    if (v == 0 || (!padded && v != sigbuflen)) {
        return -1;
    }
    while (v < sigbuflen) {
        if (sigbuf[v++] != 0) {
            return -1;
        }
    }

    inner_shake256_init(&sc);
    inner_shake256_inject(&sc, sig + 1, PQC_FALCON_NONCE_BYTES);
    inner_shake256_inject(&sc, m, mlen);
    inner_shake256_flip(&sc);
    PQCLEAN_FALCON512_CLEAN_hash_to_point_vartime(&sc, hm, (unsigned)logn);
    inner_shake256_ctx_release(&sc);

    return PQCLEAN_FALCON512_CLEAN_verify_raw(hm, s2, (const uint16_t *)(const void *)prepared,
            (unsigned)logn, tmp.b) ? 0 : -1;
}
