// The core's allocator (native/src/pqc_heap.c), used through the one owner of wasm memory (bindings/core.ts):
// regions are 16-byte aligned and never overlap while live, a freed region is handed out again for the next
// request of its size class, memory grows for a large region, and a request the heap cannot meet is a
// PqcError('ABORTED') naming the size, not a crash.
import { beforeAll, describe, expect, it } from 'vitest';
import { PqcError, init } from '../../bindings/index.js';
import type { Region, WasmCore } from '../../bindings/core.js';
import { getCore } from '../../bindings/state.js';
import { coreInitOptions } from '../support/core-module.js';

let core: WasmCore;

beforeAll(async () => {
  await init(coreInitOptions());
  core = getCore();
});

describe('the wasm heap', () => {
  it('gives 16-byte aligned regions that do not overlap, and keeps what each holds', () => {
    const sizes = [1, 15, 16, 17, 100, 240, 255, 256, 257, 1000, 4096, 65_536, 100_000];
    const regions: Region[] = sizes.map((n) => core.alloc(n));
    try {
      regions.forEach((r, i) => {
        expect(r.ptr % 16).toBe(0);
        core.heap().fill(i + 1, r.ptr, r.ptr + r.len);
      });
      const sorted = [...regions].sort((a, b) => a.ptr - b.ptr);
      for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.ptr).toBeGreaterThanOrEqual(sorted[i - 1]!.ptr + sorted[i - 1]!.len);
      regions.forEach((r, i) => expect(core.heap().subarray(r.ptr, r.ptr + r.len).every((b) => b === i + 1)).toBe(true));
    } finally {
      for (const r of regions) core.free(r);
    }
  });

  it('hands a freed region out again for the next request of its size class, zeroed', () => {
    const first = core.alloc(300);
    core.heap().fill(7, first.ptr, first.ptr + first.len);
    core.free(first);
    const again = core.alloc(300);
    try {
      expect(again.ptr).toBe(first.ptr);
      expect(core.heap().subarray(again.ptr, again.ptr + again.len).every((b) => b === 0)).toBe(true);
    } finally {
      core.free(again);
    }
  });

  it('grows memory for a region larger than what is left', () => {
    const before = core.heap().length;
    const big = core.alloc(before + 3 * 65_536);
    try {
      expect(core.heap().length).toBeGreaterThan(before);
      core.heap().fill(0xa5, big.ptr, big.ptr + big.len);
      expect(core.heap()[big.ptr + big.len - 1]).toBe(0xa5);
    } finally {
      core.free(big);
    }
  });

  it('refuses a request it cannot meet with PqcError ABORTED naming the size', () => {
    const err = (() => {
      try {
        core.alloc(0x7fff_0001);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PqcError);
    expect((err as PqcError).code).toBe('ABORTED');
    expect((err as PqcError).message).toContain(String(0x7fff_0001));
  });
});
