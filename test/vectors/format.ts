// The format of the fixed test vectors in this folder: one source of truth for
// scripts/make-vectors.ts (which writes them) and test/bindings/kat.test.ts
// (which reads them). All byte strings are lowercase hex; secret keys are
// stored as SHA-256.

import { createHash } from 'node:crypto';
import type { falcon512 as nobleFalcon512 } from '@noble/post-quantum/falcon.js';

export interface KemVector {
  /** d || z, 64 bytes. */
  readonly keygenSeed: string;
  /** m, 32 bytes. */
  readonly encapsSeed: string;
  readonly publicKey: string;
  readonly secretKeySha256: string;
  readonly ciphertext: string;
  readonly sharedSecret: string;
  /** A bit of `ciphertext` to flip, and the implicit-rejection secret decapsulation then gives. */
  readonly tamperBit: number;
  readonly rejectedSharedSecret: string;
}

export interface SignerVector {
  /** 48 bytes. */
  readonly keygenSeed: string;
  /** 88 bytes: the 40-byte nonce, then the 48-byte sampler seed. */
  readonly signSeed: string;
  readonly message: string;
  readonly publicKey: string;
  readonly secretKeySha256: string;
  /** Detached, PQClean format: header byte, nonce, compressed signature (padded forms: zero-padded). */
  readonly signature: string;
}

export interface VectorFile<V> {
  readonly about: string;
  /** Parameter-set name (as in the bindings' `name`) to its cases. */
  readonly sets: Readonly<Record<string, readonly V[]>>;
}

export const KEM_VECTORS_FILE = new URL('./ml-kem.json', import.meta.url);
export const SIGNER_VECTORS_FILE = new URL('./falcon.json', import.meta.url);

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

export function fromHex(text: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) throw new SyntaxError(`not lowercase hex of whole bytes: ${text.slice(0, 20)}...`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Deterministic test bytes: SHAKE-256 of a label (node:crypto, independent of the wasm core). */
export function labelBytes(label: string, length: number): Uint8Array {
  if (length === 0) return new Uint8Array(0);
  return new Uint8Array(createHash('shake256', { outputLength: length }).update(label).digest());
}

/** A copy of `bytes` with bit `bit` flipped (bit 0 = least significant bit of byte 0). */
export function withBitFlipped(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/**
 * A randomness source that serves exactly `bytes`, in order (for @noble/post-quantum's
 * Falcon `random` hook, which asks for the 40-byte nonce, then the 48-byte sampler seed).
 * `left()` says how many bytes were not asked for.
 */
export function scriptedRandom(bytes: Uint8Array): { random: (length?: number) => Uint8Array; left: () => number } {
  let offset = 0;
  return {
    random(length = 0) {
      if (offset + length > bytes.length) throw new RangeError(`scripted randomness exhausted: ${length} asked, ${bytes.length - offset} left`);
      offset += length;
      return bytes.slice(offset - length, offset);
    },
    left: () => bytes.length - offset,
  };
}

type NobleFalcon = typeof nobleFalcon512;
type NobleFalconSign = (message: Uint8Array, secretKey: Uint8Array, opts: { random: (length?: number) => Uint8Array }) => Uint8Array;

/**
 * A detached signature from @noble/post-quantum's Falcon with the randomness fixed to `seed`
 * (88 bytes: nonce, then sampler seed). noble's sign() reads the same `random` hook as its
 * attached.seal(); its .d.ts declares the hook only on seal, hence the cast. Throws unless
 * noble used exactly the 88 bytes.
 */
export function nobleSignWithSeed(noble: NobleFalcon, message: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): Uint8Array {
  const rnd = scriptedRandom(seed);
  const sign = noble.sign as unknown as NobleFalconSign;
  const signature = sign(message, secretKey, { random: rnd.random });
  if (rnd.left() !== 0) throw new Error(`noble used ${seed.length - rnd.left()} of the ${seed.length} seed bytes`);
  return signature;
}
