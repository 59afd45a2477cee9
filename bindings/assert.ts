// Argument checks at every entry, naming the argument (after @noble's abytes).
// TypeError for a wrong type, RangeError for a wrong length.

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array || (ArrayBuffer.isView(value) && value.constructor.name === 'Uint8Array');
}

/** Checks that `value` is a Uint8Array, of exactly `length` bytes when given. */
export function abytes(value: unknown, length: number | undefined, label: string): Uint8Array {
  if (!isBytes(value)) {
    const got = value === null ? 'null' : typeof value === 'object' ? value.constructor?.name ?? 'object' : typeof value;
    throw new TypeError(`${label} must be a Uint8Array, got ${got}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${label} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

/** Checks that `value` is a Uint8Array of at most `max` bytes. */
export function abytesMax(value: unknown, max: number, label: string): Uint8Array {
  const bytes = abytes(value, undefined, label);
  if (bytes.length > max) throw new RangeError(`${label} must be at most ${max} bytes, got ${bytes.length}`);
  return bytes;
}

/** Checks an optional seed: absent, or exactly `length` bytes. */
export function aseed(value: unknown, length: number, label: string): Uint8Array | undefined {
  return value === undefined ? undefined : abytes(value, length, label);
}
