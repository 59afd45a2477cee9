// ReplayWindow: classification at the edges, no mutation by check(), the
// serialised form and every way it can be malformed.
import { describe, expect, it } from 'vitest';
import { SecurityError, StorageError } from '../../src/errors.js';
import { MAX_WINDOW_SIZE, ReplayWindow } from '../../src/replay/window.js';

const MAX = Number.MAX_SAFE_INTEGER;

function acceptAll(w: ReplayWindow, seqs: number[]): ReplayWindow {
  for (const s of seqs) w.accept(s);
  return w;
}

describe('ReplayWindow classification', () => {
  it('starts empty: everything is fresh, including 0 and 2^53-1', () => {
    const w = new ReplayWindow();
    expect(w.size).toBe(1024);
    expect(w.highest()).toBeUndefined();
    expect(w.check(0)).toBe('fresh');
    expect(w.check(MAX)).toBe('fresh');
  });

  it('accepts seq 0 once', () => {
    const w = acceptAll(new ReplayWindow(64), [0]);
    expect(w.highest()).toBe(0);
    expect(w.check(0)).toBe('duplicate');
    expect(w.check(1)).toBe('fresh');
    expect(() => w.accept(0)).toThrow(SecurityError);
  });

  it('classifies at both edges of the window', () => {
    const w = acceptAll(new ReplayWindow(64), [100]);
    // Window covers 37..100; 36 = 100 - 64 is the lower edge.
    expect(w.check(100)).toBe('duplicate');
    expect(w.check(101)).toBe('fresh');
    expect(w.check(37)).toBe('fresh');
    expect(w.check(36)).toBe('replay');
    expect(w.check(0)).toBe('replay');
    w.accept(37);
    expect(w.check(37)).toBe('duplicate');
    w.accept(101); // the window slides by one: 37 falls out
    expect(w.check(37)).toBe('replay');
    expect(w.check(38)).toBe('fresh');
  });

  it('keeps out-of-order numbers inside the window', () => {
    const w = acceptAll(new ReplayWindow(64), [10, 5, 7, 63, 2]);
    for (const s of [10, 5, 7, 63, 2]) expect(w.check(s)).toBe('duplicate');
    for (const s of [0, 1, 3, 4, 6, 8, 9, 11, 62]) expect(w.check(s)).toBe('fresh');
    expect(w.highest()).toBe(63);
  });

  it('forgets everything on a jump of at least the window size', () => {
    const w = acceptAll(new ReplayWindow(64), [1, 2, 3, 50]);
    w.accept(50 + 64);
    expect(w.check(50)).toBe('replay');
    expect(w.check(51)).toBe('fresh');
    expect(w.check(113)).toBe('fresh');
    w.accept(MAX);
    expect(w.highest()).toBe(MAX);
    expect(w.check(MAX)).toBe('duplicate');
    expect(w.check(MAX - 63)).toBe('fresh');
    expect(w.check(MAX - 64)).toBe('replay');
    expect(w.check(114)).toBe('replay');
  });

  it('clears reused ring slots when sliding by less than the window', () => {
    const w = new ReplayWindow(64);
    for (let s = 0; s < 64; s++) w.accept(s);
    w.accept(64 + 10); // slots of 64..74 reused: they must read as fresh, not as the old 0..10
    for (let s = 64; s < 74; s++) expect(w.check(s)).toBe('fresh');
    expect(w.check(74)).toBe('duplicate');
    expect(w.check(11)).toBe('duplicate');
    expect(w.check(10)).toBe('replay');
  });

  it('check() never mutates', () => {
    const w = acceptAll(new ReplayWindow(64), [5, 9, 200]);
    const before = w.serialize();
    for (const s of [0, 5, 9, 136, 137, 199, 200, 201, 10_000, MAX]) w.check(s);
    expect(w.serialize()).toEqual(before);
    expect(w.highest()).toBe(200);
  });

  it('accept() refuses what is no longer fresh, with the reason', () => {
    const w = acceptAll(new ReplayWindow(64), [500]);
    expect(() => w.accept(500)).toThrow(expect.objectContaining({ code: 'DUPLICATE' }));
    expect(() => w.accept(400)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
  });

  it('works with sizes that are not a multiple of 32', () => {
    const w = acceptAll(new ReplayWindow(65), [100, 36]);
    expect(w.check(36)).toBe('duplicate');
    expect(w.check(35)).toBe('replay');
    expect(ReplayWindow.deserialize(w.serialize()).serialize()).toEqual(w.serialize());
  });

  it('rejects bad sizes and sequence numbers', () => {
    for (const size of [0, 63, 64.5, MAX_WINDOW_SIZE + 1, Number.NaN]) {
      expect(() => new ReplayWindow(size)).toThrow(RangeError);
    }
    const w = new ReplayWindow();
    for (const seq of [-1, 1.5, MAX + 1, Number.NaN, Infinity]) expect(() => w.check(seq)).toThrow(RangeError);
    expect(() => w.check('1' as unknown as number)).toThrow(TypeError);
  });
});

describe('ReplayWindow serialisation', () => {
  it('round-trips (empty, small, huge numbers)', () => {
    const cases = [
      new ReplayWindow(),
      acceptAll(new ReplayWindow(64), [0]),
      acceptAll(new ReplayWindow(64), [3, 1, 60]),
      acceptAll(new ReplayWindow(1024), [5000, 4000, 4999, 3977]),
      acceptAll(new ReplayWindow(100), [MAX - 99, MAX]),
    ];
    for (const w of cases) {
      const bytes = w.serialize();
      expect(bytes.length).toBe(16 + Math.ceil(w.size / 8));
      const back = ReplayWindow.deserialize(bytes);
      expect(back.size).toBe(w.size);
      expect(back.highest()).toBe(w.highest());
      expect(back.serialize()).toEqual(bytes);
      const h = w.highest() ?? 0;
      for (let s = Math.max(0, h - w.size - 2); s <= Math.min(MAX, h + 2); s++) expect(back.check(s)).toBe(w.check(s));
    }
  });

  it('resizes on load: shrinking keeps the newest, growing counts unknown numbers as seen', () => {
    const w = acceptAll(new ReplayWindow(64), [1000, 990, 950]);
    const small = ReplayWindow.deserialize(w.serialize(), 64);
    expect(small.size).toBe(64);
    const big = ReplayWindow.deserialize(w.serialize(), 256);
    expect(big.check(990)).toBe('duplicate');
    expect(big.check(991)).toBe('fresh');
    expect(big.check(936)).toBe('duplicate'); // below the old window: unknown, so not accepted again
    expect(big.check(744)).toBe('replay');
    const w2 = acceptAll(new ReplayWindow(256), [1000, 990, 800]);
    const shrunk = ReplayWindow.deserialize(w2.serialize(), 64);
    expect(shrunk.check(990)).toBe('duplicate');
    expect(shrunk.check(800)).toBe('replay');
    expect(shrunk.check(991)).toBe('fresh');
    // Growing a window whose numbers start near 0 does not invent negative numbers.
    const young = ReplayWindow.deserialize(acceptAll(new ReplayWindow(64), [3]).serialize(), 1024);
    expect(young.check(2)).toBe('fresh');
    expect(young.serialize().length).toBe(16 + 128);
  });

  it('rejects malformed input with StorageError (and a non-Uint8Array with TypeError)', () => {
    const good = acceptAll(new ReplayWindow(64), [10, 3]).serialize();
    const mutate = (f: (b: Uint8Array, v: DataView) => void, length = good.length): Uint8Array => {
      const b = new Uint8Array(length);
      b.set(good.subarray(0, Math.min(length, good.length)));
      f(b, new DataView(b.buffer));
      return b;
    };
    const bad: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['short header', good.slice(0, 15)],
      ['truncated bitmap', good.slice(0, good.length - 1)],
      ['trailing byte', mutate(() => {}, good.length + 1)],
      ['magic', mutate((b) => (b[0] = 0x58))],
      ['version', mutate((b) => (b[2] = 2))],
      ['flags', mutate((b) => (b[3] = 3))],
      ['size too small', mutate((_, v) => v.setUint32(4, 32))],
      ['size too big', mutate((_, v) => v.setUint32(4, 0xffffffff))],
      ['size/length mismatch', mutate((_, v) => v.setUint32(4, 128))],
      ['highest > 2^53-1', mutate((_, v) => v.setUint32(8, 0x200000))],
      ['highest not marked', mutate((_, v) => v.setUint32(12, 11))],
      ['slot before 0 marked', mutate((b) => (b[16 + 7] = 0x80))], // slot 63 = seq -53
      ['empty flag with state', mutate((b) => (b[3] = 0))],
    ];
    for (const [label, bytes] of bad) {
      expect(() => ReplayWindow.deserialize(bytes), label).toThrow(StorageError);
    }
    const padded = acceptAll(new ReplayWindow(65), [10]).serialize();
    padded[padded.length - 1]! |= 0x80;
    expect(() => ReplayWindow.deserialize(padded)).toThrow(StorageError);
    expect(() => ReplayWindow.deserialize([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => ReplayWindow.deserialize(good, 10)).toThrow(RangeError);
  });

  it('reads from a subarray with an offset', () => {
    const bytes = acceptAll(new ReplayWindow(64), [7]).serialize();
    const padded = new Uint8Array(bytes.length + 5);
    padded.set(bytes, 5);
    expect(ReplayWindow.deserialize(padded.subarray(5)).check(7)).toBe('duplicate');
  });
});
