// Thin wrappers over WebCrypto (globalThis.crypto.subtle): AES-256-GCM with
// associated data, HKDF-SHA-256, SHA-256 and X25519 (the one X25519 of the
// SDK: identities and the hybrid KEM both use it). No primitive is written
// here; these only fix the parameters, convert to Uint8Array, wipe the
// intermediate buffers they own, and turn an authentication failure into a
// SecurityError('DECRYPT_FAILED').

import { abytes, aint } from '../../bindings/assert-sdk.js';
import { SecurityError } from '../errors.js';

export const AES_KEY_BYTES = 32;
export const AES_NONCE_BYTES = 12;
export const AES_TAG_BYTES = 16;
export const X25519_BYTES = 32;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available: a secure context (https, localhost) or Node >= 20 is required');
  return s;
}

// WebCrypto's typings want ArrayBuffer-backed views; ours always are.
const buf = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>;

/** SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', buf(data)));
}

/**
 * HKDF-SHA-256 (RFC 5869): Extract(salt, ikm) then Expand(info, length).
 * An empty salt means HashLen zero bytes, as the RFC says.
 */
export async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  aint(length, 1, 255 * 32, 'HKDF length'); // RFC 5869: at most 255 blocks of SHA-256
  const base = await subtle().importKey('raw', buf(ikm), 'HKDF', false, ['deriveBits']);
  const bits = await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: buf(salt), info: buf(info) }, base, length * 8);
  return new Uint8Array(bits);
}

/** Imports a 32-byte AES-256-GCM key, non-extractable (the CryptoKey can be cached; wipe `raw` yourself). */
export async function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  abytes(raw, AES_KEY_BYTES, 'AES key');
  return subtle().importKey('raw', buf(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/** AES-256-GCM encryption: ciphertext || 16-byte tag. `nonce` must never repeat under `key`. */
export async function aesGcmSeal(key: CryptoKey, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  abytes(nonce, AES_NONCE_BYTES, 'nonce');
  const out = await subtle().encrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: 128 }, key, buf(plaintext));
  return new Uint8Array(out);
}

/**
 * AES-256-GCM decryption and verification.
 * @throws SecurityError DECRYPT_FAILED for a wrong key, nonce, AAD or a modified ciphertext/tag.
 */
export async function aesGcmOpen(key: CryptoKey, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  abytes(nonce, AES_NONCE_BYTES, 'nonce');
  if (ciphertext.length < AES_TAG_BYTES) throw new SecurityError('DECRYPT_FAILED', { detail: 'ciphertext shorter than the tag' });
  try {
    const out = await subtle().decrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: 128 }, key, buf(ciphertext));
    return new Uint8Array(out);
  } catch {
    throw new SecurityError('DECRYPT_FAILED');
  }
}

// X25519 key pairs. WebCrypto imports a private scalar only as PKCS#8 or JWK,
// so a 32-byte scalar is wrapped in the fixed 16-byte PKCS#8 prefix of RFC 8410
// (an encoding, not a primitive). A public key is computed as X25519(k, 9)
// (RFC 7748, section 6.1), so a private key never has to be extractable, nor
// exported as a JWK string, to learn its public half.
const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;

/** PrivateKeyInfo { v1, id-X25519 (1.3.101.110), OCTET STRING { OCTET STRING (32) } } minus the key. */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

export interface X25519KeyPair {
  /** The raw 32-byte public key (u-coordinate). */
  readonly publicKey: Uint8Array;
  /** The private key; extractable only if it was created or imported extractable. */
  readonly privateKey: CryptoKey;
}

/** Imports a raw 32-byte X25519 private key (scalar; WebCrypto clamps it on use), non-extractable unless asked. */
export async function x25519ImportPrivate(raw: Uint8Array, extractable = false): Promise<CryptoKey> {
  abytes(raw, X25519_BYTES, 'X25519 private key');
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + X25519_BYTES);
  try {
    pkcs8.set(PKCS8_PREFIX);
    pkcs8.set(raw, PKCS8_PREFIX.length);
    return await subtle().importKey('pkcs8', buf(pkcs8), { name: 'X25519' }, extractable, ['deriveBits']);
  } finally {
    pkcs8.fill(0); // held a copy of the private key
  }
}

/** The 32-byte private scalar of an extractable key (the caller wipes it). */
export async function x25519ExportPrivate(privateKey: CryptoKey): Promise<Uint8Array> {
  if (!privateKey.extractable) throw new TypeError('the X25519 private key is not extractable');
  const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', privateKey));
  try {
    const prefixOk = pkcs8.length === PKCS8_PREFIX.length + X25519_BYTES && PKCS8_PREFIX.every((b, i) => pkcs8[i] === b);
    if (!prefixOk) throw new Error(`unexpected PKCS#8 form for an X25519 key (${pkcs8.length} bytes)`);
    return pkcs8.slice(PKCS8_PREFIX.length);
  } finally {
    pkcs8.fill(0); // held the scalar
  }
}

async function importPublic(publicKey: Uint8Array): Promise<CryptoKey> {
  abytes(publicKey, X25519_BYTES, 'X25519 public key');
  return subtle().importKey('raw', buf(publicKey), { name: 'X25519' }, true, []);
}

/**
 * The X25519 shared secret of `privateKey` and the raw `publicKey`.
 * @throws SecurityError DECRYPT_FAILED if WebCrypto refuses (e.g. a small-order public key giving all zeros).
 */
export async function x25519Derive(privateKey: CryptoKey, publicKey: Uint8Array): Promise<Uint8Array> {
  const pub = await importPublic(publicKey);
  try {
    return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: pub }, privateKey, 256));
  } catch {
    throw new SecurityError('DECRYPT_FAILED', { detail: 'X25519 key agreement failed' });
  }
}

/**
 * A key pair: from a 32-byte `seed` (used as the raw private key: known-answer
 * tests, identities derived from a seed) or fresh from the platform. The
 * private key is non-extractable unless `extractable`.
 */
export async function x25519Generate(seed?: Uint8Array, extractable = false): Promise<X25519KeyPair> {
  if (seed === undefined) {
    const pair = (await subtle().generateKey({ name: 'X25519' }, extractable, ['deriveBits'])) as CryptoKeyPair;
    const publicKey = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
    return { publicKey, privateKey: pair.privateKey };
  }
  const privateKey = await x25519ImportPrivate(seed, extractable);
  return { publicKey: await x25519PublicFromPrivate(privateKey), privateKey };
}

/** The raw public key of a private key (X25519 with the base point). */
export async function x25519PublicFromPrivate(privateKey: CryptoKey): Promise<Uint8Array> {
  return x25519Derive(privateKey, BASE_POINT);
}
