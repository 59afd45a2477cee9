// SHAKE-256 from the pinned fips202.c: known-answer digests and the self-test.

import { abytes, aint, isBytes } from './assert.js';
import { getCore } from './state.js';
import type { WasmCore } from './core.js';
import { MAX_OUT_LEN, STACK_WIPE } from './params.js';

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
  aint(outLen, 1, MAX_OUT_LEN, 'outLen');
  return shake256With(getCore(), data, outLen);
}

/**
 * SHAKE-256 of the concatenation of `parts`, all public (digests of messages as sent on the wire): no
 * per-call allocation and no stack wipe (core.runPublic), since nothing here is secret. Never use it for a
 * key, a seed or a shared secret: use shake256() for those.
 */
export function shake256Public(parts: readonly Uint8Array[], outLen = 32): Uint8Array {
  let inLen = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (!isBytes(p)) abytes(p, undefined, `parts[${i}]`); // the label only when it throws: this runs per message
    inLen += p!.length;
  }
  aint(outLen, 1, MAX_OUT_LEN, 'outLen');
  const core = getCore();
  return core.runPublic('shake256', inLen + outLen, (region) => {
    const heap = core.heap();
    let at = region;
    for (let i = 0; i < parts.length; i++) {
      heap.set(parts[i]!, at);
      at += parts[i]!.length;
    }
    core.fn.pqc_shake256(at, outLen, region, inLen);
    return core.heap().slice(at, at + outLen);
  });
}
