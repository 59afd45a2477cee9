// The fast Falcon build (wasm f64) against the strict one (PQClean's integer
// emulation), in one process: byte-identical keys and signatures for many
// random seeds, the expanded-key path identical to the plain one, and the
// signatures verify under the clean verifier and under @noble/post-quantum.
// FALCON_EXACT_RUNS sets the number of Falcon-512 signing seeds (default 2,000; the other sets scale down).
import { falcon512 as nobleFalcon512, falcon1024 as nobleFalcon1024 } from '@noble/post-quantum/falcon.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon1024, falcon512, falconBuild, falconPadded1024, falconPadded512, init, type Signer } from '../../bindings/index.js';
import { WasmCore } from '../../bindings/core.js';
import { check } from '../../bindings/errors.js';
import { compileWasm } from '../../bindings/loader.js';
import { hex } from '../support/helpers.js';

const runs = Number(process.env.FALCON_EXACT_RUNS ?? 2000);
let strict: WasmCore;

/** Deterministic pseudo-random bytes (a test-only xorshift stream; not for keys outside tests). */
function bytes(n: number, seed: number): Uint8Array {
  let x = (seed * 2654435761) >>> 0 || 1;
  return Uint8Array.from({ length: n }, () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x & 0xff;
  });
}

function strictKeygen(alg: number, L: Signer['lengths'], seed: Uint8Array): { pk: Uint8Array; sk: Uint8Array } {
  return strict.run('strict keygen', (scratch) => {
    const pk = scratch(L.publicKey);
    const sk = scratch(L.secretKey);
    const sd = scratch(seed.length);
    strict.heap().set(seed, sd.ptr);
    check(strict.fn.pqc_sign_keypair_derand(alg, pk.ptr, sk.ptr, sd.ptr), 'strict keygen');
    return { pk: strict.take(pk), sk: strict.take(sk) };
  });
}

function strictSign(alg: number, L: Signer['lengths'], message: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): Uint8Array {
  return strict.run('strict sign', (scratch) => {
    const sig = scratch(L.signature);
    const len = scratch(4);
    const m = scratch(message.length);
    const sk = scratch(L.secretKey);
    const sd = scratch(seed.length);
    strict.heap().set(message, m.ptr);
    strict.heap().set(secretKey, sk.ptr);
    strict.heap().set(seed, sd.ptr);
    check(strict.fn.pqc_sign_derand(alg, sig.ptr, len.ptr, m.ptr, message.length, sk.ptr, sd.ptr), 'strict sign');
    return strict.take(sig, strict.readU32(len.ptr));
  });
}

beforeAll(async () => {
  await init();
  strict = await WasmCore.instantiate(await compileWasm(undefined, 'strict'));
});

const cases: [Signer, number, number, typeof nobleFalcon512 | undefined][] = [
  [falcon512, 16, runs, nobleFalcon512],
  [falcon1024, 17, Math.ceil(runs / 3), nobleFalcon1024],
  [falconPadded512, 18, Math.ceil(runs / 6), undefined],
  [falconPadded1024, 19, Math.ceil(runs / 12), undefined],
];

describe('fast (wasm f64) Falcon', () => {
  it('is the build loaded by default, and the strict module is the emulated one', () => {
    expect(falconBuild()).toBe('fast');
    expect(strict.fn.pqc_falcon_native_fp()).toBe(0);
  });

  describe.each(cases)('%s', (signer, alg, signRuns, noble) => {
    const L = signer.lengths;
    it(`gives byte-identical keys and signatures to the emulated build (${signRuns} signing seeds)`, () => {
      const keys = Array.from({ length: 8 }, (_, i) => {
        const seed = bytes(48, 1000 + i);
        const fast = signer.keygen(seed);
        const slow = strictKeygen(alg, L, seed);
        expect(hex(fast.publicKey)).toBe(hex(slow.pk));
        expect(hex(fast.secretKey)).toBe(hex(slow.sk));
        return { ...fast, expanded: signer.expand(fast.secretKey) };
      });
      try {
        for (let i = 0; i < signRuns; i++) {
          const k = keys[i % keys.length]!;
          const message = bytes(1 + (i % 97), 5000 + i);
          const seed = bytes(88, 9000 + i);
          const dyn = signer.sign(message, k.secretKey, seed);
          const tree = k.expanded.sign(message, seed);
          const emulated = strictSign(alg, L, message, k.secretKey, seed);
          if (hex(dyn) !== hex(emulated) || hex(tree) !== hex(emulated)) {
            throw new Error(`${signer.name}: seed ${i} differs (dyn ${hex(dyn) === hex(emulated)}, tree ${hex(tree) === hex(emulated)})`);
          }
          if (i % 50 === 0) {
            expect(signer.verify(tree, message, k.publicKey)).toBe(true);
            if (noble) expect(noble.verify(tree, message, k.publicKey)).toBe(true);
          }
        }
      } finally {
        for (const k of keys) k.expanded.destroy();
      }
    }, 120_000);
  });

  it('expanded keys sign with fresh randomness, refuse use after destroy, and check their arguments', () => {
    const { publicKey, secretKey } = falcon512.keygen();
    const key = falcon512.expand(secretKey);
    const m = bytes(64, 1);
    const a = key.sign(m);
    const b = key.sign(m);
    expect(hex(a)).not.toBe(hex(b));
    expect(falcon512.verify(a, m, publicKey) && falcon512.verify(b, m, publicKey)).toBe(true);
    expect(() => key.sign('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => key.sign(m, bytes(87, 1))).toThrow(RangeError);
    key.destroy();
    expect(key.destroyed).toBe(true);
    expect(() => key.sign(m)).toThrow(/destroyed/);
    expect(() => falcon512.expand(secretKey.subarray(1))).toThrow(RangeError);
    const corrupt = secretKey.slice();
    corrupt[0] = 0;
    expect(() => falcon512.expand(corrupt)).toThrow(/expand failed/);
  });
});
