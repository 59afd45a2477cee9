// Every single-bit flip, every truncation and a one-byte extension (raw, and
// with its length prefix adjusted) of every field of every message type is
// rejected with the code docs/PROTOCOL.md's check order gives, and never
// moves the replay state. Field regions come from a walker over the
// documented layouts (not from the decoders under test); the expected code of
// each mutated field value comes from the documented rules.
import { beforeAll, describe, expect, it } from 'vitest';
import { maySubscribe } from '../../src/certs/certificate.js';
import type { TrustStore } from '../../src/certs/trust-store.js';
import type { ReasonCode } from '../../src/errors.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { validateSubjectId } from '../../src/wire/subject-id.js';
import { topicMatches, validateTopicFilter, validateTopicName } from '../../src/topic/grammar.js';
import { openDirect, sealDirect } from '../../src/protocol/direct.js';
import { NonceCache, decodeGrantPayload, encodeGrantPayload, openGrant, openKeyRequest, sealGrant, sealKeyRequest } from '../../src/protocol/grant.js';
import { deriveGroupKeys, openGroup, sealGroup, type EpochLookup, type GroupEpochKeys } from '../../src/protocol/group.js';
import { seededRandom } from '../../src/crypto/random.js';
import { CountingReplay, T0, codeOf, manualClock, utf8, world, type World } from './fixtures.js';

// ------------------------------------------------------------ layout walker

type Kind = 'u8' | 'u32' | 'u64' | 'fixed' | 's16' | 'b16' | 'b32';
interface FieldSpec {
  readonly name: string;
  readonly kind: Kind;
  readonly size?: number;
}
interface Region {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** 'value' for the content, 'length' for a length prefix. */
  readonly part: 'value' | 'length';
  readonly spec: FieldSpec;
  /** For a value region with a length prefix: where the prefix starts and its width. */
  readonly prefix?: { readonly at: number; readonly width: 2 | 4 };
}

function regions(bytes: Uint8Array, layout: readonly FieldSpec[]): Region[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Region[] = [];
  let at = 0;
  for (const spec of layout) {
    const fixed = { u8: 1, u32: 4, u64: 8, fixed: spec.size ?? 0 } as Record<string, number>;
    if (spec.kind in fixed) {
      out.push({ name: spec.name, start: at, end: at + fixed[spec.kind]!, part: 'value', spec });
      at += fixed[spec.kind]!;
      continue;
    }
    const width = spec.kind === 'b32' ? 4 : 2;
    const len = width === 4 ? view.getUint32(at) : view.getUint16(at);
    out.push({ name: `${spec.name}.length`, start: at, end: at + width, part: 'length', spec });
    out.push({ name: spec.name, start: at + width, end: at + width + len, part: 'value', spec, prefix: { at, width } });
    at += width + len;
  }
  expect(at).toBe(bytes.length); // the layout accounts for every byte
  return out;
}

const HEADER: FieldSpec[] = [
  { name: 'type', kind: 'u8' },
  { name: 'version', kind: 'u8' },
  { name: 'suite', kind: 'u8' },
  { name: 'flags', kind: 'u8' },
];
const DIRECT_LAYOUT: FieldSpec[] = [
  ...HEADER,
  { name: 'sender', kind: 's16' },
  { name: 'recipient', kind: 's16' },
  { name: 'recipientKeyEpoch', kind: 'u32' },
  { name: 'topic', kind: 's16' },
  { name: 'timestamp', kind: 'u64' },
  { name: 'seq', kind: 'u64' },
  { name: 'x25519Ciphertext', kind: 'fixed', size: 32 },
  { name: 'mlKemCiphertext', kind: 'fixed', size: 1088 },
  { name: 'ciphertext', kind: 'b32' },
  { name: 'signature', kind: 'b16' },
];
const GROUP_LAYOUT: FieldSpec[] = [
  ...HEADER,
  { name: 'sender', kind: 's16' },
  { name: 'channel', kind: 's16' },
  { name: 'epoch', kind: 'u32' },
  { name: 'seq', kind: 'u64' },
  { name: 'timestamp', kind: 'u64' },
  { name: 'ciphertext', kind: 'b32' },
  { name: 'signature', kind: 'b16' },
];
const KEY_REQUEST_LAYOUT: FieldSpec[] = [
  ...HEADER,
  { name: 'subscriber', kind: 's16' },
  { name: 'publisher', kind: 's16' },
  { name: 'filter', kind: 's16' },
  { name: 'timestamp', kind: 'u64' },
  { name: 'nonce', kind: 'fixed', size: 16 },
  { name: 'signature', kind: 'b16' },
];
const GRANT_PAYLOAD_LAYOUT: FieldSpec[] = [
  { name: 'channel', kind: 's16' },
  { name: 'epoch', kind: 'u32' },
  { name: 'epochKey', kind: 'fixed', size: 32 },
  { name: 'firstSeq', kind: 'u64' },
  { name: 'notAfter', kind: 'u64' },
];

// --------------------------------------------------------------- mutations

interface Mutation {
  readonly family: 'flip' | 'shorten' | 'extend' | 'shorten+length' | 'extend+length' | 'truncate';
  readonly region: Region | undefined;
  readonly bytes: Uint8Array;
  /** The region's bytes after the mutation (for expectations that depend on the new value). */
  readonly value: Uint8Array;
  readonly label: string;
}

function setLength(out: Uint8Array, prefix: { at: number; width: 2 | 4 }, len: number): void {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (prefix.width === 2) v.setUint16(prefix.at, len);
  else v.setUint32(prefix.at, len);
}

const EXTRA = 0x61; // 'a': keeps text fields valid, so the adjusted extension reaches the semantic checks

function* mutations(bytes: Uint8Array, layout: readonly FieldSpec[]): Generator<Mutation> {
  for (const r of regions(bytes, layout)) {
    for (let bit = r.start * 8; bit < r.end * 8; bit++) {
      const out = bytes.slice();
      out[bit >> 3]! ^= 1 << (bit & 7);
      yield { family: 'flip', region: r, bytes: out, value: out.subarray(r.start, r.end), label: `${r.name} bit ${bit - r.start * 8}` };
    }
    if (r.end > r.start) {
      const short = new Uint8Array(bytes.length - 1);
      short.set(bytes.subarray(0, r.end - 1));
      short.set(bytes.subarray(r.end), r.end - 1);
      yield { family: 'shorten', region: r, bytes: short, value: short.subarray(r.start, r.end - 1), label: `${r.name} minus its last byte` };
    }
    const long = new Uint8Array(bytes.length + 1);
    long.set(bytes.subarray(0, r.end));
    long[r.end] = EXTRA;
    long.set(bytes.subarray(r.end), r.end + 1);
    yield { family: 'extend', region: r, bytes: long, value: long.subarray(r.start, r.end + 1), label: `${r.name} plus one byte` };
    if (r.prefix) {
      const len = r.end - r.start;
      if (len > 0) {
        const s = new Uint8Array(bytes.length - 1);
        s.set(bytes.subarray(0, r.end - 1));
        s.set(bytes.subarray(r.end), r.end - 1);
        setLength(s, r.prefix, len - 1);
        yield { family: 'shorten+length', region: r, bytes: s, value: s.subarray(r.start, r.end - 1), label: `${r.name} minus its last byte, length adjusted` };
      }
      const l = new Uint8Array(bytes.length + 1);
      l.set(bytes.subarray(0, r.end));
      l[r.end] = EXTRA;
      l.set(bytes.subarray(r.end), r.end + 1);
      setLength(l, r.prefix, len + 1);
      yield { family: 'extend+length', region: r, bytes: l, value: l.subarray(r.start, r.end + 1), label: `${r.name} plus one byte, length adjusted` };
    }
  }
  for (let n = 0; n < bytes.length; n++) {
    yield { family: 'truncate', region: undefined, bytes: bytes.subarray(0, n), value: new Uint8Array(0), label: `truncated to ${n} bytes` };
  }
}

// ------------------------------------------------------- expected outcomes

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function textOf(value: Uint8Array): string | undefined {
  try {
    return strict.decode(value);
  } catch {
    return undefined;
  }
}
function valid(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}
const subjectOf = (v: Uint8Array): string | undefined => {
  const t = textOf(v);
  return t !== undefined && v.length <= 128 && valid(() => validateSubjectId(t)) ? t : undefined;
};
const topicOf = (v: Uint8Array): string | undefined => {
  const t = textOf(v);
  return t !== undefined && v.length <= 1024 && valid(() => validateTopicName(t)) ? t : undefined;
};
const filterOf = (v: Uint8Array): string | undefined => {
  const t = textOf(v);
  return t !== undefined && v.length <= 1024 && valid(() => validateTopicFilter(t)) ? t : undefined;
};
function numberOf(v: Uint8Array): number {
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return n;
}

const NOW = T0;
const MAX_AGE = 300_000;
const SKEW = 30_000;

/** Time rules shared by every message: > 2^53-1 MALFORMED, then FROM_FUTURE, TOO_OLD, else the next check. */
function timeCode(v: Uint8Array, next: ReasonCode): ReasonCode {
  if (v.length !== 8) return 'MALFORMED';
  const t = numberOf(v);
  if (t > Number.MAX_SAFE_INTEGER) return 'MALFORMED';
  if (t > NOW + SKEW) return 'FROM_FUTURE';
  if (t < NOW - MAX_AGE) return 'TOO_OLD';
  return next;
}

/** Every family but the bit flips and adjusted extensions shifts the rest of the message: MALFORMED. */
function structural(m: Mutation): ReasonCode | undefined {
  if (m.family === 'truncate' || m.family === 'shorten' || m.family === 'extend') return 'MALFORMED';
  if (m.region!.part === 'length') return 'MALFORMED';
  return undefined;
}

/** The 4-byte header is read and checked first (docs/PROTOCOL.md): type, version, suite, flags. */
function headerCode(m: Mutation, type: number): ReasonCode | undefined {
  const b = m.bytes;
  if (b.length < 1 || b[0] !== type) return 'MALFORMED';
  if (b.length < 2) return 'MALFORMED';
  if (b[1] !== 1) return 'UNSUPPORTED_VERSION';
  if (b.length < 3) return 'MALFORMED';
  if (b[2] !== 1) return 'UNSUPPORTED_VERSION';
  if (b.length < 4) return 'MALFORMED';
  if (b[3] !== 1) return 'UNSUPPORTED_VERSION';
  return undefined;
}

// ----------------------------------------------------------------- harness

let w: World;
let trust: TrustStore;
const clock = manualClock(NOW);

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
});

async function run(
  original: Uint8Array,
  layout: readonly FieldSpec[],
  open: (bytes: Uint8Array) => Promise<unknown>,
  expected: (m: Mutation) => ReasonCode,
): Promise<{ cases: number; mismatches: string[]; codes: Record<string, number> }> {
  const mismatches: string[] = [];
  const codes: Record<string, number> = {};
  let cases = 0;
  for (const m of mutations(original, layout)) {
    cases++;
    const want = expected(m);
    const got = await codeOf(open(m.bytes));
    codes[got] = (codes[got] ?? 0) + 1;
    if (got !== want) mismatches.push(`${m.family} ${m.label}: got ${got}, want ${want}`);
  }
  return { cases, mismatches, codes };
}

describe('mutations of every field', () => {
  it('direct envelope (D)', async () => {
    const replay = new CountingReplay(await ReplayGuard.open({ clock, maxAgeMs: MAX_AGE, clockSkewMs: SKEW, stateSinceMs: 0 }));
    const original = await sealDirect({
      sender: w.hmi.identity,
      recipient: w.plc.cert,
      topic: 'plant/cmd/plc-1',
      payload: utf8('set point 72.5'),
      seq: 1000,
      now: NOW,
      random: seededRandom(utf8('mutations/direct')),
    });
    const open = (b: Uint8Array) => openDirect(b, { recipient: w.plc.identity, recipientKeyEpoch: 1, receivedTopic: 'plant/cmd/plc-1', trust, now: NOW, replay });
    const result = await run(original, DIRECT_LAYOUT, open, (m) => directExpect(m, 'D'));
    expect(result.mismatches).toEqual([]);
    expect(replay.accepts).toBe(0);
    expect(result.cases).toBeGreaterThan(15_000);
    await open(original); // still fresh: nothing moved the window
    expect(replay.accepts).toBe(1);
  });

  it('key grant (G, and its payload)', async () => {
    const replay = new CountingReplay(await ReplayGuard.open({ clock, maxAgeMs: MAX_AGE, clockSkewMs: SKEW, stateSinceMs: 0 }));
    const grant = { channel: 'plant/line1/#', epoch: 7, epochKey: new Uint8Array(32).fill(0x5a), firstSeq: 500, notAfter: NOW + 3_600_000 };
    const original = await sealGrant({
      publisher: w.plc.identity,
      subscriber: w.hmi.cert,
      topic: 'pqc-iiot/v1/grants/hmi-1',
      grant,
      seq: 77,
      now: NOW,
      random: seededRandom(utf8('mutations/grant')),
    });
    const open = (b: Uint8Array) => openGrant(b, { recipient: w.hmi.identity, recipientKeyEpoch: 1, receivedTopic: 'pqc-iiot/v1/grants/hmi-1', trust, now: NOW, replay });
    const result = await run(original, DIRECT_LAYOUT, open, (m) => directExpect(m, 'G'));
    expect(result.mismatches).toEqual([]);
    expect(replay.accepts).toBe(0);
    await open(original);
    expect(replay.accepts).toBe(1);

    // The payload (inside the encryption) through its decoder.
    const payload = encodeGrantPayload(grant);
    const inner = await run(payload, GRANT_PAYLOAD_LAYOUT, async (b) => decodeGrantPayload(b), (m) => {
      const s = structural(m);
      if (s) return s;
      if (m.region!.name === 'channel') return filterOf(m.value) === undefined ? 'MALFORMED' : ('ok' as ReasonCode);
      if (m.region!.spec.kind === 'u64' && numberOf(m.value) > Number.MAX_SAFE_INTEGER) return 'MALFORMED';
      return 'ok' as ReasonCode; // other fields decode to other values; the publisher's signature is what protects them
    });
    expect(inner.mismatches).toEqual([]);
  });

  it('group data envelope (M)', async () => {
    const replay = new CountingReplay(await ReplayGuard.open({ clock, maxAgeMs: MAX_AGE, clockSkewMs: SKEW, stateSinceMs: 0 }));
    const keys: GroupEpochKeys = await deriveGroupKeys(new Uint8Array(32).fill(3), 'plc-1', 'plant/line1/#', 3);
    const lookup = (_s: string, _k: number, _c: string, epoch: number): EpochLookup =>
      epoch === 3 ? { ok: true, keys } : { ok: false, code: epoch > 3 ? 'UNKNOWN_EPOCH' : 'STALE_EPOCH' };
    const topic = 'plant/line1/pressure';
    const original = await sealGroup({
      sender: w.plc.identity,
      keys,
      topic,
      payload: new Uint8Array(256).fill(0x42),
      seq: 4242,
      now: NOW,
      random: seededRandom(utf8('mutations/group')),
    });
    const open = (b: Uint8Array) => openGroup(b, { receivedTopic: topic, trust, now: NOW, replay, lookup });
    const result = await run(original, GROUP_LAYOUT, open, (m) => {
      const h = headerCode(m, 0x4d);
      if (h) return h;
      const s = structural(m);
      if (s) return s;
      switch (m.region!.name) {
        case 'sender': {
          const id = subjectOf(m.value);
          if (id === undefined) return 'MALFORMED';
          return trust.peek(id) ? 'BAD_SIGNATURE' : 'UNKNOWN_SENDER';
        }
        case 'channel': {
          const c = filterOf(m.value);
          if (c === undefined) return 'MALFORMED';
          if (!topicMatches(c, topic)) return 'TOPIC_MISMATCH';
          return w.plc.cert.publish.includes(c) ? 'BAD_SIGNATURE' : 'NOT_AUTHORISED';
        }
        case 'epoch': {
          const e = numberOf(m.value);
          return e === 3 ? 'BAD_SIGNATURE' : e > 3 ? 'UNKNOWN_EPOCH' : 'STALE_EPOCH';
        }
        case 'seq':
          return numberOf(m.value) > Number.MAX_SAFE_INTEGER ? 'MALFORMED' : 'BAD_SIGNATURE';
        case 'timestamp':
          return timeCode(m.value, 'BAD_SIGNATURE');
        default: // ciphertext, signature
          return 'BAD_SIGNATURE';
      }
    });
    expect(result.mismatches).toEqual([]);
    expect(replay.accepts).toBe(0);
    await open(original);
    expect(replay.accepts).toBe(1);
  });

  it('key request (Q)', async () => {
    const nonces = new NonceCache();
    const original = sealKeyRequest({ subscriber: w.hmi.identity, publisher: 'plc-1', filter: 'plant/line1/#', now: NOW, random: seededRandom(utf8('mutations/q')) });
    const open = async (b: Uint8Array) => openKeyRequest(b, { publisher: 'plc-1', trust, now: NOW, maxAgeMs: MAX_AGE, clockSkewMs: SKEW, nonces });
    const result = await run(original, KEY_REQUEST_LAYOUT, open, (m) => {
      const h = headerCode(m, 0x51);
      if (h) return h;
      const s = structural(m);
      if (s) return s;
      switch (m.region!.name) {
        case 'subscriber': {
          const id = subjectOf(m.value);
          if (id === undefined) return 'MALFORMED';
          return trust.peek(id) ? 'BAD_SIGNATURE' : 'UNKNOWN_SENDER';
        }
        case 'publisher':
          return subjectOf(m.value) === undefined ? 'MALFORMED' : 'WRONG_RECIPIENT';
        case 'filter': {
          const f = filterOf(m.value);
          if (f === undefined) return 'MALFORMED';
          return maySubscribe(w.hmi.cert, f) ? 'BAD_SIGNATURE' : 'NOT_AUTHORISED';
        }
        case 'timestamp':
          return timeCode(m.value, 'BAD_SIGNATURE');
        default: // nonce, signature
          return 'BAD_SIGNATURE';
      }
    });
    expect(result.mismatches).toEqual([]);
    expect(await codeOf(open(original))).toBe('ok'); // no nonce was remembered from a forgery
    expect(await codeOf(open(original))).toBe('DUPLICATE');
  });
});

/** Direct and grant envelopes: expectations per field, in the documented check order. */
function directExpect(m: Mutation, type: 'D' | 'G'): ReasonCode {
  const h = headerCode(m, type === 'D' ? 0x44 : 0x47);
  if (h) return h;
  const s = structural(m);
  if (s) return s;
  const me = type === 'D' ? 'plc-1' : 'hmi-1';
  switch (m.region!.name) {
    case 'sender': {
      const id = subjectOf(m.value);
      if (id === undefined) return 'MALFORMED';
      if (!trust.peek(id)) return 'UNKNOWN_SENDER';
      return 'BAD_SIGNATURE';
    }
    case 'recipient': {
      const id = subjectOf(m.value);
      if (id === undefined) return 'MALFORMED';
      return id === me ? 'BAD_SIGNATURE' : 'WRONG_RECIPIENT';
    }
    case 'recipientKeyEpoch':
      return 'WRONG_RECIPIENT';
    case 'topic':
      return topicOf(m.value) === undefined ? 'MALFORMED' : 'TOPIC_MISMATCH';
    case 'timestamp':
      return timeCode(m.value, 'BAD_SIGNATURE');
    case 'seq':
      return numberOf(m.value) > Number.MAX_SAFE_INTEGER ? 'MALFORMED' : 'BAD_SIGNATURE';
    case 'ciphertext':
      // An extension of a ciphertext is still bounded; a shortened one below the tag is malformed.
      return m.value.length < 16 ? 'MALFORMED' : 'BAD_SIGNATURE';
    default: // KEM ciphertexts, signature
      return 'BAD_SIGNATURE';
  }
}
