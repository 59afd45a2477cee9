// Subject ids: the name a certificate binds keys to, and the `sender` in every
// security event. 1 to 128 UTF-8 bytes of well-formed text, with no control
// characters, no U+FEFF (a BOM some decoders strip silently), and none of '/',
// '+', '#' so an id can always stand as a single MQTT topic level.

/** The largest subject id, in UTF-8 bytes. */
import { astring } from '../../bindings/assert-sdk.js';

export const MAX_SUBJECT_BYTES = 128;

const utf8 = new TextEncoder();

/**
 * Checks a subject id and returns it.
 *
 * @throws TypeError if `id` is not a string; RangeError naming the rule broken.
 * @example validateSubjectId('plc-7'); // 'plc-7'
 */
export function validateSubjectId(value: unknown, what = 'subject id'): string {
  const id = astring(value, what);
  if (id.length === 0) throw new RangeError(`${what} must not be empty`);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) {
      throw new RangeError(`${what} must not contain control character U+${c.toString(16).padStart(4, '0')} (at index ${i})`);
    }
    if (c === 0xfeff) throw new RangeError(`${what} must not contain U+FEFF (at index ${i})`);
    if (c === 0x2f || c === 0x2b || c === 0x23) {
      throw new RangeError(`${what} must not contain '${id[i]}' (at index ${i}): it must be usable as one MQTT topic level`);
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = id.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) throw new RangeError(`${what} has a lone surrogate at index ${i}`);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new RangeError(`${what} has a lone surrogate at index ${i}`);
    }
  }
  // A UTF-16 code unit takes at most 3 UTF-8 bytes (a surrogate pair, 2 units, takes 4): short ids need no encoding.
  if (id.length * 3 <= MAX_SUBJECT_BYTES) return id;
  const bytes = utf8.encode(id).length;
  if (bytes > MAX_SUBJECT_BYTES) throw new RangeError(`${what} must be at most ${MAX_SUBJECT_BYTES} UTF-8 bytes, got ${bytes}`);
  return id;
}
