// Synchronous authenticated encryption in wasm (AES-256-CTR, then KMAC256 over nonce, aad and ciphertext;
// see native/include/pqc.h): a fraction of WebCrypto AES-GCM's per-call cost, for the per-message path.

import { abytes, aint, isBytes } from './assert.js';
import type { Region, WasmCore } from './core.js';
import { PqcError, Status, check } from './errors.js';
import { AE_PARAMS, MAX_OUT_LEN } from './params.js';
import { getCore } from './state.js';

const L = AE_PARAMS.lengths;
const NAME = AE_PARAMS.name;
const EMPTY = new Uint8Array(0);

/**
 * A key pair (encryption, MAC) expanded once into wasm memory: the AES round keys and the KMAC state
 * after the key are computed by ae.key(), so each call only encrypts and absorbs its message. The nonce
 * (12 bytes) must never repeat under one key. Call free() when done: it wipes the expanded keys (they are
 * also wiped if the object is garbage-collected).
 */
export interface AeKey {
  /** True once free() was called; seal() and open() then throw. */
  readonly freed: boolean;
  /**
   * ciphertext || 16-byte tag, authenticating `aad` (sent separately) with it. `aad` may be given as parts,
   * authenticated as their concatenation (no concatenated copy is made).
   */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Aad): Uint8Array;
  /**
   * seal(), writing ciphertext || tag into `out` at `offset` instead of a new array (a message's envelope,
   * built around it, then needs no copy). @throws RangeError if it does not fit.
   */
  sealInto(out: Uint8Array, offset: number, nonce: Uint8Array, plaintext: Uint8Array, aad?: Aad): void;
  /** The plaintext, or undefined when `sealed` is not authentic under this key, nonce and aad (or shorter than a tag). */
  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Aad): Uint8Array | undefined;
  free(): void;
}

interface Held {
  readonly core: WasmCore;
  readonly ctx: Region;
  readonly live: { on: boolean };
}

/** Wipes the expanded keys (the pinned code's heap regions) and the context itself. */
function release({ core, ctx, live }: Held): void {
  live.on = false;
  try {
    core.fn.pqc_ae_release(ctx.ptr);
  } finally {
    core.free(ctx);
  }
}

// Wipes keys that were dropped without free(). A finaliser must not throw: a failure leaves nothing to do.
const keys = new FinalizationRegistry<Held>((held) => {
  if (!held.live.on) return;
  try {
    release(held);
  } catch {
    /* the core aborted: its memory is unusable anyway */
  }
});

/** Associated data: one array, or parts authenticated as their concatenation. */
export type Aad = Uint8Array | readonly Uint8Array[];

const SEAL_LABEL = `${NAME} seal`;
const OPEN_LABEL = `${NAME} open`;

/** The length of `aad`, every part checked (the label of a bad part is only built when it is bad). */
function aadLength(aad: Aad): number {
  if (isBytes(aad)) return aad.length;
  if (!Array.isArray(aad)) abytes(aad, undefined, 'aad'); // throws: neither bytes nor parts
  const parts = aad as readonly Uint8Array[];
  let a = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (!isBytes(part)) abytes(part, undefined, `aad[${i}]`);
    a += part!.length;
  }
  return a;
}

/** Where sealInto() writes (checked before any work). */
interface Destination {
  readonly out: Uint8Array;
  readonly offset: number;
}

/**
 * seal or open through one reused region laid out nonce | aad | input | output, zeroed after the call
 * (core.runSecret). Undefined when open() finds the input not authentic or shorter than a tag. With `dest`
 * (seal only) the output goes there and the result is `dest.out`.
 */
function crypt(held: Held, op: 'seal' | 'open', nonce: Uint8Array, input: Uint8Array, aad: Aad, dest?: Destination): Uint8Array | undefined {
  const seal = op === 'seal';
  abytes(nonce, L.nonce, 'nonce');
  abytes(input, undefined, seal ? 'plaintext' : 'sealed');
  const a = aadLength(aad);
  if (!held.live.on) throw new PqcError('FAILED', `${NAME} key was freed: make a new one with ae.key()`);
  const outLen = input.length + (seal ? L.tag : -L.tag);
  if (outLen < 0) return undefined;
  if (dest !== undefined) {
    abytes(dest.out, undefined, 'out');
    const { offset } = dest;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + outLen > dest.out.length) {
      throw new RangeError(`out: ${outLen} bytes at offset ${offset} do not fit in ${dest.out.length}`);
    }
  }
  const { core, ctx } = held;
  const n = input.length;
  const label = seal ? SEAL_LABEL : OPEN_LABEL;
  return core.runSecret(label, L.nonce + a + n + outLen, (p) => {
    const heap = core.heap();
    const ad = p + L.nonce;
    const inp = ad + a;
    const out = inp + n;
    heap.set(nonce, p);
    if (isBytes(aad)) heap.set(aad, ad);
    else for (let i = 0, at = ad; i < aad.length; at += aad[i]!.length, i++) heap.set(aad[i]!, at);
    heap.set(input, inp);
    const status = (seal ? core.fn.pqc_ae_seal : core.fn.pqc_ae_open)(ctx.ptr, p, ad, a, inp, n, out);
    if (status === Status.FAILED && !seal) return undefined;
    check(status, label);
    // heap() again: the call may have grown memory
    if (dest === undefined) return core.heap().slice(out, out + outLen);
    dest.out.set(core.heap().subarray(out, out + outLen), dest.offset);
    return dest.out;
  }, AE_PARAMS.stackWipe);
}

function makeKey(encKey: Uint8Array, macKey: Uint8Array): AeKey {
  abytes(encKey, L.key, 'encKey');
  abytes(macKey, L.key, 'macKey');
  const core = getCore();
  const ctx = core.alloc(L.context);
  try {
    core.run(`${NAME} key`, (scratch) => {
      const k = scratch(2 * L.key);
      core.heap().set(encKey, k.ptr);
      core.heap().set(macKey, k.ptr + L.key);
      check(core.fn.pqc_ae_init(ctx.ptr, k.ptr, k.ptr + L.key), `${NAME} key`);
    }, AE_PARAMS.stackWipe);
  } catch (err) {
    core.free(ctx);
    throw err;
  }
  const held: Held = { core, ctx, live: { on: true } };
  const key: AeKey = {
    get freed(): boolean {
      return !held.live.on;
    },
    seal: (nonce, plaintext, aad = EMPTY) => crypt(held, 'seal', nonce, plaintext, aad)!,
    sealInto: (out, offset, nonce, plaintext, aad = EMPTY) => {
      crypt(held, 'seal', nonce, plaintext, aad, { out, offset });
    },
    open: (nonce, sealed, aad = EMPTY) => crypt(held, 'open', nonce, sealed, aad),
    free(): void {
      if (!held.live.on) return;
      keys.unregister(key);
      release(held);
    },
  };
  keys.register(key, held, key);
  return Object.freeze(key);
}

/** Authenticated encryption: AES-256-CTR for secrecy, KMAC256 (NIST SP 800-185) over nonce, aad and ciphertext. */
export const ae = Object.freeze({
  name: NAME,
  lengths: L,
  /** Expands `encKey` and `macKey` (32 bytes each, independent) into a key kept in wasm memory. */
  key: makeKey,
});

/** KMAC256(key, data, 8 * outLen, custom) per NIST SP 800-185 (known-answer checks of the AE's MAC). */
export function kmac256(key: Uint8Array, data: Uint8Array, custom: Uint8Array = EMPTY, outLen = 32): Uint8Array {
  abytes(key, undefined, 'key');
  abytes(data, undefined, 'data');
  abytes(custom, undefined, 'custom');
  aint(outLen, 1, MAX_OUT_LEN, 'outLen');
  const core = getCore();
  return core.run('KMAC256', (scratch) => {
    const out = scratch(outLen);
    const input = scratch(key.length + data.length + custom.length);
    const heap = core.heap();
    heap.set(key, input.ptr);
    heap.set(data, input.ptr + key.length);
    heap.set(custom, input.ptr + key.length + data.length);
    const d = input.ptr + key.length;
    check(core.fn.pqc_kmac256(out.ptr, outLen, input.ptr, key.length, d, data.length, d + data.length, custom.length), 'KMAC256');
    return core.take(out);
  }, AE_PARAMS.stackWipe);
}
