// Canonical, bounded binary encoding for every protocol message. The reader
// checks each length against what is left (and against a caller's bound)
// before touching the bytes, and any violation is a SecurityError('MALFORMED'),
// so a parser can never over-read, allocate from a forged length, or accept
// trailing garbage. Integers are big-endian; u64 values are JS numbers up to
// 2^53 - 1 (sequence numbers and millisecond timestamps fit with room).

import { SecurityError } from '../errors.js';
import { malformed } from './fields.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const utf8 = new TextEncoder();
// ignoreBOM: a leading U+FEFF is kept, so two different byte strings never decode to the same text.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class ByteWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf.fill(0); // the old buffer may have held plaintext or keys
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`u8 out of range: ${v}`);
    const at = this.room(1); // room() may replace this.buf: index after calling it
    this.buf[at] = v;
    return this;
  }

  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`u16 out of range: ${v}`);
    const at = this.room(2);
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`u32 out of range: ${v}`);
    const at = this.room(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setUint32(at, v);
    return this;
  }

  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 must be a safe non-negative integer: ${v}`);
    const at = this.room(8);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset);
    view.setUint32(at, Math.floor(v / 2 ** 32));
    view.setUint32(at + 4, v >>> 0);
    return this;
  }

  /** Raw bytes of a length both sides know (keys, fixed-size fields). */
  fixed(bytes: Uint8Array, length: number, label: string): this {
    if (bytes.length !== length) throw new RangeError(`${label} must be ${length} bytes, got ${bytes.length}`);
    const at = this.room(length);
    this.buf.set(bytes, at);
    return this;
  }

  /** Bytes prefixed by their length as u16 (at most 65,535). */
  bytes16(bytes: Uint8Array): this {
    this.u16(bytes.length);
    const at = this.room(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  /** Bytes prefixed by their length as u32. */
  bytes32(bytes: Uint8Array): this {
    this.u32(bytes.length);
    const at = this.room(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  /** UTF-8 text prefixed by its byte length as u16. */
  string16(text: string): this {
    return this.bytes16(utf8.encode(text));
  }

  get length(): number {
    return this.len;
  }

  /** The encoded bytes (a copy; the writer's buffer is wiped). */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.buf.fill(0);
    this.len = 0;
    return out;
  }
}

export class ByteReader {
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private take(n: number, what: string): number {
    if (n > this.remaining) malformed(`${what}: needs ${n} bytes, ${this.remaining} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.bytes[this.take(1, what)]!;
  }

  u16(what: string): number {
    const at = this.take(2, what);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  u32(what: string): number {
    const at = this.take(4, what);
    return new DataView(this.bytes.buffer, this.bytes.byteOffset).getUint32(at);
  }

  u64(what: string): number {
    const at = this.take(8, what);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset);
    const hi = view.getUint32(at);
    if (hi > 0x1fffff) malformed(`${what}: larger than 2^53 - 1`);
    return hi * 2 ** 32 + view.getUint32(at + 4);
  }

  /** A view of the next `length` bytes (copy it if it must outlive the input). */
  fixed(length: number, what: string): Uint8Array {
    const at = this.take(length, what);
    return this.bytes.subarray(at, at + length);
  }

  /** u16-length-prefixed bytes, at most `max`. */
  bytes16(max: number, what: string): Uint8Array {
    const n = this.u16(`${what} length`);
    if (n > max) malformed(`${what}: ${n} bytes, at most ${max} allowed`);
    return this.fixed(n, what);
  }

  /** u32-length-prefixed bytes, at most `max`. */
  bytes32(max: number, what: string): Uint8Array {
    const n = this.u32(`${what} length`);
    if (n > max) malformed(`${what}: ${n} bytes, at most ${max} allowed`);
    return this.fixed(n, what);
  }

  /** u16-length-prefixed UTF-8 text of at most `maxBytes` bytes; invalid UTF-8 is malformed. */
  string16(maxBytes: number, what: string): string {
    const raw = this.bytes16(maxBytes, what);
    try {
      return utf8Strict.decode(raw);
    } catch {
      return malformed(`${what}: not valid UTF-8`);
    }
  }

  /** The bytes read so far (for signatures computed over a prefix). */
  consumed(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  /** Fails unless every byte was read: no trailing data is ever ignored. */
  end(what: string): void {
    if (this.remaining !== 0) malformed(`${what}: ${this.remaining} trailing bytes`);
  }
}

/** Rejects input longer than `max` before any parsing work. */
export function boundInput(bytes: unknown, max: number, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) malformed(`${what}: not bytes`);
  if (bytes.length > max) throw new SecurityError('TOO_LARGE', { detail: `${what}: ${bytes.length} bytes, at most ${max}` });
  return bytes;
}

export const MAX_U64 = MAX_SAFE;
