// The argument checks only src/ uses, with all of bindings/assert.ts
// re-exported: src/ imports this file, bindings/ assert.ts (why the two are
// apart: see there).

import { abytes, aint, atype, refuse } from './assert.js';

export * from './assert.js';

/** Checks that `value` is a Uint8Array of at most `max` bytes. */
export function abytesMax(value: unknown, max: number, label: string): Uint8Array {
  const bytes = abytes(value, undefined, label);
  if (bytes.length > max) refuse(true, label, `be at most ${max} bytes`, bytes.length);
  return bytes;
}

/** Checks that `value` is a Uint8Array of `min` to `max` bytes. */
export function abytesIn(value: unknown, min: number, max: number, label: string): Uint8Array {
  const bytes = abytes(value, undefined, label);
  if (bytes.length < min || bytes.length > max) refuse(true, label, `be ${min} to ${max} bytes`, bytes.length);
  return bytes;
}

/** An integer option: `fallback` when absent, else checked as by aint. */
export function aoptInt(value: unknown, fallback: number, min: number, max: number, label: string): number {
  return value === undefined ? fallback : aint(value, min, max, label);
}

/** Checks a count or a time in ms: a safe integer >= 0. */
export function auint(value: unknown, label: string): number {
  return aint(value, 0, Number.MAX_SAFE_INTEGER, label);
}

/**
 * Checks a finite number (a clock reading in ms, possibly fractional). NaN
 * would make every window comparison false, i.e. let an expired certificate
 * or a stale message through.
 */
export function afinite(value: unknown, label: string): number {
  if (!Number.isFinite(atype<number>(value, 'number', label))) refuse(true, label, 'be a finite number', value);
  return value as number;
}

/** Checks that `value` is an array of at most `max` items (the items are the caller's). */
export function aarray(value: unknown, max: number, label: string): unknown[] {
  if (!Array.isArray(value)) refuse(false, label, 'be an array', value);
  if (value.length > max) refuse(true, label, `have at most ${max} items`, value.length);
  return value;
}

/** Checks an object argument (options, or a field holding an object); arrays and null are refused. */
export function aobject<T extends object>(value: T | undefined, label: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse(false, label, 'be an object', value);
  return value;
}
