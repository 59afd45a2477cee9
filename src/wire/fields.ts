// The fields every encoding shares (identities, certificates, envelopes): the
// two parse rejections, and readers for text fields that check each field
// against its own rules, so a subject id, a topic name or a topic filter that
// breaks them is MALFORMED however the bytes came in. Text is read with the
// codec's strict string16: invalid UTF-8 is refused and a leading U+FEFF kept,
// so two byte strings never decode to one field.

import { SecurityError } from '../errors.js';
import { validateTopicFilter, validateTopicName } from '../topic/grammar.js';
import type { ByteReader } from './codec.js';
import { MAX_SUBJECT_BYTES, validateSubjectId } from './subject-id.js';

/** The longest topic name a field carries, in UTF-8 bytes (MQTT allows 65,535). */
export const MAX_TOPIC_NAME_BYTES = 1024;

/** The longest topic filter a field carries (a certificate right, an envelope channel), in UTF-8 bytes. */
export const MAX_FILTER_BYTES = 1024;

/** The bytes do not parse as the message they claim to be. */
export function malformed(detail: string): never {
  throw new SecurityError('MALFORMED', { detail });
}

/** An unknown format version, suite or flag: readable by some other version, not by this one. */
export function unsupported(detail: string): never {
  throw new SecurityError('UNSUPPORTED_VERSION', { detail });
}

const utf8 = new TextEncoder();

export const encodeUtf8 = (text: string): Uint8Array => utf8.encode(text);

/** A subject id; one that breaks the subject rules is MALFORMED (the rule's message names `what`). */
export function readSubject(r: ByteReader, what: string): string {
  const text = r.string16(MAX_SUBJECT_BYTES, what);
  try {
    return validateSubjectId(text, what);
  } catch (err) {
    return malformed((err as Error).message);
  }
}

/** A topic name (no wildcards); an invalid one is MALFORMED. */
export function readTopicName(r: ByteReader, what: string): string {
  const text = r.string16(MAX_TOPIC_NAME_BYTES, what);
  return validOr(() => validateTopicName(text), text, what);
}

/** A topic filter; an invalid one is MALFORMED. */
export function readFilter(r: ByteReader, what: string): string {
  const text = r.string16(MAX_FILTER_BYTES, what);
  return validOr(() => validateTopicFilter(text), text, what);
}

// The topic validators name the grammar ('topic filter: ...'), not the field: the field's name goes in front.
function validOr(check: () => void, text: string, what: string): string {
  try {
    check();
  } catch (err) {
    malformed(`${what}: ${(err as Error).message}`);
  }
  return text;
}
