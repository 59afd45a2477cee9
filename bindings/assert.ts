// The one way to check an argument, for bindings/ and src/ alike (after
// @noble's abytes). Every check names the argument and says what it got:
// TypeError for a wrong type, RangeError for a right type with a wrong value
// (a length, a range, a fraction where an integer is due, NaN). Checks return
// the value, narrowed, so a call reads `const n = aint(opts.count, 1, 16, 'count')`.
//
// Where a rule belongs to a format (a topic's grammar, a subject id, a storage
// key), its check lives with the format and uses these for the type part.
//
// Two files, one module: this one holds the checks the core uses too;
// assert-sdk.ts re-exports them and adds those only src/ uses (options with
// defaults, counts, clock readings, arrays, objects). src/ imports
// assert-sdk.ts, bindings/ this file: the loader glue a browser downloads (the
// 60 KiB wasm + glue budget) carries only this one, and every message goes
// through refuse() to keep it small.

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array || (ArrayBuffer.isView(value) && value.constructor.name === 'Uint8Array');
}

/** What a message says was passed instead: 'null', 'string', 'Object', ... */
export function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? ((value as object).constructor?.name ?? 'object') : typeof value;
}

/** Throws `<label> must <rule>, got <got>`: a RangeError if `got` is the wrong value, a TypeError (with its type) if not. */
export function refuse(range: boolean, label: string, rule: string, got: unknown): never {
  throw new (range ? RangeError : TypeError)(`${label} must ${rule}, got ${range ? got : describe(got)}`);
}

/** Checks that `value` is a Uint8Array, of exactly `length` bytes when given. */
export function abytes(value: unknown, length: number | undefined, label: string): Uint8Array {
  if (!isBytes(value)) refuse(false, label, 'be a Uint8Array', value);
  if (length !== undefined && value.length !== length) refuse(true, label, `be ${length} bytes`, value.length);
  return value;
}



/** Checks an optional seed: absent, or exactly `length` bytes. */
export function aseed(value: unknown, length: number, label: string): Uint8Array | undefined {
  return value === undefined ? undefined : abytes(value, length, label);
}

/** Checks that `value` is a safe integer from `min` to `max` inclusive. */
export function aint(value: unknown, min: number, max: number, label: string): number {
  if (typeof value !== 'number') refuse(false, label, 'be an integer', value);
  if (!Number.isSafeInteger(value) || value < min || value > max) refuse(true, label, `be an integer from ${min} to ${max}`, value);
  return value;
}




/** Checks `typeof value` ('string', 'function', ...; the value's rules are the caller's). */
export function atype<T>(value: unknown, type: 'string' | 'number' | 'function' | 'boolean', label: string): T {
  if (typeof value !== type) refuse(false, label, `be a ${type}`, value);
  return value as T;
}

/** Checks that `value` is a string (its grammar is the caller's). */
export function astring(value: unknown, label: string): string {
  return atype<string>(value, 'string', label);
}



/** Checks that `value` is one of `allowed` (string options such as a build or a suite name). */
export function aoneOf<T extends string>(value: unknown, allowed: readonly T[], label: string): T {
  const text = astring(value, label);
  if (!(allowed as readonly string[]).includes(text)) refuse(true, label, `be one of ${allowed.join(', ')}`, text);
  return text as T;
}
