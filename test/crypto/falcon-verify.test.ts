// The protocol's Falcon-512 verification with prepared keys (src/crypto/falcon-verify.ts)
// answers exactly as the bindings' plain verify, keeps one prepared key per public-key
// array, and does not trust a key array changed in place.
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512, init } from '../../bindings/index.js';
import { verifyFalcon512 } from '../../src/crypto/falcon-verify.js';

beforeAll(async () => {
  await init();
});

describe('verifyFalcon512 (prepared keys)', () => {
  it('agrees with falcon512.verify on valid, tampered and wrong-key signatures', () => {
    const a = falcon512.keygen();
    const b = falcon512.keygen();
    const msg = new TextEncoder().encode('pqc-iiot prepared verification');
    const sig = falcon512.sign(msg, a.secretKey);
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [[sig, msg, a.publicKey], [sig, msg, b.publicKey], [sig, msg.subarray(1), a.publicKey], [sig.subarray(0, sig.length - 1), msg, a.publicKey]];
    for (let i = 0; i < sig.length; i += 37) {
      const t = sig.slice();
      t[i]! ^= 0x10;
      cases.push([t, msg, a.publicKey]);
    }
    for (const [s, m, pk] of cases) expect(verifyFalcon512(s, m, pk)).toBe(falcon512.verify(s, m, pk));
    expect(verifyFalcon512(sig, msg, a.publicKey)).toBe(true);
  });

  it('a public-key array changed in place is prepared again, not served from the cache', () => {
    const a = falcon512.keygen();
    const b = falcon512.keygen();
    const msg = new Uint8Array([1, 2, 3]);
    const sigA = falcon512.sign(msg, a.secretKey);
    const sigB = falcon512.sign(msg, b.secretKey);
    const key = a.publicKey.slice();
    expect(verifyFalcon512(sigA, msg, key)).toBe(true);
    key.set(b.publicKey);
    expect(verifyFalcon512(sigA, msg, key)).toBe(false);
    expect(verifyFalcon512(sigB, msg, key)).toBe(true);
  });
});
