// The hybrid KEM: ML-KEM-768 and X25519 combined in the style of X-Wing
// (draft-connolly-cfrg-xwing-kem), with HKDF-SHA-256 as the combiner. The
// shared secret stays secret as long as EITHER component does: ML-KEM-768
// against a quantum adversary, X25519 against a flaw in the young ML-KEM code.
//
//   ss_M, ct_M = ML-KEM-768.Encaps(pk_M)
//   e, ct_X    = fresh X25519 key pair (ct_X = X25519(e, 9), the ephemeral public key)
//   ss_X       = X25519(e, pk_X)
//   ikm        = ss_M (32) || ss_X (32) || ct_X (32) || pk_X (32) || SHA-256(ct_M) (32)
//   ss         = HKDF-SHA-256(salt = empty, ikm, info = LABELS.hybridKem, 32)
//
// ct_X and pk_X are in the combiner because X25519 alone is not a binding KEM
// (X-Wing's argument); ML-KEM's ciphertext enters as its SHA-256 so a change to
// it changes ss even though ML-KEM's implicit rejection already does. All
// inputs are fixed-length, so the concatenation is unambiguous.

import { abytes } from '../../bindings/assert-sdk.js';
import { mlKem768 } from '../../bindings/index.js';
import { concatBytes } from '../wire/bytes.js';
import { LABELS } from '../wire/labels.js';
import type { RandomSource } from './random.js';
import { X25519_BYTES, hkdf, sha256, x25519Derive, x25519Generate, x25519PublicFromPrivate } from './webcrypto.js';

export const HYBRID_LENGTHS = Object.freeze({
  mlKemPublicKey: mlKem768.lengths.publicKey, // 1184
  mlKemCiphertext: mlKem768.lengths.ciphertext, // 1088
  x25519PublicKey: X25519_BYTES, // 32
  x25519Ciphertext: X25519_BYTES, // 32
  sharedSecret: 32,
});

/** A recipient's public keys (from its certificate). */
export interface HybridPublicKey {
  readonly mlKem: Uint8Array;
  readonly x25519: Uint8Array;
}

/** A recipient's secret keys (from its Identity). */
export interface HybridSecretKey {
  readonly mlKemSecretKey: Uint8Array;
  readonly x25519PrivateKey: CryptoKey;
  /** The recipient's own X25519 public key (the combiner needs it); computed from the private key when absent. */
  readonly x25519PublicKey?: Uint8Array;
}

export interface HybridEncapsulation {
  /** The ephemeral X25519 public key, 32 bytes. */
  readonly x25519Ciphertext: Uint8Array;
  /** The ML-KEM-768 ciphertext, 1088 bytes. */
  readonly mlKemCiphertext: Uint8Array;
  /** 32 bytes; the caller wipes it. */
  readonly sharedSecret: Uint8Array;
}

async function combine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array, ctM: Uint8Array): Promise<Uint8Array> {
  const ikm = concatBytes(ssM, ssX, ctX, pkX, await sha256(ctM));
  try {
    return await hkdf(ikm, new Uint8Array(0), LABELS.hybridKem, HYBRID_LENGTHS.sharedSecret);
  } finally {
    ikm.fill(0); // holds both component secrets
  }
}

/**
 * Encapsulates a fresh shared secret to `recipient`. With `random`, the X25519
 * ephemeral key (32 bytes) and the ML-KEM encapsulation seed (32 bytes) are
 * drawn from it, in that order (known-answer vectors); otherwise from the platform.
 */
export async function hybridEncapsulate(recipient: HybridPublicKey, random?: RandomSource): Promise<HybridEncapsulation> {
  abytes(recipient.mlKem, HYBRID_LENGTHS.mlKemPublicKey, 'ML-KEM public key');
  abytes(recipient.x25519, HYBRID_LENGTHS.x25519PublicKey, 'X25519 public key');
  const xSeed = random?.(X25519_BYTES);
  const mSeed = random?.(32);
  let ssM: Uint8Array | undefined;
  let ssX: Uint8Array | undefined;
  try {
    const eph = await x25519Generate(xSeed);
    ssX = await x25519Derive(eph.privateKey, recipient.x25519);
    const enc = mlKem768.encapsulate(recipient.mlKem, mSeed);
    ssM = enc.sharedSecret;
    const sharedSecret = await combine(ssM, ssX, eph.publicKey, recipient.x25519, enc.ciphertext);
    return { x25519Ciphertext: eph.publicKey, mlKemCiphertext: enc.ciphertext, sharedSecret };
  } finally {
    // Component secrets and the seeds that determine them.
    ssM?.fill(0);
    ssX?.fill(0);
    xSeed?.fill(0);
    mSeed?.fill(0);
  }
}

/**
 * Recovers the shared secret. A modified ciphertext gives an unrelated secret
 * (ML-KEM's implicit rejection) which the AEAD then refuses.
 * @throws SecurityError DECRYPT_FAILED if X25519 refuses the ephemeral key (small order).
 */
export async function hybridDecapsulate(
  x25519Ciphertext: Uint8Array,
  mlKemCiphertext: Uint8Array,
  secretKey: HybridSecretKey,
): Promise<Uint8Array> {
  abytes(x25519Ciphertext, HYBRID_LENGTHS.x25519Ciphertext, 'X25519 ciphertext');
  abytes(mlKemCiphertext, HYBRID_LENGTHS.mlKemCiphertext, 'ML-KEM ciphertext');
  const pkX = secretKey.x25519PublicKey ?? (await x25519PublicFromPrivate(secretKey.x25519PrivateKey));
  let ssM: Uint8Array | undefined;
  let ssX: Uint8Array | undefined;
  try {
    ssX = await x25519Derive(secretKey.x25519PrivateKey, x25519Ciphertext);
    ssM = mlKem768.decapsulate(mlKemCiphertext, secretKey.mlKemSecretKey);
    return await combine(ssM, ssX, x25519Ciphertext, pkX, mlKemCiphertext);
  } finally {
    ssM?.fill(0);
    ssX?.fill(0);
  }
}
