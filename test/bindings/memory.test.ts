// Zeroisation: every region the bindings free is zero when freed (the
// allocator is wrapped to look), the stack a call used is wiped, and after the
// calls no copy of a secret is left anywhere in wasm memory, including when a
// call throws.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PqcError, ae, falcon512, falcon1024, falconPadded512, falconPadded1024, init, mlKem512, mlKem768, mlKem1024, shake256, type AeKey } from '../../bindings/index.js';
import { kmac256 } from '../../bindings/ae.js';
import type { WasmCore } from '../../bindings/core.js';
import { getCore } from '../../bindings/state.js';
import { flipBit, seq } from '../support/helpers.js';
import { coreInitOptions, coreLabel } from '../support/core-module.js';

let core: WasmCore;
let frees: { ptr: number; len: number; nonZero: number }[] = [];
let originalFree: WasmCore['rawFree'];

beforeAll(async () => {
  await init(coreInitOptions());
  core = getCore();
  originalFree = core.rawFree;
  core.rawFree = (ptr, len) => {
    const region = core.heap().subarray(ptr, ptr + len);
    frees.push({ ptr, len, nonZero: region.reduce((n, b) => n + (b !== 0 ? 1 : 0), 0) });
    originalFree(ptr, len);
  };
});

afterEach(() => {
  frees = [];
  vi.restoreAllMocks();
});

/** Runs `body`, then checks every freed region was zero and the unused stack is zero. */
function expectWiped(body: () => void, minFrees: number): void {
  frees = [];
  body();
  expect(frees.length).toBeGreaterThanOrEqual(minFrees);
  expect(frees.filter((f) => f.nonZero > 0)).toEqual([]);
  const { end, current } = core.stackBounds();
  const stack = core.heap().subarray(end, current);
  expect(stack.findIndex((b) => b !== 0)).toBe(-1);
}

/**
 * Verification touches public data only (core.runPublic): it frees nothing per call and its stack is not
 * wiped, but its input region is zeroed after the call (`inputs` are nowhere in memory afterwards), and the
 * next secret operation's wipe covers what it left on the stack (the expectWiped checks that follow every
 * verification here look at the whole stack).
 */
function expectPublic(body: () => void, inputs: Uint8Array[]): void {
  frees = [];
  body();
  expect(frees.filter((f) => f.nonZero > 0)).toEqual([]);
  for (const input of inputs) expectNowhereInMemory(input, 'verification input');
}

/**
 * Fails if any 16-byte window of `secret` (sampled every 8 bytes) is found in wasm memory. Windows of one
 * repeated byte (a padded signature's zero tail) say nothing: zeroed memory is full of them.
 */
function expectNowhereInMemory(secret: Uint8Array, label: string): void {
  const memory = Buffer.from(core.heap().buffer);
  for (let off = 0; off + 16 <= secret.length; off += 8) {
    const window = secret.subarray(off, off + 16);
    if (window.every((b) => b === window[0])) continue;
    const at = memory.indexOf(window);
    expect(at, `${label}[${off}..${off + 16}] found in wasm memory at ${at}`).toBe(-1);
  }
}

describe(`zeroisation (${coreLabel})`, () => {
  it('the allocator wrap sees frees and would catch a region left dirty', () => {
    // Proves the check can fail: free a region without the bindings' wipe.
    const region = core.alloc(64);
    core.heap().fill(0xaa, region.ptr, region.ptr + 64);
    core.rawFree(region.ptr, region.len);
    expect(frees).toHaveLength(1);
    expect(frees[0]!.nonZero).toBe(64);
  });

  it('wipes after ML-KEM keygen, encapsulate and decapsulate', () => {
    for (const kem of [mlKem512, mlKem768, mlKem1024]) {
      let keys = kem.keygen(seq(64, 3));
      expectWiped(() => (keys = kem.keygen(seq(64, 3))), 3);
      let enc = kem.encapsulate(keys.publicKey, seq(32, 9));
      expectWiped(() => (enc = kem.encapsulate(keys.publicKey, seq(32, 9))), 4);
      expectWiped(() => kem.decapsulate(enc.ciphertext, keys.secretKey), 3);
      expectWiped(() => kem.keygen(), 2);
      expectNowhereInMemory(keys.secretKey, `${kem.name} secret key`);
      expectNowhereInMemory(seq(64, 3), `${kem.name} keygen seed`);
      expectNowhereInMemory(new Uint8Array([...enc.sharedSecret, ...enc.sharedSecret]), `${kem.name} shared secret`);
    }
  });

  it('wipes after Falcon keygen and sign, including the SHAKE contexts the C code allocates', () => {
    for (const signer of [falcon512, falcon1024, falconPadded512, falconPadded1024]) {
      let keys = signer.keygen(seq(48, 5));
      expectWiped(() => (keys = signer.keygen(seq(48, 5))), 3);
      expectWiped(() => signer.sign(seq(300), keys.secretKey, seq(88, 1)), 5);
      expectWiped(() => signer.sign(seq(300), keys.secretKey), 4);
      const sig = signer.sign(seq(300), keys.secretKey);
      expectPublic(() => expect(signer.verify(sig, seq(300), keys.publicKey)).toBe(true), [sig]);
      const verifier = signer.verifier(keys.publicKey);
      expectPublic(() => expect(verifier.verify(sig, seq(300))).toBe(true), [sig]);
      verifier.free();
      // The expanded signing key: signing with it wipes, and destroy() zeroes its region.
      let expanded = signer.expand(keys.secretKey);
      expanded.destroy();
      expectWiped(() => (expanded = signer.expand(keys.secretKey)), 1);
      expectWiped(() => expanded.sign(seq(300), seq(88, 1)), 3);
      expectWiped(() => expanded.destroy(), 1);
      expect(frees.some((f) => f.len === signer.lengths.expandedKey)).toBe(true);
      signer.expand(keys.secretKey).destroy();
      expectNowhereInMemory(keys.secretKey, `${signer.name} secret key`);
      expectNowhereInMemory(seq(48, 5), `${signer.name} keygen seed`);
      expectNowhereInMemory(seq(88, 1).subarray(40), `${signer.name} sampler seed`);
    }
  });

  it('wipes after SHAKE-256 (its stack wipe is bounded too, and clears what verifications left), for short and long inputs and outputs', () => {
    // The SDK derives secrets with SHAKE-256 (identity seeds, CA key seeds), so it gets the same checks.
    const secret = seq(200, 11);
    const keys = falcon1024.keygen(seq(48, 9));
    const sig = falcon1024.sign(seq(64), keys.secretKey);
    for (const [len, out] of [[0, 32], [200, 32], [5000, 64], [200, 4096]] as const) {
      expect(falcon1024.verify(sig, seq(64), keys.publicKey)).toBe(true); // leaves public values on the stack
      const input = len <= secret.length ? secret.subarray(0, len) : seq(len, 11);
      let digest: Uint8Array = new Uint8Array();
      expectWiped(() => (digest = shake256(input, out)), 2);
      expect(digest).toHaveLength(out);
      if (out >= 32) expectNowhereInMemory(digest.subarray(0, 32), `SHAKE-256 output (${len} -> ${out})`);
    }
    expectNowhereInMemory(secret, 'SHAKE-256 input');
  });

  it('wipes after the AE (key setup, seal, open accepted and rejected, free) and KMAC-256, also after a verification', () => {
    // seal and open reuse one region (core.runSecret): nothing is freed per call, the region is zeroed.
    const [encKey, macKey, plaintext, aad] = [32, 32, 256, 40].map((n) => crypto.getRandomValues(new Uint8Array(n))) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const nonce = seq(12, 1);
    let key: AeKey | undefined;
    expectWiped(() => (key = ae.key(encKey, macKey)), 1);
    let sealed: Uint8Array = new Uint8Array();
    expectWiped(() => (sealed = key!.seal(nonce, plaintext, aad)), 0);
    expectWiped(() => expect(key!.open(nonce, sealed, aad)).toEqual(plaintext), 0);
    expectWiped(() => expect(key!.open(nonce, flipBit(sealed, 9), aad)).toBeUndefined(), 0);
    const keys = falcon1024.keygen(seq(48, 9));
    const sig = falcon1024.sign(seq(64), keys.secretKey);
    expectPublic(() => expect(falcon1024.verify(sig, seq(64), keys.publicKey)).toBe(true), [sig]);
    expectWiped(() => key!.seal(nonce, plaintext, aad), 0);
    expectWiped(() => kmac256(macKey, plaintext, aad, 32), 2);
    expectNowhereInMemory(plaintext, 'AE plaintext');
    expectNowhereInMemory(sealed.subarray(0, 256).map((c, i) => c ^ plaintext[i]!), 'AES-CTR keystream');
    expectWiped(() => key!.free(), 1);
    expectNowhereInMemory(encKey, 'AE encryption key');
    expectNowhereInMemory(macKey, 'AE MAC key');
  });

  it('a secret operation after the deepest verifications still leaves the whole stack zero', () => {
    // Verification leaves public values on the stack; every secret operation's wipe bound must cover them.
    const m = crypto.getRandomValues(new Uint8Array(500));
    for (const signer of [falcon1024, falconPadded1024]) {
      const keys = signer.keygen(seq(48, 8));
      const sig = signer.sign(m, keys.secretKey);
      const verifier = signer.verifier(keys.publicKey);
      for (const verify of [() => signer.verify(sig, m, keys.publicKey), () => verifier.verify(sig, m)]) {
        expectPublic(() => expect(verify()).toBe(true), [m]);
        expect(core.heap().subarray(core.stackBounds().end, core.stackBounds().current).some((b) => b !== 0)).toBe(true);
        expectWiped(() => mlKem512.encapsulate(mlKem512.keygen(seq(64, 1)).publicKey, seq(32, 2)), 4);
      }
      verifier.free();
    }
  });

  it('wipes when a call throws: corrupt secret key', () => {
    const keys = falcon512.keygen(seq(48, 6));
    const corrupt = keys.secretKey.slice();
    corrupt[0] = 0x42;
    expectWiped(() => expect(() => falcon512.sign(seq(10), corrupt)).toThrow(PqcError), 4);
    expectNowhereInMemory(corrupt.subarray(1), 'corrupt secret key');
  });

  it('wipes and reports when the host has no randomness', () => {
    vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(() => {
      throw new Error('entropy source unavailable');
    });
    let caught: unknown;
    expectWiped(() => {
      try {
        mlKem768.keygen();
      } catch (err) {
        caught = err;
      }
    }, 2);
    expect(caught).toBeInstanceOf(PqcError);
    expect((caught as PqcError).code).toBe('RANDOMNESS');
    const keys = falcon512.keygen(seq(48, 7));
    expectWiped(() => expect(() => falcon512.sign(seq(10), keys.secretKey)).toThrow(/RANDOMNESS/), 4);
    vi.restoreAllMocks();
    // Randomness is back: the core works again.
    expect(falcon512.verify(falcon512.sign(seq(10), keys.secretKey), seq(10), keys.publicKey)).toBe(true);
  });
});
