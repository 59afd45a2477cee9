// Round trips of every message type, and the targeted negative cases: wrong
// recipient, redirect, replay, duplicate, time, rights, insider forgery.
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512, mlKem768 } from '../../bindings/index.js';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { SecurityError } from '../../src/errors.js';
import { decodeDirect, openDirect, sealDirect } from '../../src/protocol/direct.js';
import { decodeGroup, deriveGroupKeys, groupNonce, openGroup, sealGroup, type EpochLookup, type GroupEpochKeys } from '../../src/protocol/group.js';
import {
  NonceCache,
  decodeGrantPayload,
  decodeKeyRequest,
  encodeGrantPayload,
  openGrant,
  openKeyRequest,
  sealGrant,
  sealKeyRequest,
} from '../../src/protocol/grant.js';
import { ENVELOPE_TYPE } from '../../src/protocol/envelope.js';
import { ByteWriter } from '../../src/wire/codec.js';
import { LABELS } from '../../src/wire/labels.js';
import { channelFor, filtersOverlap } from '../../src/protocol/channels.js';
import { CountingReplay, T0, codeOf, manualClock, text, utf8, world, type World } from './fixtures.js';

let w: World;
let trust: TrustStore;
const clock = manualClock();

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
});

const payload = utf8('open valve 7 to 40%');

async function direct(opts: { topic?: string; seq?: number; now?: number } = {}): Promise<Uint8Array> {
  return sealDirect({
    sender: w.hmi.identity,
    senderCert: w.hmi.cert,
    recipient: w.plc.cert,
    topic: opts.topic ?? 'plant/cmd/plc-1',
    payload,
    seq: opts.seq ?? 1,
    now: opts.now ?? T0,
  });
}

function openAsPlc(bytes: Uint8Array, replay: CountingReplay, topic = 'plant/cmd/plc-1') {
  return openDirect(bytes, { recipient: w.plc.identity, recipientKeyEpoch: 1, receivedTopic: topic, trust, now: clock(), replay });
}

describe('suite', () => {
  it('uses ML-KEM-768 and Falcon-512 sizes on the wire', async () => {
    const f = decodeDirect(await direct(), ENVELOPE_TYPE.direct);
    expect(f.mlKemCiphertext.length).toBe(mlKem768.lengths.ciphertext);
    expect(f.x25519Ciphertext.length).toBe(32);
    expect(f.signature.length).toBeLessThanOrEqual(falcon512.lengths.signature);
    expect(falcon512.verify(f.signature, new Uint8Array([...utf8('pqc-iiot/v1/direct/signature'), ...f.signed]), w.hmi.cert.publicKeys.falcon)).toBe(true);
  });
});

describe('direct envelope', () => {
  it('round-trips and records the sequence number only once opened', async () => {
    const replay = await CountingReplay.open(clock);
    const bytes = await direct({ seq: 42 });
    const msg = await openAsPlc(bytes, replay);
    expect(text(msg.payload)).toBe('open valve 7 to 40%');
    expect(msg).toMatchObject({ sender: 'hmi-1', seq: 42, timestamp: T0, topic: 'plant/cmd/plc-1' });
    expect(replay.accepts).toBe(1);
    expect(await codeOf(openAsPlc(bytes, replay))).toBe('DUPLICATE');
  });

  it('is rejected by anyone but its recipient', async () => {
    const replay = await CountingReplay.open(clock);
    const bytes = await direct();
    const r = openDirect(bytes, { recipient: w.hmi2.identity, receivedTopic: 'plant/cmd/plc-1', trust, now: T0, replay });
    expect(await codeOf(r)).toBe('WRONG_RECIPIENT');
    const other = openDirect(bytes, { recipient: w.plc.identity, recipientKeyEpoch: 2, receivedTopic: 'plant/cmd/plc-1', trust, now: T0, replay });
    expect(await codeOf(other)).toBe('WRONG_RECIPIENT');
    expect(replay.accepts).toBe(0);
  });

  it('redirected to another topic is TOPIC_MISMATCH', async () => {
    const replay = await CountingReplay.open(clock);
    expect(await codeOf(openAsPlc(await direct(), replay, 'plant/cmd/plc-2'))).toBe('TOPIC_MISMATCH');
    expect(replay.accepts).toBe(0);
  });

  it('needs the sender to have the publish right (NOT_AUTHORISED)', async () => {
    const replay = await CountingReplay.open(clock);
    // Sealed without the senderCert check, on a topic hmi-1 may not publish to.
    const bytes = await sealDirect({ sender: w.hmi.identity, recipient: w.plc.cert, topic: 'plant/line1/temp', payload, seq: 1, now: T0 });
    const r = openDirect(bytes, { recipient: w.plc.identity, receivedTopic: 'plant/line1/temp', trust, now: T0, replay });
    expect(await codeOf(r)).toBe('NOT_AUTHORISED');
    await expect(
      sealDirect({ sender: w.hmi.identity, senderCert: w.hmi.cert, recipient: w.plc.cert, topic: 'plant/line1/temp', payload, seq: 1, now: T0 }),
    ).rejects.toThrow(SecurityError);
  });

  it('checks time: TOO_OLD and FROM_FUTURE', async () => {
    const replay = await CountingReplay.open(clock);
    expect(await codeOf(openAsPlc(await direct({ now: T0 - 10 * 60_000 }), replay))).toBe('TOO_OLD');
    expect(await codeOf(openAsPlc(await direct({ now: T0 + 60_000 }), replay))).toBe('FROM_FUTURE');
    expect(replay.accepts).toBe(0);
  });

  it('accepts reordering within the window, rejects a replay below it', async () => {
    const replay = await CountingReplay.open(clock);
    const late = await direct({ seq: 5 });
    await openAsPlc(await direct({ seq: 7 }), replay);
    await openAsPlc(late, replay); // out of order, inside the window
    await openAsPlc(await direct({ seq: 5000 }), replay);
    expect(await codeOf(openAsPlc(await direct({ seq: 6 }), replay))).toBe('REPLAY');
  });

  it('from an unknown or revoked sender is rejected before any cryptography', async () => {
    const replay = await CountingReplay.open(clock);
    const bytes = await direct();
    const empty = await (await import('../../src/certs/trust-store.js')).TrustStore.open(w.ca.trustAnchor);
    await empty.addCertificate(w.plc.cert, T0);
    expect(await codeOf(openDirect(bytes, { recipient: w.plc.identity, receivedTopic: 'plant/cmd/plc-1', trust: empty, now: T0, replay }))).toBe('UNKNOWN_SENDER');
    const revoked = await w.trust();
    await revoked.applyRevocationList(w.revocationList(1, ['hmi-1']));
    expect(await codeOf(openDirect(bytes, { recipient: w.plc.identity, receivedTopic: 'plant/cmd/plc-1', trust: revoked, now: T0, replay }))).toBe('REVOKED');
    expect(
      await codeOf(openDirect(bytes, { recipient: w.plc.identity, receivedTopic: 'plant/cmd/plc-1', trust, now: T0 + 400 * 86_400_000, replay })),
    ).toBe('EXPIRED');
  });

  it('an insider cannot pass its own envelope off as another sender (BAD_SIGNATURE)', async () => {
    const replay = await CountingReplay.open(clock);
    // mallory seals properly, then rewrites the sender field to hmi-1 (same length: 7 bytes vs 5: pick a same-length id).
    const bytes = await sealDirect({ sender: w.mallory.identity, recipient: w.plc.cert, topic: 'plant/cmd/plc-1', payload, seq: 9, now: T0 });
    const forged = swapSender(bytes, 'mallory', 'hmi-1');
    expect(await codeOf(openAsPlc(forged, replay))).toBe('BAD_SIGNATURE');
    expect(replay.accepts).toBe(0);
  });

  it('a validly signed envelope whose ciphertext does not decrypt is DECRYPT_FAILED, and nothing moves', async () => {
    const replay = await CountingReplay.open(clock);
    const f = decodeDirect(await direct({ seq: 31 }), ENVELOPE_TYPE.direct);
    // The sender itself signs a body with a modified AEAD ciphertext (a buggy or malicious sender).
    const ct = f.ciphertext.slice();
    ct[0]! ^= 1;
    const body = new ByteWriter().fixed(f.aad, f.aad.length, 'aad').bytes32(ct).finish();
    const sig = falcon512.sign(new Uint8Array([...LABELS.directSignature, ...body]), w.hmi.identity.falcon.secretKey);
    const bytes = new ByteWriter().fixed(body, body.length, 'body').bytes16(sig).finish();
    expect(await codeOf(openAsPlc(bytes, replay))).toBe('DECRYPT_FAILED');
    expect(replay.accepts).toBe(0);
  });

  it('does not change its inputs', async () => {
    const copy = payload.slice();
    const replay = await CountingReplay.open(clock);
    const bytes = await direct({ seq: 77 });
    const before = bytes.slice();
    await openAsPlc(bytes, replay);
    expect(bytes).toEqual(before);
    expect(payload).toEqual(copy);
  });
});

/** Re-encodes a string16 field `from` -> `to` at its first occurrence after the header (ids here are ASCII). */
function swapSender(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const f = utf8(from);
  const t = utf8(to);
  const at = 4;
  expect(bytes[at]! * 256 + bytes[at + 1]!).toBe(f.length);
  const out = new Uint8Array(bytes.length - f.length + t.length);
  out.set(bytes.subarray(0, at));
  out[at] = 0;
  out[at + 1] = t.length;
  out.set(t, at + 2);
  out.set(bytes.subarray(at + 2 + f.length), at + 2 + t.length);
  return out;
}

describe('group envelope', () => {
  let keys: GroupEpochKeys;
  const epochKey = new Uint8Array(32).fill(9);
  beforeAll(async () => {
    keys = await deriveGroupKeys(epochKey, 'plc-1', 'plant/line1/#', 3);
  });
  const lookup = (): EpochLookup => ({ ok: true, keys });
  const seal = (topic = 'plant/line1/pressure', seq = 1, now = T0) =>
    sealGroup({ sender: w.plc.identity, keys, topic, payload: utf8(`reading ${seq}`), seq, now });
  const open = (bytes: Uint8Array, replay: CountingReplay, topic = 'plant/line1/pressure') =>
    openGroup(bytes, { receivedTopic: topic, trust, now: clock(), replay, lookup });

  it('round-trips; the nonce is the IV xor the sequence number', async () => {
    const replay = await CountingReplay.open(clock);
    const msg = await open(await seal(undefined, 12), replay);
    expect(text(msg.payload)).toBe('reading 12');
    expect(msg).toMatchObject({ sender: 'plc-1', channel: 'plant/line1/#', epoch: 3, seq: 12, topic: 'plant/line1/pressure' });
    const n = groupNonce(keys.iv, 2 ** 40 + 5);
    // u64be(2^40 + 5) = 00 00 01 00 00 00 00 05, xored into bytes 4..11.
    expect(n.subarray(0, 6)).toEqual(keys.iv.subarray(0, 6));
    expect(n[6]! ^ keys.iv[6]!).toBe(1);
    expect(n[11]! ^ keys.iv[11]!).toBe(5);
  });

  it('redirected to another topic of the same channel fails the signature; outside the channel is TOPIC_MISMATCH', async () => {
    const replay = await CountingReplay.open(clock);
    const bytes = await seal('plant/line1/pressure', 20);
    expect(await codeOf(open(bytes, replay, 'plant/line1/flow'))).toBe('BAD_SIGNATURE');
    expect(await codeOf(open(bytes, replay, 'plant/line2/pressure'))).toBe('TOPIC_MISMATCH');
    expect(replay.accepts).toBe(0);
    await open(bytes, replay);
  });

  it('duplicates and replays are rejected', async () => {
    const replay = await CountingReplay.open(clock);
    const a = await seal(undefined, 2000);
    await open(a, replay);
    expect(await codeOf(open(a, replay))).toBe('DUPLICATE');
    await open(await seal(undefined, 4000), replay);
    expect(await codeOf(open(await seal(undefined, 1999), replay))).toBe('REPLAY');
  });

  it('an insider with the epoch key cannot forge the publisher (per-message signature)', async () => {
    const replay = await CountingReplay.open(clock);
    // mallory knows plc-1's epoch key (it is a subscriber) and seals under it in plc-1's name.
    const forgedKeys = { ...keys } as GroupEpochKeys;
    const mallory = w.mallory.identity;
    const impostor = { id: 'plc-1', publicKeys: mallory.publicKeys, falcon: mallory.falcon, sign: (m: Uint8Array, s?: Uint8Array) => mallory.sign(m, s) };
    const bytes = await sealGroup({ sender: impostor as never, keys: forgedKeys, topic: 'plant/line1/pressure', payload, seq: 99, now: T0 });
    expect(await codeOf(open(bytes, replay))).toBe('BAD_SIGNATURE');
    expect(replay.accepts).toBe(0);
  });

  it('a channel that is not one of the sender\'s publish filters is NOT_AUTHORISED', async () => {
    const replay = await CountingReplay.open(clock);
    const k = await deriveGroupKeys(epochKey, 'plc-1', 'plant/+/pressure', 1);
    const bytes = await sealGroup({ sender: w.plc.identity, keys: k, topic: 'plant/line1/pressure', payload, seq: 1, now: T0 });
    expect(await codeOf(openGroup(bytes, { receivedTopic: 'plant/line1/pressure', trust, now: T0, replay, lookup: () => ({ ok: true, keys: k }) }))).toBe(
      'NOT_AUTHORISED',
    );
  });

  it('reports UNKNOWN_EPOCH and calls onUnknownEpoch only for a genuine message', async () => {
    const replay = await CountingReplay.open(clock);
    const seen: number[] = [];
    const bytes = await seal(undefined, 5);
    const opts = {
      receivedTopic: 'plant/line1/pressure',
      trust,
      now: T0,
      replay,
      lookup: (): EpochLookup => ({ ok: false, code: 'UNKNOWN_EPOCH' }),
      onUnknownEpoch: (i: { seq: number }) => seen.push(i.seq),
    };
    expect(await codeOf(openGroup(bytes, opts))).toBe('UNKNOWN_EPOCH');
    const forged = bytes.slice();
    forged[forged.length - 10]! ^= 1; // inside the signature
    expect(await codeOf(openGroup(forged, opts))).toBe('UNKNOWN_EPOCH');
    expect(seen).toEqual([5]);
    expect(replay.accepts).toBe(0);
  });

  it('a validly signed message that does not decrypt is DECRYPT_FAILED', async () => {
    const replay = await CountingReplay.open(clock);
    const f = decodeGroup(await seal(undefined, 300));
    const ct = f.ciphertext.slice();
    ct[ct.length - 1]! ^= 0x80; // in the tag
    const topic = new ByteWriter().string16('plant/line1/pressure').finish();
    const ctField = new ByteWriter().bytes32(ct).finish();
    const sig = falcon512.sign(new Uint8Array([...LABELS.groupSignature, ...f.header, ...topic, ...ctField]), w.plc.identity.falcon.secretKey);
    const bytes = new ByteWriter().fixed(f.header, f.header.length, 'header').bytes32(ct).bytes16(sig).finish();
    expect(await codeOf(open(bytes, replay))).toBe('DECRYPT_FAILED');
    expect(replay.accepts).toBe(0);
  });

  it('decodes its fields', async () => {
    const f = decodeGroup(await seal(undefined, 7, T0 + 5));
    expect(f).toMatchObject({ sender: 'plc-1', channel: 'plant/line1/#', epoch: 3, seq: 7, timestamp: T0 + 5 });
  });
});

describe('key grant', () => {
  const grant = { channel: 'plant/line1/#', epoch: 4, epochKey: new Uint8Array(32).fill(1), firstSeq: 100, notAfter: T0 + 3_600_000 };

  it('payload round-trips', () => {
    const g = decodeGrantPayload(encodeGrantPayload(grant));
    expect(g).toEqual(grant);
  });

  it('round-trips inside a G envelope and is not a direct envelope', async () => {
    const replay = await CountingReplay.open(clock);
    const bytes = await sealGrant({ publisher: w.plc.identity, subscriber: w.hmi.cert, topic: 'pqc-iiot/v1/grants/hmi-1', grant, seq: 3, now: T0 });
    expect(bytes[0]).toBe(ENVELOPE_TYPE.grant);
    const asDirect = openDirect(bytes, { recipient: w.hmi.identity, receivedTopic: 'pqc-iiot/v1/grants/hmi-1', trust, now: T0, replay });
    expect(await codeOf(asDirect)).toBe('MALFORMED');
    const opened = await openGrant(bytes, { recipient: w.hmi.identity, recipientKeyEpoch: 1, receivedTopic: 'pqc-iiot/v1/grants/hmi-1', trust, now: T0, replay });
    expect(opened.grant).toEqual(grant);
    expect(opened.message.sender).toBe('plc-1');
  });

  it('for a channel that is not the sender\'s publish filter is NOT_AUTHORISED, and nothing moves', async () => {
    const replay = await CountingReplay.open(clock);
    const bytes = await sealGrant({
      publisher: w.hmi.identity,
      subscriber: w.hmi2.cert,
      topic: 'pqc-iiot/v1/grants/hmi-2',
      grant: { ...grant, channel: 'plant/line1/#' },
      seq: 3,
      now: T0,
    });
    const r = openGrant(bytes, { recipient: w.hmi2.identity, receivedTopic: 'pqc-iiot/v1/grants/hmi-2', trust, now: T0, replay });
    expect(await codeOf(r)).toBe('NOT_AUTHORISED');
    expect(replay.accepts).toBe(0);
  });
});

describe('key request', () => {
  const open = (bytes: Uint8Array, nonces = new NonceCache(), now = T0) =>
    openKeyRequest(bytes, { publisher: 'plc-1', trust, now, maxAgeMs: 300_000, clockSkewMs: 30_000, nonces });

  it('round-trips; a replay of the same request is DUPLICATE', async () => {
    const bytes = sealKeyRequest({ subscriber: w.hmi.identity, publisher: 'plc-1', filter: 'plant/line1/#', now: T0 });
    const nonces = new NonceCache();
    expect(open(bytes, nonces)).toMatchObject({ subscriber: 'hmi-1', filter: 'plant/line1/#', timestamp: T0 });
    expect(await codeOf(() => open(bytes, nonces))).toBe('DUPLICATE');
    expect(decodeKeyRequest(bytes).nonce.length).toBe(16);
  });

  it('rejects another publisher, a filter beyond the rights, old requests', async () => {
    const toOther = sealKeyRequest({ subscriber: w.hmi.identity, publisher: 'plc-2', filter: 'plant/line1/#', now: T0 });
    expect(await codeOf(() => open(toOther))).toBe('WRONG_RECIPIENT');
    const beyond = sealKeyRequest({ subscriber: w.guest.identity, publisher: 'plc-1', filter: 'plant/line1/#', now: T0 });
    expect(await codeOf(() => open(beyond))).toBe('NOT_AUTHORISED');
    const old = sealKeyRequest({ subscriber: w.hmi.identity, publisher: 'plc-1', filter: 'plant/#', now: T0 - 600_000 });
    expect(await codeOf(() => open(old))).toBe('TOO_OLD');
    const future = sealKeyRequest({ subscriber: w.hmi.identity, publisher: 'plc-1', filter: 'plant/#', now: T0 + 600_000 });
    expect(await codeOf(() => open(future))).toBe('FROM_FUTURE');
  });
});

describe('channels', () => {
  it('channelFor picks the most specific publish filter', () => {
    const filters = ['plant/#', 'plant/line1/#', 'plant/+/temp', 'plant/line1/temp', '#'];
    expect(channelFor(filters, 'plant/line1/temp')).toBe('plant/line1/temp');
    expect(channelFor(filters, 'plant/line2/temp')).toBe('plant/+/temp');
    expect(channelFor(filters, 'plant/line1/flow')).toBe('plant/line1/#');
    expect(channelFor(filters, 'plant')).toBe('plant/#');
    expect(channelFor(filters, 'office/x')).toBe('#');
    expect(channelFor(['a/+', 'a/#'], 'a/b')).toBe('a/+');
    expect(channelFor(['a/b'], 'a/c')).toBeUndefined();
    // Ties on every rule fall to the smaller string, whatever the order given.
    expect(channelFor(['x/+/a', 'x/a/+'], 'x/a/a')).toBe('x/+/a');
    expect(channelFor(['x/a/+', 'x/+/a'], 'x/a/a')).toBe('x/+/a');
  });

  it('filtersOverlap', () => {
    const cases: [string, string, boolean][] = [
      ['a/b', 'a/b', true],
      ['a/+', 'a/b', true],
      ['a/#', 'a', true],
      ['a/+', 'a', false],
      ['a/b', 'a/c', false],
      ['+/b', 'a/+', true],
      ['#', '$SYS/x', false],
      ['$SYS/#', '$SYS/x', true],
      ['a/b/c', 'a/#', true],
      ['a/b/c', 'a/+', false],
    ];
    for (const [a, b, want] of cases) {
      expect(filtersOverlap(a, b), `${a} ~ ${b}`).toBe(want);
      expect(filtersOverlap(b, a), `${b} ~ ${a}`).toBe(want);
    }
  });
});
