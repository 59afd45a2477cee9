// MQTT topic names, filters, matching and coverage: the spec's examples, every
// rule's rejection, and properties checked against a brute-force model.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_TOPIC_BYTES,
  filterCovers,
  isValidTopicFilter,
  isValidTopicName,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '../../src/topic/grammar.js';

describe('validateTopicName', () => {
  it.each(['a', '/', 'a/b/c', '/leading', 'trailing/', 'a//b', '$SYS/broker', 'ünïcødé/😀', ' '])('accepts %j', (t) => {
    expect(() => validateTopicName(t)).not.toThrow();
    expect(isValidTopicName(t)).toBe(true);
  });

  it.each([
    ['', RangeError, /must not be empty/],
    ['a/+/b', RangeError, /wildcard '\+' \(at index 2\)/],
    ['a/b#', RangeError, /wildcard '#' \(at index 3\)/],
    ['#', RangeError, /wildcard '#'/],
    ['a\u0000b', RangeError, /U\+0000 \(at index 1\)/],
    ['a\ud800b', RangeError, /lone surrogate at index 1/],
    ['a\udc00', RangeError, /lone surrogate at index 1/],
  ] as const)('rejects %j', (t, type, message) => {
    expect(() => validateTopicName(t)).toThrow(type);
    expect(() => validateTopicName(t)).toThrow(message);
    expect(isValidTopicName(t)).toBe(false);
  });

  it('rejects non-strings with TypeError', () => {
    for (const v of [undefined, null, 1, {}, new Uint8Array(1)]) {
      expect(() => validateTopicName(v as unknown as string)).toThrow(TypeError);
      expect(isValidTopicName(v)).toBe(false);
    }
  });

  it('bounds the UTF-8 length at 65,535 bytes, counting multi-byte characters', () => {
    expect(() => validateTopicName('a'.repeat(MAX_TOPIC_BYTES))).not.toThrow();
    expect(() => validateTopicName('a'.repeat(MAX_TOPIC_BYTES + 1))).toThrow(/at most 65535 UTF-8 bytes/);
    // 'é' is 2 bytes, '€' 3, '😀' 4 (one surrogate pair).
    expect(() => validateTopicName('é'.repeat(32_767) + 'a')).not.toThrow(); // 65,535
    expect(() => validateTopicName('é'.repeat(32_768))).toThrow(RangeError); // 65,536
    expect(() => validateTopicName('€'.repeat(21_845))).not.toThrow(); // 65,535
    expect(() => validateTopicName('😀'.repeat(16_383) + 'abc')).not.toThrow(); // 65,535
    expect(() => validateTopicName('😀'.repeat(16_384))).toThrow(RangeError); // 65,536
  });
});

describe('validateTopicFilter', () => {
  it.each(['#', '+', '+/+', '/+', '+/', 'a/#', 'a/+/b', '+/#', '$SYS/#', 'a//+', 'a/b'])('accepts %j', (f) => {
    expect(() => validateTopicFilter(f)).not.toThrow();
    expect(isValidTopicFilter(f)).toBe(true);
  });

  it.each([
    ['', /must not be empty/],
    ['a#', /'#' must occupy a whole level, found inside level 0/],
    ['a/b#', /'#' must occupy a whole level, found inside level 1/],
    ['#/a', /'#' must be the last level, found at level 0 of 2/],
    ['a/#/b', /'#' must be the last level, found at level 1 of 3/],
    ['a+', /'\+' must occupy a whole level, found inside level 0/],
    ['a/+b/c', /'\+' must occupy a whole level, found inside level 1/],
    ['++', /'\+' must occupy a whole level/],
    ['##', /'#' must occupy a whole level/],
    ['a/\u0000', /U\+0000 \(at index 2\)/],
    ['\udfff', /lone surrogate/],
  ])('rejects %j', (f, message) => {
    expect(() => validateTopicFilter(f)).toThrow(RangeError);
    expect(() => validateTopicFilter(f)).toThrow(message);
    expect(isValidTopicFilter(f)).toBe(false);
  });

  it('rejects non-strings with TypeError and long filters with RangeError', () => {
    expect(() => validateTopicFilter(42 as unknown as string)).toThrow(TypeError);
    expect(() => validateTopicFilter(`${'/'.repeat(MAX_TOPIC_BYTES)}#`)).toThrow(/at most 65535/); // 65,536
    expect(() => validateTopicFilter(`${'a/'.repeat(32_767)}#`)).not.toThrow(); // 65,535
  });
});

describe('topicMatches', () => {
  // MQTT 3.1.1 section 4.7.1 examples, and the '$' rule of 4.7.2.
  it.each([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['#', '/', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+', 'sport', true],
    ['+', '/sport', false],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+', '', null], // invalid topic
    ['sport', 'sport', true],
    ['sport', 'Sport', false],
    ['sport', 'sport/', false],
    ['sport/', 'sport', false],
    ['#', '$SYS/monitor', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['$SYS', '$SYS', true],
    ['a/$SYS/#', 'a/$SYS/x', true],
    ['+/$x', 'a/$x', true],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a', false],
  ] as const)('%j against %j', (filter, topic, expected) => {
    if (expected === null) expect(() => topicMatches(filter, topic)).toThrow(RangeError);
    else expect(topicMatches(filter, topic)).toBe(expected);
  });

  it('validates both arguments', () => {
    expect(() => topicMatches('a/#/b', 'a')).toThrow(/'#' must be the last level/);
    expect(() => topicMatches('a', 'a/+')).toThrow(/wildcard/);
  });
});

describe('filterCovers', () => {
  it.each([
    ['#', '#', true],
    ['#', 'a/#', true],
    ['#', '+', true],
    ['#', '$SYS/#', false],
    ['+/#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/#', 'a', true],
    ['a/#', 'a/+/c', true],
    ['a/#', 'a/#', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['a/b', 'a/+', false],
    ['a/b', 'a/b', true],
    ['a', 'a/#', false],
    ['+', '+', true],
    ['+', '#', false],
    ['+/+', '+/#', false],
    ['+/#', '+', true],
    ['+/#', '#', true],
    ['+/+/#', '#', false],
    ['+/#', '+/#', true],
    ['#', '+/#', true],
    ['a/+/#', 'a/+/#', true],
    ['/+/#', '/#', true], // '/#' cannot match its parent: '' is not a topic name
    ['+/+/#', '+/#', false], // '+/#' matches 'x'
    ['a/+/#', 'a/#', false],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a/+', true],
    ['/', '/', true],
    ['+/', '/', true],
    ['+/+', '/', true],
    ['/+', '+/', false],
    ['#', '/', true],
    ['+', '/', false],
  ] as const)('%j covers %j: %s', (granted, requested, expected) => {
    expect(filterCovers(granted, requested)).toBe(expected);
  });

  it('validates both filters', () => {
    expect(() => filterCovers('a#', 'a')).toThrow(RangeError);
    expect(() => filterCovers('a', '#/a')).toThrow(RangeError);
  });
});

// Small alphabets so random filters and topics overlap often. 'z' never occurs
// in a filter: a '+' or '#' in a requested filter is always witnessed by it.
const filterLevel = fc.constantFrom('a', 'b', '', '$s', '+', '#');
const topicLevel = fc.constantFrom('a', 'b', '', '$s', 'z');

const filterArb = fc
  .array(filterLevel, { minLength: 1, maxLength: 4 })
  .map((levels) => {
    const hash = levels.indexOf('#');
    return (hash >= 0 ? levels.slice(0, hash + 1) : levels).join('/');
  })
  .filter((f) => isValidTopicFilter(f));
const topicArb = fc.array(topicLevel, { minLength: 1, maxLength: 5 }).map((l) => l.join('/')).filter((t) => isValidTopicName(t));

/** Every topic over the topic alphabet with 1..depth levels. */
function universe(depth: number): string[] {
  const letters = ['a', 'b', '', '$s', 'z'];
  let layer: string[][] = [[]];
  const out: string[] = [];
  for (let d = 1; d <= depth; d++) {
    layer = layer.flatMap((prefix) => letters.map((l) => [...prefix, l]));
    for (const levels of layer) {
      const t = levels.join('/');
      if (isValidTopicName(t)) out.push(t);
    }
  }
  return out;
}
const TOPICS = universe(5);

/** An independent reference matcher: recursion over levels. */
function modelMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  const go = (i: number, j: number): boolean => {
    if (i === f.length) return j === t.length;
    if (f[i] === '#') return true;
    if (j === t.length) return false;
    return (f[i] === '+' || f[i] === t[j]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

describe('properties', () => {
  it('topicMatches agrees with the reference model', () => {
    fc.assert(fc.property(filterArb, topicArb, (f, t) => topicMatches(f, t) === modelMatches(f, t)), { numRuns: 2000 });
  });

  it('filterCovers(g, r) && topicMatches(r, t) => topicMatches(g, t)', () => {
    fc.assert(
      fc.property(filterArb, filterArb, topicArb, (g, r, t) => {
        fc.pre(filterCovers(g, r) && topicMatches(r, t));
        return topicMatches(g, t);
      }),
      { numRuns: 2000 },
    );
  });

  it('filterCovers is exact: false only if some topic matched by requested escapes granted', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (g, r) => {
        // Topics of up to len(r) + 1 levels witness every way r can escape g.
        // (The reference model is used for speed; the first property ties it to topicMatches.)
        const witness = TOPICS.find((t) => modelMatches(r, t) && !modelMatches(g, t));
        return filterCovers(g, r) === (witness === undefined);
      }),
      { numRuns: 600 },
    );
  });

  it('filterCovers is exact for every pair of filters of up to 3 levels (exhaustive)', () => {
    const levels = ['a', '', '$s', '+', '#'];
    const filters: string[] = [];
    let layer: string[][] = [[]];
    for (let d = 1; d <= 3; d++) {
      layer = layer.flatMap((prefix) => levels.map((l) => [...prefix, l]));
      for (const l of layer) if (isValidTopicFilter(l.join('/'))) filters.push(l.join('/'));
    }
    const topics = universe(4);
    const matches = filters.map((f) => topics.map((t) => modelMatches(f, t)));
    let checked = 0;
    filters.forEach((g, gi) => {
      filters.forEach((r, ri) => {
        const exact = matches[ri]!.every((m, ti) => !m || matches[gi]![ti]!);
        if (filterCovers(g, r) !== exact) expect.fail(`filterCovers(${JSON.stringify(g)}, ${JSON.stringify(r)}) should be ${exact}`);
        checked++;
      });
    });
    expect(checked).toBeGreaterThan(10_000);
  });

  it('filterCovers is reflexive and transitive', () => {
    fc.assert(
      fc.property(filterArb, filterArb, filterArb, (a, b, c) => {
        if (!filterCovers(a, a)) return false;
        if (filterCovers(a, b) && filterCovers(b, c)) return filterCovers(a, c);
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('a topic name used as a filter matches exactly itself', () => {
    fc.assert(
      fc.property(topicArb, topicArb, (t, u) => topicMatches(t, u) === (t === u)),
      { numRuns: 2000 },
    );
  });
});
