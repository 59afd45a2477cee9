// Storage in a Map: for tests, browsers without persistence, and processes
// whose state may die with them. Nothing survives a restart.
//
// The argument checks shared by every Storage implementation live here too
// (file.ts imports them), so all backends accept exactly the same keys and
// values.

import { isBytes } from '../../bindings/assert.js';
import type { Storage } from './types.js';

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4096;
/** Default bound on one value. */
export const DEFAULT_MAX_VALUE_BYTES = 1 << 20;

const LONE_SURROGATE = /\p{Surrogate}/u;
const utf8 = new TextEncoder();

/**
 * Checks a key: a non-empty string of at most MAX_KEY_BYTES UTF-8 bytes,
 * without lone surrogates (they have no UTF-8 form, so two keys could collide).
 * Returns its UTF-8 bytes.
 */
export function checkKey(key: unknown, label = 'key'): Uint8Array {
  if (typeof key !== 'string') throw new TypeError(`${label} must be a string, got ${typeof key}`);
  if (LONE_SURROGATE.test(key)) throw new RangeError(`${label} contains a lone surrogate`);
  const bytes = utf8.encode(key);
  if (bytes.length === 0 || bytes.length > MAX_KEY_BYTES) {
    throw new RangeError(`${label} must be 1 to ${MAX_KEY_BYTES} UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Checks a prefix for keys(): a string (empty selects every key). */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new TypeError(`prefix must be a string, got ${typeof prefix}`);
  return prefix;
}

/** Checks a value: a Uint8Array of at most `max` bytes. */
export function checkValue(value: unknown, max: number): Uint8Array {
  if (!isBytes(value)) throw new TypeError('value must be a Uint8Array');
  if (value.length > max) throw new RangeError(`value must be at most ${max} bytes, got ${value.length}`);
  return value;
}

/** Checks a maxValueBytes option. */
export function checkMaxValueBytes(max: unknown): number {
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0 || max > 2 ** 31) {
    throw new RangeError(`maxValueBytes must be an integer from 0 to 2^31, got ${String(max)}`);
  }
  return max;
}

export interface MemoryStorageOptions {
  /** Largest value accepted. Default 1 MiB. */
  readonly maxValueBytes?: number;
}

export class MemoryStorage implements Storage {
  readonly #entries = new Map<string, Uint8Array>();
  readonly #maxValueBytes: number;

  constructor(options: MemoryStorageOptions = {}) {
    this.#maxValueBytes = checkMaxValueBytes(options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
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
    const copy = new Uint8Array(checkValue(value, this.#maxValueBytes)); // a copy, also for a Buffer (whose slice() is a view)
    this.#entries.get(key)?.fill(0); // values may be keys: wipe the copy this one replaces
    this.#entries.set(key, copy);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#entries.get(key)?.fill(0);
    this.#entries.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    return [...this.#entries.keys()].filter((key) => key.startsWith(prefix)).sort();
  }
}
