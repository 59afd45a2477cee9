// Crash-safe sequence numbers for a sender: never the same number twice, even
// across kill -9 and power loss.
//
// Numbers are handed out from reserved blocks. Before the first number of a
// new block is handed out, the block's end (the high-water mark: the first
// number not reserved) is written to storage and the write awaited (write-
// ahead). On open, numbering resumes at the stored mark, skipping whatever
// was left of the last block. So a number is only ever handed out below a
// durable mark, and a restarted process only starts at or above it.
//
// Numbers are safe integers from 0 to 2^53-1 (see replay/window.ts). The
// stored value is the mark as a u64, big-endian, 8 bytes.

import { aoptInt } from '../../bindings/assert-sdk.js';
import { ConfigError, StorageError } from '../errors.js';
import { checkKey } from './memory.js';
import type { Storage } from './types.js';

export interface SequenceAllocatorOptions {
  /** Numbers reserved per storage write. Larger: fewer writes, bigger gaps after a restart. Default 1000. */
  readonly blockSize?: number;
}

export const DEFAULT_BLOCK_SIZE = 1000;
/** Exclusive upper bound: the last number ever handed out is 2^53-1. */
const END = 2 ** 53;
const MAX_BLOCK_SIZE = 2 ** 32;

/** (storage, key) pairs with an open allocator in this process: two allocators on one key would repeat numbers. */
const openKeys = new WeakMap<Storage, Set<string>>();

function encodeMark(mark: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(mark / 2 ** 32));
  view.setUint32(4, mark % 2 ** 32);
  return out;
}

function decodeMark(bytes: Uint8Array, key: string): number {
  if (bytes.length !== 8) throw new StorageError('CORRUPT', `sequence ${key}: ${bytes.length} bytes, expected 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  // Compare the halves: above 2^53 a double would round (2^53 + 1 reads as 2^53).
  if (hi > 0x200000 || (hi === 0x200000 && lo !== 0)) {
    throw new StorageError('CORRUPT', `sequence ${key}: high-water mark exceeds 2^53`);
  }
  return hi * 2 ** 32 + lo;
}

export class SequenceAllocator {
  readonly key: string;
  readonly blockSize: number;
  readonly #storage: Storage;
  /** The next number to hand out. */
  #next: number;
  /** The durable high-water mark: numbers below it are reserved. */
  #limit: number;
  #reserving: Promise<void> | undefined;
  #closed = false;

  private constructor(storage: Storage, key: string, blockSize: number, mark: number) {
    this.#storage = storage;
    this.key = key;
    this.blockSize = blockSize;
    this.#next = mark;
    this.#limit = mark;
  }

  /**
   * Opens the counter stored under `key`, resuming at its high-water mark.
   * @throws ConfigError IN_USE if an allocator for (storage, key) is open in this process;
   *   StorageError if the stored mark is malformed or unreadable
   */
  static async open(storage: Storage, key: string, options: SequenceAllocatorOptions = {}): Promise<SequenceAllocator> {
    checkKey(key);
    const blockSize = aoptInt(options.blockSize, DEFAULT_BLOCK_SIZE, 1, MAX_BLOCK_SIZE, 'blockSize');
    let keys = openKeys.get(storage);
    if (!keys) openKeys.set(storage, (keys = new Set()));
    if (keys.has(key)) throw new ConfigError('IN_USE', `a SequenceAllocator for ${key} is already open on this storage`);
    keys.add(key);
    try {
      const stored = await storage.get(key);
      return new SequenceAllocator(storage, key, blockSize, stored === undefined ? 0 : decodeMark(stored, key));
    } catch (err) {
      keys.delete(key);
      throw err;
    }
  }

  /**
   * The next number, never handed out before by this or any earlier process
   * using the same storage and key. Concurrent calls get distinct, increasing
   * numbers; at most one reservation is in flight.
   * @throws StorageError if the reservation could not be made durable (nothing is handed out; a later call retries);
   *   RangeError when 2^53 numbers are used up; ConfigError CLOSED after close()
   */
  async next(): Promise<number> {
    for (;;) {
      const n = this.tryNextSync();
      if (n !== undefined) return n;
      this.#reserving ??= this.#reserve().finally(() => {
        this.#reserving = undefined;
      });
      await this.#reserving;
    }
  }

  /** The next number if the current block has one (no I/O), else undefined: then call next(). */
  tryNextSync(): number | undefined {
    if (this.#closed) throw new ConfigError('CLOSED', `the SequenceAllocator for ${this.key} is closed`);
    if (this.#next >= this.#limit) return undefined;
    return this.#next++;
  }

  /** The durable high-water mark: every number handed out so far is below it. */
  highWaterMark(): number {
    return this.#limit;
  }

  /** Releases (storage, key) so it may be opened again; later calls throw ConfigError CLOSED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openKeys.get(this.#storage)?.delete(this.key);
  }

  async #reserve(): Promise<void> {
    if (this.#limit >= END) throw new RangeError(`sequence ${this.key} is exhausted (2^53 numbers used)`);
    const mark = Math.min(this.#limit + this.blockSize, END);
    await this.#storage.set(this.key, encodeMark(mark)); // write-ahead: durable before any number of the block is used
    this.#limit = mark;
  }
}
