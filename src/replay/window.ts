// A sliding anti-replay window over one stream's sequence numbers: the bitmap
// technique of RFC 4303 (IPsec ESP) section 3.4.3 and RFC 6347 (DTLS) section
// 4.1.2.6, kept as a ring of bits (RFC 6479) so advancing never shifts memory.
//
// Sequence numbers are JavaScript `number`s: safe integers 0 .. 2^53-1
// (Number.MAX_SAFE_INTEGER). The wire carries 64 bits; a parser must reject
// anything above 2^53-1 as MALFORMED before it gets here. At one message per
// microsecond, 2^53 lasts 285 years, and `number` keeps the hot path free of
// bigint allocation.
//
// The window remembers, for the highest accepted number h, which of the `size`
// numbers h-size+1 .. h were accepted. Anything at or below h-size is too old
// to tell apart and is a 'replay'.

import { abytes, aint, auint } from '../../bindings/assert-sdk.js';
import { SecurityError, StorageError } from '../errors.js';

/** 'fresh': never accepted (accept it once authenticated); 'duplicate': accepted already; 'replay': too old to tell. */
export type ReplayClass = 'fresh' | 'duplicate' | 'replay';

export const DEFAULT_WINDOW_SIZE = 1024;
export const MIN_WINDOW_SIZE = 64;
/** Upper bound on a window's size (128 KiB of bitmap), so deserialisation never allocates without bound. */
export const MAX_WINDOW_SIZE = 1 << 20;

const MAGIC_0 = 0x52; // 'R'
const MAGIC_1 = 0x57; // 'W'
const VERSION = 1;
const HEADER_BYTES = 16;
const HAS_HIGHEST = 1;

function corrupt(detail: string): StorageError {
  return new StorageError('CORRUPT', `replay window: ${detail}`);
}

export class ReplayWindow {
  readonly size: number;
  /** Bit (seq % size) says whether seq was accepted, for seq in (highest-size, highest]. */
  readonly #bits: Uint32Array;
  #highest: number | undefined;

  constructor(size: number = DEFAULT_WINDOW_SIZE) {
    aint(size, MIN_WINDOW_SIZE, MAX_WINDOW_SIZE, 'size');
    this.size = size;
    this.#bits = new Uint32Array(Math.ceil(size / 32));
  }

  /** Classifies `seq` without changing anything. Call it before verifying the message. */
  check(seq: number): ReplayClass {
    auint(seq, 'seq');
    const h = this.#highest;
    if (h === undefined || seq > h) return 'fresh';
    if (seq <= h - this.size) return 'replay';
    return this.#has(seq) ? 'duplicate' : 'fresh';
  }

  /**
   * Records `seq` as accepted. Call it only after the message authenticated.
   * @throws SecurityError DUPLICATE or REPLAY when `seq` is no longer fresh
   *   (another copy was accepted between check() and accept()); do not deliver then.
   */
  accept(seq: number): void {
    const verdict = this.check(seq);
    if (verdict !== 'fresh') {
      throw new SecurityError(verdict === 'duplicate' ? 'DUPLICATE' : 'REPLAY', {
        detail: `sequence number ${seq} ${verdict === 'duplicate' ? 'was already accepted' : 'is below the replay window'}`,
      });
    }
    const h = this.#highest;
    if (h === undefined || seq > h) {
      this.#advance(h, seq);
      this.#highest = seq;
    }
    this.#set(seq);
  }

  /** The highest accepted sequence number, or undefined before the first. */
  highest(): number | undefined {
    return this.#highest;
  }

  /**
   * A canonical encoding: "RW", version 1, flags (1 = has highest), size
   * (u32 BE), highest (u64 BE), then ceil(size/8) bytes of ring bitmap
   * (byte j bit k = ring slot 8j+k).
   */
  serialize(): Uint8Array {
    const out = new Uint8Array(HEADER_BYTES + Math.ceil(this.size / 8));
    const view = new DataView(out.buffer);
    out[0] = MAGIC_0;
    out[1] = MAGIC_1;
    out[2] = VERSION;
    const h = this.#highest;
    out[3] = h === undefined ? 0 : HAS_HIGHEST;
    view.setUint32(4, this.size);
    if (h !== undefined) {
      view.setUint32(8, Math.floor(h / 2 ** 32));
      view.setUint32(12, h % 2 ** 32);
    }
    // Slot 32w+k is bit k of word w, so byte j is byte (j & 3) of word j >> 2, little-endian.
    for (let j = 0; j < out.length - HEADER_BYTES; j++) {
      out[HEADER_BYTES + j] = (this.#bits[j >> 2]! >>> ((j & 3) * 8)) & 0xff;
    }
    return out;
  }

  /**
   * Parses serialize()'s output, checking every field. With `size` different
   * from the stored one, the window is resized: shrinking keeps the newest
   * slots; growing marks the slots it cannot know about as seen (conservative:
   * they are rejected as duplicates rather than risk accepting a replay).
   * @throws TypeError if `bytes` is not a Uint8Array; RangeError for a bad `size`;
   *   StorageError CORRUPT for anything malformed.
   */
  static deserialize(bytes: Uint8Array, size?: number): ReplayWindow {
    abytes(bytes, undefined, 'bytes');
    if (size !== undefined) aint(size, MIN_WINDOW_SIZE, MAX_WINDOW_SIZE, 'size');
    if (bytes.length < HEADER_BYTES) throw corrupt(`${bytes.length} bytes is shorter than the header`);
    if (bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) throw corrupt('bad magic');
    if (bytes[2] !== VERSION) throw corrupt(`unknown version ${bytes[2]}`);
    const flags = bytes[3]!;
    if (flags !== 0 && flags !== HAS_HIGHEST) throw corrupt(`unknown flags ${flags}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const stored = view.getUint32(4);
    if (stored < MIN_WINDOW_SIZE || stored > MAX_WINDOW_SIZE) throw corrupt(`size ${stored} out of range`);
    if (bytes.length !== HEADER_BYTES + Math.ceil(stored / 8)) {
      throw corrupt(`${bytes.length} bytes, expected ${HEADER_BYTES + Math.ceil(stored / 8)} for size ${stored}`);
    }
    const hi = view.getUint32(8);
    const lo = view.getUint32(12);
    if (hi > 0x1fffff) throw corrupt('highest exceeds 2^53-1');
    const highest = hi * 2 ** 32 + lo;

    const w = new ReplayWindow(stored);
    for (let j = 0; j < bytes.length - HEADER_BYTES; j++) {
      w.#bits[j >> 2]! |= bytes[HEADER_BYTES + j]! << ((j & 3) * 8);
    }
    const padding = stored & 7;
    if (padding !== 0 && bytes[bytes.length - 1]! >> padding !== 0) throw corrupt('padding bits set');

    if (flags === 0) {
      if (highest !== 0 || w.#bits.some((word) => word !== 0)) throw corrupt('empty window with state');
    } else {
      w.#highest = highest;
      if (!w.#has(highest)) throw corrupt('highest is not marked as accepted');
      // Slots h+1 .. size-1 stand for negative numbers while h < size-1: never accepted.
      for (let slot = highest + 1; slot < stored; slot++) {
        if (w.#bitAt(slot)) throw corrupt('a slot before sequence number 0 is marked');
      }
    }
    return size === undefined || size === stored ? w : w.#resized(size);
  }

  #resized(size: number): ReplayWindow {
    const out = new ReplayWindow(size);
    const h = this.#highest;
    if (h === undefined) return out;
    out.#highest = h;
    const low = Math.max(0, h - size + 1);
    for (let seq = h; seq >= low; seq--) {
      // Inside the old window: copy; older than it: unknown, so count as seen.
      if (seq <= h - this.size || this.#has(seq)) out.#set(seq);
    }
    return out;
  }

  /** Clears the slots of (from, to] (all when `from` is undefined or the jump is >= size). */
  #advance(from: number | undefined, to: number): void {
    if (from === undefined || to - from >= this.size) {
      this.#bits.fill(0);
      return;
    }
    for (let seq = from + 1; seq <= to; seq++) {
      const slot = seq % this.size;
      this.#bits[slot >>> 5]! &= ~(1 << (slot & 31));
    }
  }

  #bitAt(slot: number): boolean {
    return (this.#bits[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  #has(seq: number): boolean {
    return this.#bitAt(seq % this.size);
  }

  #set(seq: number): void {
    const slot = seq % this.size;
    this.#bits[slot >>> 5]! |= 1 << (slot & 31);
  }
}
