// init()'s self-test: its known answers (bindings/self-test-vector.ts) recomputed here by code that shares nothing
// with our C or its bindings (@noble/post-quantum for ML-KEM and Falcon, node:crypto and @noble/hashes for the AE),
// and a module that computes something else is refused with SELF_TEST, after which init() can be retried.
// This file calls init() itself, with bad modules first: vitest runs it in a process of its own.

import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { shake256 as nobleShake256 } from '@noble/hashes/sha3.js';
import { kmac256 as nobleKmac256 } from '@noble/hashes/sha3-addons.js';
import { falcon512 as nobleFalcon512 } from '@noble/post-quantum/falcon.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { PqcError, falconBuild, init, isReady, mlKem768 } from '../../bindings/index.js';
import * as vector from '../../bindings/self-test-vector.js';
import { concat, hex, leftEncode, seq } from '../support/helpers.js';
import { nobleSignWithSeed } from '../vectors/format.js';

const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));
const message = new TextEncoder().encode(vector.SELF_TEST_MESSAGE);
const wasmBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../wasm/${name}`, import.meta.url)));

describe('the self-test vectors, recomputed independently', () => {
  it('ML-KEM-768: the ciphertext of seeds 0..63 / 64..95 and SHAKE-256(pk || ss)', () => {
    const keys = ml_kem768.keygen(seq(64));
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(keys.publicKey, seq(32, 64));
    expect(hex(cipherText)).toBe(hex(fromBase64(vector.MLKEM768_CIPHERTEXT)));
    expect(hex(ml_kem768.decapsulate(cipherText, keys.secretKey))).toBe(hex(sharedSecret));
    expect(hex(nobleShake256(concat(keys.publicKey, sharedSecret), { dkLen: 32 }))).toBe(vector.MLKEM768_DIGEST);
  });

  it('the AE: node:crypto AES-256-CTR, then noble KMAC256 over nonce || left_encode(8|aad|) || aad || ciphertext', () => {
    const [encKey, macKey, nonce, aad] = [seq(32), seq(32, 32), seq(12, 64), seq(3, 96)];
    const c = createCipheriv('aes-256-ctr', encKey, concat(nonce, new Uint8Array(4)));
    const ct = new Uint8Array(Buffer.concat([c.update(message), c.final()]));
    const tag = nobleKmac256(macKey, concat(nonce, leftEncode(8 * aad.length), aad, ct), {
      dkLen: 16,
      personalization: new TextEncoder().encode('pqc-iiot/v1/ae'),
    });
    expect(hex(concat(ct, tag))).toBe(vector.AE_SEALED);
  });

  it('Falcon-512: noble derives the public key from seed 0..47, signs the same bytes with seed 0..87, and verifies', () => {
    const keys = nobleFalcon512.keygen(seq(48));
    expect(hex(keys.publicKey)).toBe(hex(fromBase64(vector.FALCON512_PUBLIC_KEY)));
    const signature = fromBase64(vector.FALCON512_SIGNATURE);
    expect(hex(nobleSignWithSeed(nobleFalcon512, message, keys.secretKey, seq(88)))).toBe(hex(signature));
    expect(nobleFalcon512.verify(signature, message, keys.publicKey)).toBe(true);
  });
});

/** The offsets of ML-KEM's NTT twiddle table (zetas[0..3] = -1044, -758, -359, -1517, int16 little-endian). */
function zetasOffsets(bytes: Uint8Array): number[] {
  const pattern = Buffer.from([0xec, 0xfb, 0x0a, 0xfd, 0x99, 0xfe, 0x13, 0xfa]);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const found: number[] = [];
  for (let i = buf.indexOf(pattern); i >= 0; i = buf.indexOf(pattern, i + 1)) found.push(i);
  return found;
}

describe('init() refuses a module that computes something else', () => {
  it('rejects a module with one NTT constant changed, then one that is the other Falcon build, then loads the right one', async () => {
    const corrupt = wasmBytes('pqc.wasm');
    const offsets = zetasOffsets(corrupt);
    expect(offsets.length, 'the zetas table is in the data segment').toBeGreaterThan(0);
    for (const at of offsets) corrupt[at + 10]! ^= 0x01; // zetas[5]: the module stays valid, its NTT does not
    const first = await init({ wasm: corrupt }).catch((err: unknown) => err);
    expect(first).toBeInstanceOf(PqcError);
    expect((first as PqcError).code).toBe('SELF_TEST');
    expect((first as PqcError).message).toMatch(/ML-KEM-768 known answer.*corrupt or was built from other sources/);
    expect(isReady()).toBe(false);
    expect(() => mlKem768.keygen()).toThrow(/not initialised/);

    const wrongBuild = await init({ wasm: wasmBytes('pqc-strict.wasm'), falcon: 'fast' }).catch((err: unknown) => err);
    expect((wrongBuild as PqcError).code).toBe('SELF_TEST');
    expect((wrongBuild as PqcError).message).toMatch(/not the fast Falcon build/);
    expect(isReady()).toBe(false);

    await init({ wasm: wasmBytes('pqc.wasm') });
    expect(isReady()).toBe(true);
    expect(falconBuild()).toBe('fast');
    const keys = mlKem768.keygen(seq(64));
    expect(hex(mlKem768.decapsulate(fromBase64(vector.MLKEM768_CIPHERTEXT), keys.secretKey))).toBe(
      hex(ml_kem768.decapsulate(fromBase64(vector.MLKEM768_CIPHERTEXT), ml_kem768.keygen(seq(64)).secretKey)),
    );
  });
});
