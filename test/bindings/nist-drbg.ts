// NIST's AES-256 CTR_DRBG as used by the PQC known-answer-test generators
// (PQCgenKAT_kem.c / PQCgenKAT_sign.c; read in PQClean/PQClean test/common/nistkatrng.c
// @585a001fdae86cbe939be0a32e5cb8a3ad4018f3, written here from that description):
// SP 800-90A CTR_DRBG with AES-256, no derivation function, no prediction
// resistance, no reseeding, and one Update after every request. Test-only: it
// exists to reproduce the byte streams those generators feed to randombytes().
//
// Built on node:crypto's AES-256-ECB (one block cipher call per counter block);
// nothing here is secret and nothing here is constant-time.

import { createCipheriv } from 'node:crypto';

const KEY_LEN = 32;
const BLOCK = 16;
const SEED_LEN = KEY_LEN + BLOCK; // 48

/** Adds one to a 128-bit big-endian counter, in place. */
function increment(v: Uint8Array): void {
  for (let j = BLOCK - 1; j >= 0; j--) {
    v[j] = (v[j]! + 1) & 0xff;
    if (v[j] !== 0) return;
  }
}

/** AES-256-ECB of `blocks` (a multiple of 16 bytes) under `key`. */
function aes256Ecb(key: Uint8Array, blocks: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-ecb', key, null);
  cipher.setAutoPadding(false);
  const out = Buffer.concat([cipher.update(blocks), cipher.final()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** `count` successive counter blocks: V+1, V+2, ... (V is advanced past them). */
function counterBlocks(v: Uint8Array, count: number): Uint8Array {
  const blocks = new Uint8Array(count * BLOCK);
  for (let i = 0; i < count; i++) {
    increment(v);
    blocks.set(v, i * BLOCK);
  }
  return blocks;
}

export class NistDrbg {
  private key = new Uint8Array(KEY_LEN);
  private v = new Uint8Array(BLOCK);

  /** Instantiates with 48 bytes of entropy (and an optional 48-byte personalisation string). */
  constructor(entropy: Uint8Array, personalization?: Uint8Array) {
    if (entropy.length !== SEED_LEN) throw new RangeError(`entropy must be ${SEED_LEN} bytes, got ${entropy.length}`);
    if (personalization !== undefined && personalization.length !== SEED_LEN) {
      throw new RangeError(`personalization must be ${SEED_LEN} bytes, got ${personalization.length}`);
    }
    const material = entropy.slice();
    if (personalization) for (let i = 0; i < SEED_LEN; i++) material[i]! ^= personalization[i]!;
    this.update(material);
  }

  /** CTR_DRBG_Update: three counter blocks, XORed with `provided` when given, become Key || V. */
  private update(provided?: Uint8Array): void {
    const temp = aes256Ecb(this.key, counterBlocks(this.v, 3));
    if (provided) for (let i = 0; i < SEED_LEN; i++) temp[i]! ^= provided[i]!;
    this.key = temp.slice(0, KEY_LEN);
    this.v = temp.slice(KEY_LEN, SEED_LEN);
  }

  /** One randombytes(n) call of the NIST generator: n bytes, then an Update. */
  randomBytes(n: number): Uint8Array {
    const blocks = Math.ceil(n / BLOCK);
    const out = aes256Ecb(this.key, counterBlocks(this.v, blocks)).slice(0, n);
    this.update();
    return out;
  }
}

/** The generators' starting entropy: the bytes 0, 1, ..., 47. */
export const KAT_ENTROPY: Uint8Array = Uint8Array.from({ length: SEED_LEN }, (_, i) => i);
