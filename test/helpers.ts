// Small helpers shared by the tests.

export const seq = (length: number, start = 0): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

export const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/** A copy with one bit flipped. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}
