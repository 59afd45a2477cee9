// Storage in a Map: for tests, browsers without persistence, and processes
// whose state may die with them. Nothing survives a restart.
//
// The key check shared by every Storage implementation lives here too
// (file.ts imports it), so all backends accept exactly the same keys.

import { abytesMax, aoptInt, astring } from '../../bindings/assert-sdk.js';
import type { Storage } from './types.js';

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4096;
/** Default bound on one value. */
export const DEFAULT_MAX_VALUE_BYTES = 1 << 20;
/** The largest maxValueBytes a backend accepts (2 GiB: one file, one Uint8Array). */
export const MAX_VALUE_BYTES = 2 ** 31;

const LONE_SURROGATE = /\p{Surrogate}/u;
const utf8 = new TextEncoder();

/**
 * Checks a key: a non-empty string of at most MAX_KEY_BYTES UTF-8 bytes,
 * without lone surrogates (they have no UTF-8 form, so two keys could collide).
 * Returns its UTF-8 bytes.
 */
export function checkKey(key: unknown, label = 'key'): Uint8Array {
  const text = astring(key, label);
  if (LONE_SURROGATE.test(text)) throw new RangeError(`${label} contains a lone surrogate`);
  const bytes = utf8.encode(text);
  if (bytes.length === 0 || bytes.length > MAX_KEY_BYTES) {
    throw new RangeError(`${label} must be 1 to ${MAX_KEY_BYTES} UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

export interface MemoryStorageOptions {
  /** Largest value accepted. Default 1 MiB. */
  readonly maxValueBytes?: number;
}

export class MemoryStorage implements Storage {
  readonly #entries = new Map<string, Uint8Array>();
  readonly #maxValueBytes: number;

  constructor(options: MemoryStorageOptions = {}) {
    this.#maxValueBytes = aoptInt(options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES, 0, MAX_VALUE_BYTES, 'maxValueBytes');
  }

  /** A copy of the stored value (callers cannot change what is stored). */
  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const value = this.#entries.get(key);
    return value?.slice();
  }

  /** Stores a copy of `value`. */
  async set(key: string, value: Uint8Array): Promise<void> {
    checkKey(key);
    const copy = new Uint8Array(abytesMax(value, this.#maxValueBytes, 'value')); // a copy, also for a Buffer (whose slice() is a view)
    this.#entries.get(key)?.fill(0); // values may be keys: wipe the copy this one replaces
    this.#entries.set(key, copy);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#entries.get(key)?.fill(0);
    this.#entries.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    astring(prefix, 'prefix');
    return [...this.#entries.keys()].filter((key) => key.startsWith(prefix)).sort();
  }
}
