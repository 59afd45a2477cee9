// Shared pieces of the identity and certificate encodings: type bytes, error
// helpers, and strict text fields. Text is read with a decoder that keeps a
// leading U+FEFF (the codec's string16 strips it, which would let two byte
// strings decode to one id), then checked against the field's own rules.

import { SecurityError } from '../errors.js';
import type { ByteReader } from '../protocol/codec.js';
import { MAX_SUBJECT_BYTES, validateSubjectId } from '../identity/subject.js';
import { validateTopicFilter } from '../mqtt/topic.js';

/** First byte of each of our encodings: a message of one type never parses as another. */
export const TYPE = Object.freeze({
  identity: 0x49, // 'I'
  trustAnchor: 0x41, // 'A'
  certificate: 0x43, // 'C'
  revocationList: 0x52, // 'R'
  announcement: 0x4e, // 'N'
});

/** Subject key suite 1: Falcon-512 (signing), ML-KEM-768 and X25519 (key agreement). */
export const KEY_SUITE_ID = 1;

/** The one format version every encoding here has today. */
export const FORMAT_VERSION = 1;

/** The largest topic filter a certificate may carry, in UTF-8 bytes. */
export const MAX_FILTER_BYTES = 1024;

export function malformed(detail: string): never {
  throw new SecurityError('MALFORMED', { detail });
}

export function unsupported(detail: string): never {
  throw new SecurityError('UNSUPPORTED_VERSION', { detail });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

export const encodeUtf8 = (text: string): Uint8Array => utf8.encode(text);

/** Reads u16-length-prefixed UTF-8 of at most `maxBytes`, keeping every code point. */
export function readText(reader: ByteReader, maxBytes: number, what: string): string {
  const raw = reader.bytes16(maxBytes, what);
  try {
    return strictUtf8.decode(raw);
  } catch {
    return malformed(`${what}: not valid UTF-8`);
  }
}

/** Reads a subject id; one that breaks the subject rules is MALFORMED. */
export function readSubject(reader: ByteReader, what: string): string {
  const text = readText(reader, MAX_SUBJECT_BYTES, what);
  try {
    return validateSubjectId(text, what);
  } catch (err) {
    return malformed((err as Error).message);
  }
}

/** Reads an MQTT topic filter; an invalid one is MALFORMED. */
export function readFilter(reader: ByteReader, what: string): string {
  const text = readText(reader, MAX_FILTER_BYTES, what);
  try {
    validateTopicFilter(text);
  } catch (err) {
    malformed(`${what}: ${(err as Error).message}`);
  }
  return text;
}

/**
 * Checks a clock reading (ms since the epoch). NaN would make every window
 * comparison false, i.e. let an expired certificate through.
 */
export function checkNow(now: unknown, what = 'now'): number {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new TypeError(`${what} must be a finite number of milliseconds, got ${String(now)}`);
  return now;
}

/** label || tbs: what every signature in the protocol covers. */
export function signedMessage(label: Uint8Array, tbs: Uint8Array): Uint8Array {
  const out = new Uint8Array(label.length + tbs.length);
  out.set(label);
  out.set(tbs, label.length);
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
