// The bounded codec every protocol message is built on.
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, boundInput } from '../../src/wire/codec.js';
import { SecurityError } from '../../src/errors.js';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return err instanceof SecurityError ? err.code : `not a SecurityError: ${String(err)}`;
  }
  return 'no error';
};

describe('ByteWriter / ByteReader', () => {
  it('round-trips every field type, growing the buffer from one byte', () => {
    const big = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    const w = new ByteWriter(1);
    w.u8(7).u16(0xbeef).u32(0xdeadbeef).u64(2 ** 53 - 1).fixed(big, 5000, 'big').bytes16(big.subarray(0, 300)).bytes32(big).string16('zürich/ü');
    for (let i = 0; i < 600; i++) w.u8(i & 0xff); // one-byte writes across several growths
    const bytes = w.finish();
    const r = new ByteReader(bytes);
    expect(r.u8('a')).toBe(7);
    expect(r.u16('b')).toBe(0xbeef);
    expect(r.u32('c')).toBe(0xdeadbeef);
    expect(r.u64('d')).toBe(2 ** 53 - 1);
    expect(r.fixed(5000, 'e')).toEqual(big);
    expect(r.bytes16(300, 'f')).toEqual(big.subarray(0, 300));
    expect(r.bytes32(5000, 'g')).toEqual(big);
    expect(r.string16(64, 'h')).toBe('zürich/ü');
    for (let i = 0; i < 600; i++) expect(r.u8('i')).toBe(i & 0xff);
    r.end('all');
  });

  it('rejects over-reads, oversized lengths, huge u64, trailing bytes and bad UTF-8 as MALFORMED', () => {
    expect(code(() => new ByteReader(new Uint8Array(3)).u32('x'))).toBe('MALFORMED');
    expect(code(() => new ByteReader(new Uint8Array([0, 10, 1, 2])).bytes16(100, 'x'))).toBe('MALFORMED');
    expect(code(() => new ByteReader(new Uint8Array([0, 200, ...new Uint8Array(200)])).bytes16(100, 'x'))).toBe('MALFORMED');
    expect(code(() => new ByteReader(new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 0])).u64('x'))).toBe('MALFORMED');
    expect(code(() => new ByteReader(new Uint8Array(2)).end('x'))).toBe('MALFORMED');
    expect(code(() => new ByteReader(new Uint8Array([0, 2, 0xc3, 0x28])).string16(10, 'x'))).toBe('MALFORMED');
    expect(code(() => boundInput(new Uint8Array(11), 10, 'x'))).toBe('TOO_LARGE');
  });

  it('keeps a leading byte-order mark: different bytes never decode to the same text', () => {
    const withBom = new ByteReader(new Uint8Array([0, 4, 0xef, 0xbb, 0xbf, 0x61])).string16(10, 'id');
    expect(withBom).toBe('\ufeffa');
    expect(withBom).not.toBe('a');
  });

  it('refuses values it cannot encode', () => {
    expect(() => new ByteWriter().u8(256)).toThrow(RangeError);
    expect(() => new ByteWriter().u64(2 ** 53)).toThrow(RangeError);
    expect(() => new ByteWriter().fixed(new Uint8Array(3), 4, 'key')).toThrow(/key must be 4 bytes/);
  });
});
