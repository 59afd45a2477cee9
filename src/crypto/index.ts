// Cryptographic building blocks of the protocol: WebCrypto wrappers, the
// hybrid ML-KEM-768 + X25519 KEM, and randomness sources. (Byte comparison and
// concatenation are not cryptography: src/wire/bytes.ts.)
export {
  AES_KEY_BYTES,
  AES_NONCE_BYTES,
  AES_TAG_BYTES,
  X25519_BYTES,
  aesGcmOpen,
  aesGcmSeal,
  hkdf,
  importAesKey,
  sha256,
  x25519Derive,
  x25519ExportPrivate,
  x25519Generate,
  x25519ImportPrivate,
  x25519PublicFromPrivate,
  type X25519KeyPair,
} from './webcrypto.js';
export {
  HYBRID_LENGTHS,
  hybridDecapsulate,
  hybridEncapsulate,
  type HybridEncapsulation,
  type HybridPublicKey,
  type HybridSecretKey,
} from './hybrid-kem.js';
export { seededRandom, systemRandom, type RandomSource } from './random.js';
