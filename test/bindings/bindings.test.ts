// Round trips, argument checks and negative cases for every parameter set.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  PqcError,
  falcon512,
  falcon1024,
  falconPadded512,
  falconPadded1024,
  init,
  isReady,
  mlKem512,
  mlKem768,
  mlKem1024,
  shake256,
  shake256Public,
} from '../../bindings/index.js';
import { flipBit, hex, seq } from '../support/helpers.js';

const kems = [mlKem512, mlKem768, mlKem1024];
const signers = [falcon512, falcon1024, falconPadded512, falconPadded1024];

beforeAll(async () => {
  await init();
});

describe('init', () => {
  it('is idempotent and safe to call concurrently', async () => {
    await Promise.all([init(), init(), init()]);
    expect(isReady()).toBe(true);
  });
});

describe.each(kems)('$name', (kem) => {
  const L = kem.lengths;

  it('round-trips and gives the lengths it declares', () => {
    const { publicKey, secretKey } = kem.keygen();
    expect(publicKey.length).toBe(L.publicKey);
    expect(secretKey.length).toBe(L.secretKey);
    const { ciphertext, sharedSecret } = kem.encapsulate(publicKey);
    expect(ciphertext.length).toBe(L.ciphertext);
    expect(sharedSecret.length).toBe(32);
    expect(hex(kem.decapsulate(ciphertext, secretKey))).toBe(hex(sharedSecret));
  });

  it('is deterministic with seeds and random without', () => {
    const a = kem.keygen(seq(64));
    const b = kem.keygen(seq(64));
    expect(hex(a.publicKey)).toBe(hex(b.publicKey));
    expect(hex(kem.keygen().publicKey)).not.toBe(hex(kem.keygen().publicKey));
    const e1 = kem.encapsulate(a.publicKey, seq(32, 7));
    const e2 = kem.encapsulate(a.publicKey, seq(32, 7));
    expect(hex(e1.ciphertext)).toBe(hex(e2.ciphertext));
    expect(hex(kem.encapsulate(a.publicKey).sharedSecret)).not.toBe(hex(kem.encapsulate(a.publicKey).sharedSecret));
  });

  it('implicitly rejects a tampered ciphertext with an unrelated secret', () => {
    const { publicKey, secretKey } = kem.keygen();
    const { ciphertext, sharedSecret } = kem.encapsulate(publicKey);
    for (const bit of [0, 8 * 100 + 3, 8 * L.ciphertext - 1]) {
      const other = kem.decapsulate(flipBit(ciphertext, bit), secretKey);
      expect(other.length).toBe(32);
      expect(hex(other)).not.toBe(hex(sharedSecret));
    }
  });

  it('never mutates its inputs', () => {
    const seed = seq(64);
    const { publicKey, secretKey } = kem.keygen(seed);
    expect(hex(seed)).toBe(hex(seq(64)));
    const [pk, sk] = [publicKey.slice(), secretKey.slice()];
    const { ciphertext } = kem.encapsulate(publicKey);
    const ct = ciphertext.slice();
    kem.decapsulate(ciphertext, secretKey);
    expect([hex(publicKey), hex(secretKey), hex(ciphertext)]).toEqual([hex(pk), hex(sk), hex(ct)]);
  });

  it('throws TypeError and RangeError naming the argument', () => {
    const { publicKey, secretKey } = kem.keygen();
    expect(() => kem.encapsulate('pk' as unknown as Uint8Array)).toThrow(new TypeError('publicKey must be a Uint8Array, got string'));
    expect(() => kem.encapsulate(publicKey.subarray(1))).toThrow(
      new RangeError(`publicKey must be ${L.publicKey} bytes, got ${L.publicKey - 1}`),
    );
    expect(() => kem.keygen(seq(63))).toThrow(RangeError);
    expect(() => kem.encapsulate(publicKey, seq(31))).toThrow(/seed must be 32 bytes/);
    expect(() => kem.decapsulate(new Uint8Array(L.ciphertext), secretKey.subarray(0, 10))).toThrow(/secretKey must be/);
    expect(() => kem.decapsulate([1, 2] as unknown as Uint8Array, secretKey)).toThrow(TypeError);
    expect(() => kem.decapsulate(null as unknown as Uint8Array, secretKey)).toThrow(/got null/);
  });
});

describe.each(signers)('$name', (signer) => {
  const L = signer.lengths;
  const { publicKey, secretKey } = { publicKey: new Uint8Array(), secretKey: new Uint8Array() };
  const keys = { publicKey, secretKey };
  beforeAll(() => Object.assign(keys, signer.keygen(seq(48, 1))));

  it('signs and verifies, with the declared lengths', () => {
    expect(keys.publicKey.length).toBe(L.publicKey);
    expect(keys.secretKey.length).toBe(L.secretKey);
    for (const message of [new Uint8Array(0), seq(1), seq(256), seq(70_000)]) {
      const sig = signer.sign(message, keys.secretKey);
      if (signer.padded) expect(sig.length).toBe(L.signature);
      else expect(sig.length).toBeLessThanOrEqual(L.signature);
      expect(signer.verify(sig, message, keys.publicKey)).toBe(true);
    }
  });

  it('is deterministic with a seed', () => {
    const m = seq(33);
    expect(hex(signer.sign(m, keys.secretKey, seq(88)))).toBe(hex(signer.sign(m, keys.secretKey, seq(88))));
    expect(hex(signer.sign(m, keys.secretKey))).not.toBe(hex(signer.sign(m, keys.secretKey)));
  });

  it('rejects a tampered signature, message or key, and malformed signatures, without throwing', () => {
    const m = seq(100);
    const sig = signer.sign(m, keys.secretKey);
    for (const bit of [0, 8 * 5 + 1, 8 * 41 + 2, 8 * (sig.length - 20)]) {
      expect(signer.verify(flipBit(sig, bit), m, keys.publicKey)).toBe(false);
    }
    expect(signer.verify(sig, flipBit(m, 17), keys.publicKey)).toBe(false);
    expect(signer.verify(sig, m.subarray(1), keys.publicKey)).toBe(false);
    expect(signer.verify(sig, m, flipBit(keys.publicKey, 8 * 10))).toBe(false);
    expect(signer.verify(sig, m, signer.keygen().publicKey)).toBe(false);
    expect(signer.verify(new Uint8Array(0), m, keys.publicKey)).toBe(false);
    expect(signer.verify(sig.subarray(0, sig.length - 1), m, keys.publicKey)).toBe(false);
    expect(signer.verify(new Uint8Array(L.signature + 1), m, keys.publicKey)).toBe(false);
    expect(signer.verify(new Uint8Array(L.signature), m, keys.publicKey)).toBe(false);
  });

  it('throws typed errors for wrong types and key lengths', () => {
    const m = seq(10);
    expect(() => signer.sign('hello' as unknown as Uint8Array, keys.secretKey)).toThrow(/message must be a Uint8Array/);
    expect(() => signer.sign(m, keys.secretKey.subarray(1))).toThrow(RangeError);
    expect(() => signer.sign(m, keys.secretKey, seq(87))).toThrow(/seed must be 88 bytes/);
    expect(() => signer.keygen(seq(47))).toThrow(/seed must be 48 bytes/);
    expect(() => signer.verify({} as Uint8Array, m, keys.publicKey)).toThrow(/signature must be a Uint8Array, got Object/);
    expect(() => signer.verify(new Uint8Array(10), m, keys.publicKey.subarray(2))).toThrow(RangeError);
  });

  it('reports a corrupt secret key as a PqcError, not a crash', () => {
    const bad = keys.secretKey.slice();
    bad[0] = 0;
    expect(() => signer.sign(seq(4), bad)).toThrow(PqcError);
    // The core is still usable afterwards.
    expect(signer.verify(signer.sign(seq(4), keys.secretKey), seq(4), keys.publicKey)).toBe(true);
  });
});

describe('shake256Public', () => {
  it('equals shake256 of the concatenation, for empty, small and large parts', () => {
    const parts = [new Uint8Array(0), seq(1), seq(135), seq(136), seq(70_000)];
    for (let n = 0; n <= parts.length; n++) {
      const chosen = parts.slice(0, n);
      const joined = new Uint8Array(chosen.reduce((a, p) => a + p.length, 0));
      let at = 0;
      for (const p of chosen) {
        joined.set(p, at);
        at += p.length;
      }
      for (const outLen of [1, 32, 200]) expect(hex(shake256Public(chosen, outLen))).toBe(hex(shake256(joined, outLen)));
    }
    expect(() => shake256Public([seq(4)], 0)).toThrow(RangeError);
    expect(() => shake256Public(['x' as unknown as Uint8Array])).toThrow(TypeError);
  });
});
