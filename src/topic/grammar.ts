// MQTT topic names and topic filters (MQTT 3.1.1 section 4.7, MQTT 5 section
// 4.7): validation, matching, and filter coverage (the check behind a
// subscribe right). Levels are separated by '/', may be empty, and are
// compared exactly (case-sensitive, no normalisation). A filter whose first
// level is a wildcard never matches a topic whose first character is '$'.

import { astring } from '../../bindings/assert-sdk.js';

/** The MQTT limit for a topic name or filter, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 65_535;

// Strings already found valid: every message checks its topic and its
// channel again (both rarely change), and the checks walk every character.
// Validity is a property of the string alone, so remembering it is exact; the
// sets are bounded (cleared when full) and hold short strings only.
const MEMO_LIMIT = 1024;
const MEMO_MAX_LENGTH = 512;
const validNames = new Set<string>();
const validFilters = new Set<string>();
// filter -> topic -> result. Two levels rather than one joined key: the
// strings a message brings are hashed once and reused, where a joined key is
// a new string (hashed anew) on every call.
const matches = new Map<string, Map<string, boolean>>();
let matchCount = 0;
function remember(set: Set<string>, text: string): void {
  if (text.length > MEMO_MAX_LENGTH) return;
  if (set.size >= MEMO_LIMIT) set.clear();
  set.add(text);
}

/**
 * Checks the rules common to names and filters: a string, non-empty, well-formed
 * UTF-16 (so it has a UTF-8 form), no U+0000, at most 65,535 UTF-8 bytes.
 * Returns the UTF-8 length.
 */
function checkCommon(value: unknown, what: string): string {
  const text = astring(value, what);
  if (text.length === 0) throw new RangeError(`${what} must not be empty`);
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) throw new RangeError(`${what} must not contain U+0000 (at index ${i})`);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        throw new RangeError(`${what} is not well-formed UTF-16: lone surrogate at index ${i}`);
      }
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new RangeError(`${what} is not well-formed UTF-16: lone surrogate at index ${i}`);
    } else bytes += 3;
    if (bytes > MAX_TOPIC_BYTES) {
      throw new RangeError(`${what} must be at most ${MAX_TOPIC_BYTES} UTF-8 bytes (exceeded at index ${i})`);
    }
  }
  return text;
}

/**
 * Checks a topic name (what a PUBLISH carries): non-empty, at most 65,535 UTF-8
 * bytes, well-formed, no U+0000, no '+' or '#' anywhere.
 *
 * @throws TypeError if `topic` is not a string; RangeError naming the rule and
 *   the index where it is broken.
 * @example validateTopicName('plant/line1/temp'); // ok
 */
export function validateTopicName(topic: string): void {
  if (typeof topic === 'string' && validNames.has(topic)) return;
  checkCommon(topic, 'topic name');
  for (let i = 0; i < topic.length; i++) {
    const c = topic[i];
    if (c === '+' || c === '#') {
      throw new RangeError(`topic name must not contain the wildcard '${c}' (at index ${i})`);
    }
  }
  remember(validNames, topic);
}

/**
 * Checks a topic filter (what a SUBSCRIBE carries): the topic name rules, except
 * that '+' may appear as a whole level anywhere and '#' only as the whole last
 * level.
 *
 * @throws TypeError if `filter` is not a string; RangeError naming the rule and
 *   the level where it is broken.
 * @example validateTopicFilter('plant/+/temp/#'); // ok
 */
export function validateTopicFilter(filter: string): void {
  if (typeof filter === 'string' && validFilters.has(filter)) return;
  checkCommon(filter, 'topic filter');
  const levels = filter.split('/');
  levels.forEach((level, index) => {
    if (level.length <= 1) {
      if (level === '#' && index !== levels.length - 1) {
        throw new RangeError(`topic filter: '#' must be the last level, found at level ${index} of ${levels.length}`);
      }
      return;
    }
    const plus = level.indexOf('+');
    if (plus >= 0) {
      throw new RangeError(`topic filter: '+' must occupy a whole level, found inside level ${index} ("${level}")`);
    }
    if (level.includes('#')) {
      throw new RangeError(`topic filter: '#' must occupy a whole level, found inside level ${index} ("${level}")`);
    }
  });
  remember(validFilters, filter);
}

/** True if `filter` is a valid topic filter (never throws). */
export function isValidTopicFilter(filter: unknown): filter is string {
  try {
    validateTopicFilter(filter as string);
    return true;
  } catch {
    return false;
  }
}

/** True if `topic` is a valid topic name (never throws). */
export function isValidTopicName(topic: unknown): topic is string {
  try {
    validateTopicName(topic as string);
    return true;
  } catch {
    return false;
  }
}

const isWildcard = (level: string): boolean => level === '+' || level === '#';

/**
 * True if the topic name `topic` matches the topic filter `filter`: '+' matches
 * exactly one level (possibly empty), '#' matches its parent level and any
 * number of levels below it, and a filter that starts with a wildcard does not
 * match a topic that starts with '$'.
 *
 * @throws TypeError/RangeError if either argument is invalid (see the validators).
 * @example topicMatches('plant/#', 'plant'); // true
 * @example topicMatches('+/status', '$SYS/status'); // false
 */
export function topicMatches(filter: string, topic: string): boolean {
  // Every message checks its topic against its channel (and its sender's
  // rights): the same few pairs, each costing two splits. Only pairs of valid
  // strings are remembered, so a remembered pair needs no validation again.
  const byTopic = matches.get(filter);
  const known = byTopic?.get(topic);
  if (known !== undefined) return known;
  validateTopicFilter(filter);
  validateTopicName(topic);
  const result = matchLevels(filter, topic);
  if (filter.length + topic.length < MEMO_MAX_LENGTH) {
    if (matchCount >= MEMO_LIMIT) {
      matches.clear();
      matchCount = 0;
    }
    let m = matches.get(filter);
    if (m === undefined) matches.set(filter, (m = new Map()));
    m.set(topic, result);
    matchCount++;
  }
  return result;
}

function matchLevels(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && isWildcard(f[0]!)) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true; // the parent level (i === t.length) and everything below
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * True if every topic name matched by `requested` is also matched by `granted`,
 * i.e. a right to subscribe to `granted` includes the right to subscribe to
 * `requested`. Exact: false whenever some topic matched by `requested` is not
 * matched by `granted`.
 *
 * @throws TypeError/RangeError if either filter is invalid.
 * @example filterCovers('plant/#', 'plant/+/temp'); // true
 * @example filterCovers('plant/+', 'plant/#'); // false ('plant' and 'plant/a/b')
 */
export function filterCovers(granted: string, requested: string): boolean {
  validateTopicFilter(granted);
  validateTopicFilter(requested);
  const g = granted.split('/');
  const r = requested.split('/');
  // A granted filter that starts with a wildcard matches no '$' topic, while a
  // requested filter matches '$' topics only if its first level is a literal
  // starting with '$'.
  if (isWildcard(g[0]!) && r[0]!.startsWith('$')) return false;
  for (let i = 0; i < g.length; i++) {
    const gl = g[i]!;
    if (gl === '#') return true; // any suffix, including none
    if (i >= r.length) return false; // requested matches topics of exactly i levels; granted needs more
    const rl = r[i]!;
    if (rl === '#') {
      // Requested matches every suffix from level i, and also no suffix at
      // all (its parent) unless that parent would be the empty string, which
      // is not a topic name: at level 0, or at level 1 after an empty first
      // level. Without the parent, '+/#' here is exactly as wide as '#'.
      const parentPossible = i >= 2 || (i === 1 && r[0] !== '');
      return !parentPossible && gl === '+' && g.length === i + 2 && g[i + 1] === '#';
    }
    if (gl === '+') continue; // covers '+' and any literal
    if (rl === '+' || rl !== gl) return false;
  }
  return g.length === r.length;
}
