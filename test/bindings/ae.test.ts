// The AE (AES-256-CTR then KMAC256) against independent implementations: the ciphertext is node:crypto's
// aes-256-ctr with IV = nonce || 00000000, the tag is @noble/hashes' KMAC256 over
// nonce || left_encode(8 * |aad|) || aad || ciphertext with S = "pqc-iiot/v1/ae", and our plain KMAC256
// gives NIST SP 800-185's published samples. Then what it promises: round trips, every tampering rejected, argument
// checks, and a freed key wiped and unusable.
import { createCipheriv, randomBytes } from 'node:crypto';
import { kmac256 as nobleKmac256 } from '@noble/hashes/sha3-addons.js';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { AE_PARAMS, PqcError, ae, init, type AeKey } from '../../bindings/index.js';
import { kmac256 } from '../../bindings/ae.js';
import type { Region, WasmCore } from '../../bindings/core.js';
import { getCore } from '../../bindings/state.js';
import { concat, flipBit, fromHex, leftEncode, seq } from '../support/helpers.js';

const S = new TextEncoder().encode('pqc-iiot/v1/ae');
const TAG = 16;
const rand = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

// left_encode (test/support/helpers.ts) is written independently of the C: a test oracle.

/** node:crypto's AES-256-CTR with a 12-byte nonce and a 32-bit big-endian counter from 0. */
function aesCtr(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-ctr', key, concat(nonce, new Uint8Array(4)));
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/** The reference tag: noble's KMAC256 over nonce || left_encode(8 * |aad|) || aad || ciphertext. */
function referenceTag(macKey: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  return nobleKmac256(macKey, concat(nonce, leftEncode(8 * aad.length), aad, ct), { dkLen: TAG, personalization: S });
}

// NIST SP 800-185 KMAC samples (csrc.nist.gov, KMAC_samples.pdf): K = 40..5F, L = 512; the same values are
// in many independent implementations' test suites.
const NIST_KEY = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
const TAGGED = new TextEncoder().encode('My Tagged Application');
const NIST_SAMPLES = [
  {
    name: '#4',
    data: seq(4),
    custom: TAGGED,
    out: '20c570c31346f703c9ac36c61c03cb64c3970d0cfc787e9b79599d273a68d2f7f69d4cc3de9d104a351689f27cf6f5951f0103f33f4f24871024d9c27773a8dd',
  },
  {
    name: '#5',
    data: seq(200),
    custom: new Uint8Array(0),
    out: '75358cf39e41494e949707927cee0af20a3ff553904c86b08f21cc414bcfd691589d27cf5e15369cbbff8b9a4c2eb17800855d0235ff635da82533ec6b759b69',
  },
  {
    name: '#6',
    data: seq(200),
    custom: TAGGED,
    out: 'b58618f71f92e1d56c1b8c55ddd7cd188b97b4ca4d99831eb2699a837da2e4d970fbacfde50033aea585f1a2708510c32d07880801bd182898fe476876fc8965',
  },
];

let core: WasmCore;

beforeAll(async () => {
  await init();
  core = getCore();
});

describe('KMAC256', () => {
  it.each(NIST_SAMPLES)('gives NIST SP 800-185 sample $name', ({ data, custom, out }) => {
    expect(kmac256(NIST_KEY, data, custom, 64)).toEqual(fromHex(out));
  });

  it("takes S as noble's personalization (so noble is a valid oracle for the AE's tag)", () => {
    for (const { data, custom, out } of NIST_SAMPLES) {
      expect(nobleKmac256(NIST_KEY, data, { dkLen: 64, personalization: custom })).toEqual(fromHex(out));
    }
  });

  it("equals noble's KMAC256 across the rate boundaries of bytepad (key, S), the message and the output", () => {
    // bytepad(encode_string(K), 136) is 4 + |K| bytes before its zeros (|K| < 8192): 132 and 268 fill
    // whole blocks; 8192 bytes need a 3-byte length.
    const keyLens = [0, 1, 31, 32, 131, 132, 133, 267, 268, 269, 8192];
    const customLens = [0, 1, 14, 127, 128, 129, 130, 200];
    const dataLens = [0, 1, 135, 136, 137, 1000];
    const outLens = [1, 16, 32, 135, 136, 137, 300];
    let i = 0;
    for (const k of keyLens) {
      for (const c of customLens) {
        const data = rand(dataLens[i % dataLens.length]!);
        const outLen = outLens[i++ % outLens.length]!;
        const key = rand(k);
        const custom = rand(c);
        expect(kmac256(key, data, custom, outLen), `|K| ${k}, |S| ${c}, |X| ${data.length}, L ${outLen}`).toEqual(
          nobleKmac256(key, data, { dkLen: outLen, personalization: custom }),
        );
      }
    }
  });

  it('checks its arguments', () => {
    expect(() => kmac256('k' as unknown as Uint8Array, seq(1))).toThrow(/key must be a Uint8Array, got string/);
    expect(() => kmac256(seq(32), seq(1), seq(1), 0)).toThrow(RangeError);
    expect(() => kmac256(seq(32), seq(1), seq(1), 1.5)).toThrow(RangeError);
  });
});

describe('AE against node:crypto and noble', () => {
  it('ciphertext is aes-256-ctr with IV = nonce || 00000000, tag is KMAC256 over nonce, encoded aad and ciphertext, for every length 0..1000', () => {
    let encKey = rand(32);
    let macKey = rand(32);
    let key = ae.key(encKey, macKey);
    for (let len = 0; len <= 1000; len++) {
      if (len % 97 === 0) {
        key.free();
        [encKey, macKey] = [rand(32), rand(32)];
        key = ae.key(encKey, macKey);
      }
      const nonce = rand(12);
      const pt = rand(len);
      const aad = rand(len % 53);
      const sealed = key.seal(nonce, pt, aad);
      expect(sealed.length).toBe(len + TAG);
      const ct = sealed.subarray(0, len);
      expect(ct, `ciphertext of ${len} bytes`).toEqual(aesCtr(encKey, nonce, pt));
      expect(sealed.subarray(len), `tag of ${len} bytes`).toEqual(referenceTag(macKey, nonce, aad, ct));
    }
    key.free();
  });

  it('encodes the aad length with left_encode across its size steps (1, 2 and 3 bytes of bit length)', () => {
    const [encKey, macKey] = [rand(32), rand(32)];
    const key = ae.key(encKey, macKey);
    for (const a of [0, 1, 31, 32, 40, 300, 8191, 8192, 70_000]) {
      const aad = rand(a);
      const nonce = rand(12);
      const pt = rand(256);
      const sealed = key.seal(nonce, pt, aad);
      expect(sealed.subarray(256), `aad of ${a} bytes`).toEqual(referenceTag(macKey, nonce, aad, sealed.subarray(0, 256)));
      expect(key.open(nonce, sealed, aad)).toEqual(pt);
    }
    key.free();
  });

  it('sealInto writes exactly what seal returns, at the offset, and touches nothing around it', () => {
    const key = ae.key(rand(32), rand(32));
    for (const len of [0, 1, 255, 256, 1000]) {
      const [nonce, pt, aad] = [rand(12), rand(len), rand(40)];
      const expected = key.seal(nonce, pt, aad);
      const out = new Uint8Array(7 + expected.length + 5).fill(0xee);
      key.sealInto(out, 7, nonce, pt, aad);
      expect(out.subarray(7, 7 + expected.length), `${len} bytes`).toEqual(expected);
      expect([...out.subarray(0, 7), ...out.subarray(7 + expected.length)].every((b) => b === 0xee)).toBe(true);
      expect(key.open(nonce, out.subarray(7, 7 + expected.length), aad)).toEqual(pt);
    }
    const [nonce, pt] = [rand(12), rand(32)];
    const tooSmall = new Uint8Array(32 + 16 - 1);
    expect(() => key.sealInto(tooSmall, 0, nonce, pt)).toThrow(RangeError);
    expect(() => key.sealInto(new Uint8Array(100), 60, nonce, pt)).toThrow(RangeError);
    expect(() => key.sealInto(new Uint8Array(100), -1, nonce, pt)).toThrow(RangeError);
    expect(() => key.sealInto(new Uint8Array(100), 0.5, nonce, pt)).toThrow(RangeError);
    expect(tooSmall.every((b) => b === 0)).toBe(true);
    key.free();
    expect(() => key.sealInto(new Uint8Array(100), 0, nonce, pt)).toThrow(/freed/);
  });

  it('takes aad as parts: the same bytes as their concatenation, however split; parts are checked and never mutated', () => {
    const key = ae.key(rand(32), rand(32));
    const [nonce, pt, aad] = [rand(12), rand(256), rand(77)];
    const whole = key.seal(nonce, pt, aad);
    for (const cuts of [[], [0], [77], [1], [40], [10, 10], [3, 50, 76]]) {
      const parts: Uint8Array[] = [];
      let at = 0;
      for (const c of [...cuts, 77]) {
        parts.push(aad.subarray(at, c));
        at = c;
      }
      expect(key.seal(nonce, pt, parts), `cut at ${cuts.join(',')}`).toEqual(whole);
      expect(key.open(nonce, whole, parts), `cut at ${cuts.join(',')}`).toEqual(pt);
      const out = new Uint8Array(whole.length + 3);
      key.sealInto(out, 3, nonce, pt, parts);
      expect(out.subarray(3)).toEqual(whole);
    }
    expect(key.seal(nonce, pt, [])).toEqual(key.seal(nonce, pt));
    // A changed, missing or extra part is another aad.
    expect(key.open(nonce, whole, [aad.subarray(0, 40), flipBit(aad.subarray(40), 3)])).toBeUndefined();
    expect(key.open(nonce, whole, [aad.subarray(0, 40)])).toBeUndefined();
    expect(key.open(nonce, whole, [aad, new Uint8Array(1)])).toBeUndefined();
    expect(() => key.seal(nonce, pt, [aad, 'x' as unknown as Uint8Array])).toThrow(/aad\[1\] must be a Uint8Array, got string/);
    expect(() => key.open(nonce, whole, [null as unknown as Uint8Array])).toThrow(/aad\[0\] must be a Uint8Array, got null/);
    const copy = aad.slice();
    key.open(nonce, whole, [aad.subarray(0, 5), aad.subarray(5)]);
    expect(aad).toEqual(copy);
    key.free();
  });

  it('moves no bytes between aad and ciphertext without changing the tag', () => {
    // Same aad || ciphertext bytes, split differently: the length prefix makes the MAC inputs differ.
    const key = ae.key(rand(32), rand(32));
    const nonce = rand(12);
    const sealed = key.seal(nonce, seq(32), seq(8, 100));
    const joined = concat(seq(8, 100), sealed.subarray(0, 32));
    for (const split of [0, 4, 7, 9, 20, 40]) {
      const aad = joined.subarray(0, split);
      const moved = concat(joined.subarray(split), sealed.subarray(32));
      expect(key.open(nonce, moved, aad), `split at ${split}`).toBeUndefined();
    }
    key.free();
  });
});

describe('AE promises', () => {
  let key: AeKey;
  const encKey = rand(32);
  const macKey = rand(32);
  beforeAll(() => {
    key = ae.key(encKey, macKey);
  });

  it('round-trips every size, with and without aad, long messages included', () => {
    for (const len of [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 4096, 70_000]) {
      const nonce = rand(12);
      const pt = rand(len);
      const aad = rand(len % 41);
      expect(key.open(nonce, key.seal(nonce, pt, aad), aad)).toEqual(pt);
      expect(key.open(nonce, key.seal(nonce, pt))).toEqual(pt);
    }
  });

  it('rejects every single-bit change of the sealed bytes, the aad and the nonce', () => {
    const nonce = rand(12);
    const aad = rand(40);
    const pt = rand(256);
    const sealed = key.seal(nonce, pt, aad);
    for (let bit = 0; bit < 8 * sealed.length; bit++) expect(key.open(nonce, flipBit(sealed, bit), aad), `sealed bit ${bit}`).toBeUndefined();
    for (let bit = 0; bit < 8 * aad.length; bit++) expect(key.open(nonce, sealed, flipBit(aad, bit)), `aad bit ${bit}`).toBeUndefined();
    for (let bit = 0; bit < 8 * nonce.length; bit++) expect(key.open(flipBit(nonce, bit), sealed, aad), `nonce bit ${bit}`).toBeUndefined();
    expect(key.open(nonce, sealed, aad)).toEqual(pt);
  });

  it('rejects truncations, extensions, a missing or added aad, and other keys', () => {
    const nonce = rand(12);
    const aad = rand(40);
    const sealed = key.seal(nonce, rand(100), aad);
    for (let len = 0; len < sealed.length; len++) expect(key.open(nonce, sealed.subarray(0, len), aad), `truncated to ${len}`).toBeUndefined();
    expect(key.open(nonce, concat(sealed, new Uint8Array(1)), aad)).toBeUndefined();
    expect(key.open(nonce, sealed)).toBeUndefined();
    expect(key.open(nonce, key.seal(nonce, rand(10)), new Uint8Array(1))).toBeUndefined();
    // Another key pair, or another MAC key. (Encrypt-then-MAC with independent keys: a wrong encryption key
    // under the right MAC key is not detected, so the two keys must always come from one derivation.)
    for (const other of [ae.key(rand(32), rand(32)), ae.key(encKey, rand(32)), ae.key(macKey, encKey)]) {
      expect(other.open(nonce, sealed, aad)).toBeUndefined();
      other.free();
    }
    expect(key.open(nonce, new Uint8Array(0))).toBeUndefined();
    expect(key.open(nonce, new Uint8Array(TAG))).toBeUndefined();
  });

  it('checks its arguments, naming them, and never mutates them', () => {
    expect(() => ae.key(seq(31), seq(32))).toThrow(/encKey must be 32 bytes, got 31/);
    expect(() => ae.key(seq(32), 'k' as unknown as Uint8Array)).toThrow(/macKey must be a Uint8Array, got string/);
    expect(() => key.seal(seq(11), seq(1))).toThrow(/nonce must be 12 bytes, got 11/);
    expect(() => key.seal(seq(12), [1] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => key.seal(seq(12), seq(1), {} as Uint8Array)).toThrow(/aad must be a Uint8Array/);
    expect(() => key.open(seq(12), null as unknown as Uint8Array)).toThrow(/sealed must be a Uint8Array, got null/);
    const [nonce, pt, aad] = [rand(12), rand(300), rand(40)];
    const copies = [nonce.slice(), pt.slice(), aad.slice()];
    const sealed = key.seal(nonce, pt, aad);
    const sealedCopy = sealed.slice();
    key.open(nonce, sealed, aad);
    expect([nonce, pt, aad]).toEqual(copies);
    expect(sealed).toEqual(sealedCopy);
    expect(AE_PARAMS.lengths).toEqual({ key: 32, nonce: 12, tag: 16, context: 8 });
  });
});

describe('AE key lifetime', () => {
  /** ae.key() with the context region it allocated (the first allocation of the context's size). */
  function keyWithContext(encKey: Uint8Array, macKey: Uint8Array): { key: AeKey; ctx: Region } {
    const spy = vi.spyOn(core, 'alloc');
    try {
      const key = ae.key(encKey, macKey);
      const ctx = spy.mock.results.find((r, i) => spy.mock.calls[i]![0] === AE_PARAMS.lengths.context)!.value as Region;
      return { key, ctx };
    } finally {
      spy.mockRestore();
    }
  }

  it('free() wipes the context and both expanded keys, and a freed key throws a clear error', () => {
    const [encKey, macKey] = [rand(32), rand(32)];
    const { key, ctx } = keyWithContext(encKey, macKey);
    const nonce = rand(12);
    const sealed = key.seal(nonce, rand(64));
    const freed: { ptr: number; len: number; zero: boolean }[] = [];
    const rawFree = core.rawFree;
    core.rawFree = (ptr, len) => {
      freed.push({ ptr, len, zero: core.heap().subarray(ptr, ptr + len).every((b) => b === 0) });
      rawFree(ptr, len);
    };
    // The context points to the AES round keys (120 words) and the precomputed KMAC state (26 words),
    // which the pinned code keeps on the heap.
    const regions = [
      { ptr: core.readU32(ctx.ptr), len: 120 * 8 },
      { ptr: core.readU32(ctx.ptr + 4), len: 26 * 8 },
    ];
    const before = regions.map((r) => core.heap().slice(r.ptr, r.ptr + r.len));
    for (const b of before) expect(b.filter((x) => x !== 0).length).toBeGreaterThan(b.length / 2);

    expect(key.freed).toBe(false);
    try {
      key.free();
    } finally {
      core.rawFree = rawFree;
    }
    expect(key.freed).toBe(true);
    // The context went back to the allocator zeroed.
    expect(freed).toEqual([{ ptr: ctx.ptr, len: ctx.len, zero: true }]);
    const heap = core.heap();
    // The allocator's free list reuses a free region's first 8 bytes (emmalloc's prev/next links): the
    // rest of each region must be zero, and none of their former contents anywhere in memory.
    for (const r of regions) expect(heap.subarray(r.ptr + 8, r.ptr + r.len).every((b) => b === 0)).toBe(true);
    const memory = Buffer.from(heap.buffer);
    for (const [i, b] of before.entries()) {
      for (let off = 8; off + 16 <= b.length; off += 8) {
        const window = b.subarray(off, off + 16);
        if (window.every((x) => x === window[0])) continue;
        expect(memory.indexOf(window), `expanded key ${i} [${off}..] still in memory`).toBe(-1);
      }
    }
    for (const k of [encKey, macKey]) expect(memory.indexOf(k.subarray(0, 16))).toBe(-1);

    expect(() => key.seal(nonce, rand(1))).toThrow(PqcError);
    expect(() => key.seal(nonce, rand(1))).toThrow(/key was freed/);
    expect(() => key.open(nonce, sealed)).toThrow(/key was freed/);
    key.free(); // idempotent
  });

  it('keeps several keys apart', () => {
    const keys = [0, 1, 2].map(() => ae.key(rand(32), rand(32)));
    const nonce = rand(12);
    const sealed = keys.map((k) => k.seal(nonce, seq(50)));
    for (let i = 0; i < keys.length; i++) {
      for (let j = 0; j < keys.length; j++) expect(keys[i]!.open(nonce, sealed[j]!) !== undefined).toBe(i === j);
    }
    for (const k of keys) k.free();
  });
});
