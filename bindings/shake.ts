// SHAKE-256 from the pinned fips202.c: known-answer digests and the self-test.

import { abytes } from './assert.js';
import { getCore } from './state.js';
import type { WasmCore } from './core.js';
import { STACK_WIPE } from './params.js';

export function shake256With(core: WasmCore, data: Uint8Array, outLen: number): Uint8Array {
  return core.run('shake256', (scratch) => {
    const input = scratch(data.length);
    const out = scratch(outLen);
    core.heap().set(data, input.ptr);
    core.fn.pqc_shake256(out.ptr, outLen, input.ptr, data.length);
    return core.take(out);
  }, STACK_WIPE.shake);
}

/** SHAKE-256 of `data`, `outLen` bytes. */
export function shake256(data: Uint8Array, outLen = 32): Uint8Array {
  abytes(data, undefined, 'data');
  if (!Number.isSafeInteger(outLen) || outLen < 1 || outLen > 1 << 20) {
    throw new RangeError(`outLen must be an integer from 1 to ${1 << 20}, got ${outLen}`);
  }
  return shake256With(getCore(), data, outLen);
}
