// KeyManager: the publisher/subscriber flows, rotation (count, time,
// revocation, lost rights), grace, previous epochs for late key requests,
// crash safety of epochs and sequence numbers, retained messages, held
// messages, and "a forgery creates no state".
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { seededRandom } from '../../src/crypto/random.js';
import { SecurityError } from '../../src/errors.js';
import { decodeGroup, deriveGroupKeys, sealGroup } from '../../src/protocol/group.js';
import { sealGrant } from '../../src/protocol/grant.js';
import { KeyManager, PROTOCOL_TOPICS, type KeyGrant, type KeyManagerOptions, type KeyNeededEvent, type RotationEvent } from '../../src/protocol/key-manager.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { FileStorage } from '../../src/storage/file.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '../../src/storage/types.js';
import { CountingReplay, T0, codeOf, manualClock, text, utf8, world, type Party, type World } from './fixtures.js';

let w: World;
let trust: TrustStore;
const open: KeyManager[] = [];

beforeAll(async () => {
  w = await world();
});

afterEach(async () => {
  for (const km of open.splice(0)) await km.close();
});

async function km(party: Party, extra: Partial<KeyManagerOptions> & { storage?: Storage } = {}): Promise<KeyManager> {
  const m = await KeyManager.open({
    identity: party.identity,
    certificate: party.cert,
    trust: extra.trust ?? trust,
    storage: extra.storage ?? new MemoryStorage(),
    clock: extra.clock ?? (() => T0),
    regrantIntervalMs: 0,
    ...extra,
  });
  open.push(m);
  return m;
}

/** Copies every key: what a process killed now would find on restart (MemoryStorage.set is durable once resolved). */
async function snapshot(storage: Storage): Promise<MemoryStorage> {
  const copy = new MemoryStorage();
  for (const key of await storage.keys('')) await copy.set(key, (await storage.get(key))!);
  return copy;
}

/** Subscribes `sub` to `pub`'s channel covering `filter` through a key request. */
async function subscribe(pub: KeyManager, sub: KeyManager, filter: string): Promise<void> {
  const grants = await pub.handleKeyRequest(sub.keyRequest(pub.identity.id, filter));
  for (const g of grants) await sub.acceptGrant(g.bytes, g.topic);
}

describe('KeyManager', () => {
  beforeAll(async () => {
    trust = await w.trust();
  });

  it('publisher -> subscriber: unknown epoch, key request, grant, held message released', async () => {
    const plc = await km(w.plc);
    const hmi = await km(w.hmi);
    const needed: KeyNeededEvent[] = [];
    hmi.on('keyNeeded', (e) => needed.push(e));

    expect(plc.channelFor('plant/line1/pressure')).toBe('plant/line1/#');
    const first = await plc.sealData('plant/line1/pressure', utf8('1.2 bar'));
    expect(await codeOf(hmi.openData(first, 'plant/line1/pressure'))).toBe('UNKNOWN_EPOCH');
    expect(needed).toEqual([{ publisher: 'plc-1', channel: 'plant/line1/#', epoch: 1 }]);
    expect(hmi.needsKey()).toEqual(needed);

    const grants = await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'));
    // Every channel of plc that overlaps the filter and that hmi's rights cover.
    expect(grants.map((g) => [g.subscriber, g.channel, g.epoch, g.topic])).toEqual([
      ['hmi-1', 'plant/line1/#', 1, PROTOCOL_TOPICS.grant('hmi-1')],
      ['hmi-1', 'plant/line1/temp', 1, PROTOCOL_TOPICS.grant('hmi-1')],
    ]);
    expect(await plc.subscribersOf('plant/line1/#')).toEqual(['hmi-1']);
    const accepted = await hmi.acceptGrant(grants[0]!.bytes, grants[0]!.topic);
    expect(accepted.released.map((m) => text(m.payload))).toEqual(['1.2 bar']);
    expect((await hmi.acceptGrant(grants[1]!.bytes, grants[1]!.topic)).released).toEqual([]);
    expect(hmi.needsKey()).toEqual([]);

    const second = await plc.sealData('plant/line1/pressure', utf8('1.3 bar'));
    const msg = await hmi.openData(second, 'plant/line1/pressure');
    expect(msg).toMatchObject({ sender: 'plc-1', channel: 'plant/line1/#', epoch: 1, retained: false });
    expect(text(msg.payload)).toBe('1.3 bar');
    expect(await codeOf(hmi.openData(second, 'plant/line1/pressure'))).toBe('DUPLICATE');
    expect(await codeOf(hmi.openData(first, 'plant/line1/pressure'))).toBe('DUPLICATE');
    const third = await plc.sealData('plant/line1/pressure', utf8('1.4 bar'));
    expect(await codeOf(hmi.openData(third, 'plant/line1/flow'))).toBe('BAD_SIGNATURE'); // redirected within the channel
    expect(await codeOf(hmi.openData(third, 'plant/line2/flow'))).toBe('TOPIC_MISMATCH'); // outside it
    await hmi.openData(third, 'plant/line1/pressure');
  });

  it('grants a channel only to subscribers whose rights cover all of it', async () => {
    const plc = await km(w.plc);
    const guest = await km(w.guest);
    expect(plc.channelFor('plant/line1/temp')).toBe('plant/line1/temp'); // the most specific filter
    // guest may subscribe to plant/line1/temp only: plant/line1/# overlaps but is not covered.
    const grants = await plc.handleKeyRequest(guest.keyRequest('plc-1', 'plant/line1/temp'));
    expect(grants.map((g) => g.channel)).toEqual(['plant/line1/temp']);
    for (const g of grants) await guest.acceptGrant(g.bytes, g.topic);
    const temp = await plc.sealData('plant/line1/temp', utf8('21.5'));
    expect(text((await guest.openData(temp, 'plant/line1/temp')).payload)).toBe('21.5');
    // A request beyond its rights is refused.
    expect(await codeOf(plc.handleKeyRequest(guest.keyRequest('plc-1', 'plant/line1/#')))).toBe('NOT_AUTHORISED');
    // A message of the wider channel stays unreadable to it.
    const flow = await plc.sealData('plant/line1/flow', utf8('3 l/s'));
    expect(await codeOf(guest.openData(flow, 'plant/line1/flow'))).toBe('UNKNOWN_EPOCH');
    // A request for something we do not publish yields nothing.
    const hmi = await km(w.hmi);
    expect(await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line2/#'))).toEqual([]);
  });

  it('rotates after N messages; the old epoch stays readable for the grace period, then is STALE_EPOCH', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock, rotateAfterMessages: 3, graceMs: 10_000 });
    const hmi = await km(w.hmi, { clock, graceMs: 10_000 });
    const rotations: RotationEvent[] = [];
    plc.on('rotated', (e) => rotations.push(e));
    await subscribe(plc, hmi, 'plant/line1/#');
    const sealed = [];
    for (let i = 0; i < 7; i++) sealed.push(await plc.sealData('plant/line1/x', utf8(`m${i}`)));
    expect(sealed.map((b) => decodeGroup(b).epoch)).toEqual([1, 1, 1, 2, 2, 2, 3]);
    expect(rotations.filter((r) => r.channel === 'plant/line1/#').map((r) => [r.epoch, r.previousEpoch, r.reason, r.grants.map((g) => g.subscriber)])).toEqual([
      [1, undefined, 'start', []],
      [2, 1, 'messages', ['hmi-1']],
      [3, 2, 'messages', ['hmi-1']],
    ]);
    const seqs = sealed.map((b) => decodeGroup(b).seq);
    expect(new Set(seqs).size).toBe(7);
    for (const r of rotations) for (const g of r.grants) await hmi.acceptGrant(g.bytes, g.topic);
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([1, 2, 3]);
    // Within grace: every epoch opens.
    for (const b of sealed.slice(2)) await hmi.openData(b, 'plant/line1/x');
    clock.advance(10_001);
    expect(await codeOf(hmi.openData(sealed[0]!, 'plant/line1/x'))).toBe('STALE_EPOCH');
    expect(await codeOf(hmi.openData(sealed[1]!, 'plant/line1/x'))).toBe('STALE_EPOCH');
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([3]);
  });

  it('rotates after T: lazily at the next seal and in maintain()', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock, rotateAfterMs: 60_000 });
    const hmi = await km(w.hmi, { clock });
    const reasons: string[] = [];
    plc.on('rotated', (e) => {
      if (e.channel === 'plant/line1/#') reasons.push(`${e.reason}:${e.epoch}`);
    });
    await subscribe(plc, hmi, 'plant/line1/#');
    expect(decodeGroup(await plc.sealData('plant/line1/x', utf8('a'))).epoch).toBe(1);
    clock.advance(59_999);
    expect(decodeGroup(await plc.sealData('plant/line1/x', utf8('b'))).epoch).toBe(1);
    clock.advance(1);
    expect(decodeGroup(await plc.sealData('plant/line1/x', utf8('c'))).epoch).toBe(2);
    clock.advance(60_000);
    const events = await plc.maintain(); // both channels' epochs are over
    expect(events.map((e) => [e.channel, e.reason, e.epoch])).toEqual([
      ['plant/line1/#', 'time', 3],
      ['plant/line1/temp', 'time', 2],
    ]);
    expect(reasons).toEqual(['start:1', 'time:2', 'time:3']);
  });

  it('revocation: a new epoch at once, without the revoked subscriber, who cannot read on', async () => {
    const localTrust = await w.trust();
    const plc = await km(w.plc, { trust: localTrust });
    const hmi = await km(w.hmi, { trust: localTrust });
    const hmi2 = await km(w.hmi2, { trust: localTrust });
    await subscribe(plc, hmi, 'plant/line1/#');
    await subscribe(plc, hmi2, 'plant/line1/#');
    const before = await plc.sealData('plant/line1/x', utf8('before'));
    await hmi2.openData(before, 'plant/line1/x');

    const update = await localTrust.applyRevocationList(w.revocationList(1, ['hmi-2']));
    expect(update.newlyRevoked).toEqual(['hmi-2']);
    const events = await plc.handleRevoked(update.newlyRevoked);
    expect(events.map((e) => [e.channel, e.epoch, e.reason, e.removed, e.grants.map((g) => g.subscriber)])).toEqual([
      ['plant/line1/#', 2, 'revoked', ['hmi-2'], ['hmi-1']],
      ['plant/line1/temp', 2, 'revoked', ['hmi-2'], ['hmi-1']],
    ]);
    for (const g of events[0]!.grants) await hmi.acceptGrant(g.bytes, g.topic);
    const after = await plc.sealData('plant/line1/x', utf8('after'));
    expect(text((await hmi.openData(after, 'plant/line1/x')).payload)).toBe('after');
    expect(await codeOf(hmi2.openData(after, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');
    expect(await codeOf(plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#')))).toBe('REVOKED');
    expect(await plc.subscribersOf('plant/line1/#')).toEqual(['hmi-1']);
  });

  it('loss of a right (renewed certificate) rotates in maintain()', async () => {
    const localTrust = await w.trust();
    const plc = await km(w.plc, { trust: localTrust });
    const hmi2 = await km(w.hmi2, { trust: localTrust });
    await subscribe(plc, hmi2, 'plant/line1/#');
    await localTrust.addCertificate(w.issue(w.hmi2.identity, { serial: 2, subscribe: ['plant/line2/#'] }), T0);
    const events = await plc.maintain();
    expect(events.map((e) => [e.channel, e.reason, e.removed])).toEqual([
      ['plant/line1/#', 'right-lost', ['hmi-2']],
      ['plant/line1/temp', 'right-lost', ['hmi-2']],
    ]);
    expect(await plc.subscribersOf('plant/line1/#')).toEqual([]);
  });

  it('crash safety: after a restart (kill -9 at any point) no epoch number and no sequence number is reused', async () => {
    const clock = manualClock();
    let storage: Storage = new MemoryStorage();
    const used = new Set<string>();
    const epochs: number[] = [];
    const seqs = new Set<number>();
    for (let life = 0; life < 4; life++) {
      const plc = await KeyManager.open({ identity: w.plc.identity, certificate: w.plc.cert, trust, storage, clock, sequenceBlockSize: 3 });
      for (let i = 0; i < 5; i++) {
        const f = decodeGroup(await plc.sealData('plant/line1/x', utf8(`${life}/${i}`)));
        expect(used.has(`${f.epoch}/${f.seq}`)).toBe(false);
        used.add(`${f.epoch}/${f.seq}`);
        expect(seqs.has(f.seq)).toBe(false);
        seqs.add(f.seq);
        if (epochs[epochs.length - 1] !== f.epoch) epochs.push(f.epoch);
      }
      // kill -9: the process is not closed; only what storage holds survives.
      storage = await snapshot(storage);
    }
    expect(epochs).toEqual([1, 2, 3, 4]); // a restart always starts a new epoch
  });

  it('crash safety on files: a second process opening the same directory never reuses an epoch or a sequence number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pqc-km-'));
    try {
      const seqs = new Set<number>();
      for (let life = 0; life < 3; life++) {
        // A new FileStorage on the same directory: what a restarted process sees (the previous one is never closed).
        const storage = await FileStorage.open(dir);
        const plc = await KeyManager.open({ identity: w.plc.identity, certificate: w.plc.cert, trust, storage, clock: () => T0, sequenceBlockSize: 2 });
        for (let i = 0; i < 3; i++) {
          const f = decodeGroup(await plc.sealData('plant/line1/x', utf8('v')));
          expect(seqs.has(f.seq)).toBe(false);
          seqs.add(f.seq);
          expect(f.epoch).toBe(life + 1); // every restart: a new, higher epoch
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keyNeeded is signalled again after keyRequestRetryMs, and lapses when nothing needing it arrives', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock });
    const hmi = await km(w.hmi, { clock, keyRequestRetryMs: 5000, maxAgeMs: 60_000 });
    const signals: number[] = [];
    hmi.on('keyNeeded', () => signals.push(clock()));
    const a = await plc.sealData('plant/line1/x', utf8('a'));
    await codeOf(hmi.openData(a, 'plant/line1/x'));
    clock.advance(1000);
    await codeOf(hmi.openData(await plc.sealData('plant/line1/x', utf8('b')), 'plant/line1/x')); // within retry: no new signal
    clock.advance(4000);
    await hmi.maintain();
    expect(signals).toEqual([T0, T0 + 5000]);
    clock.advance(61_000);
    await hmi.maintain();
    expect(hmi.needsKey()).toEqual([]);
    expect(signals.length).toBe(2);
  });

  it('a restarted publisher re-grants its persisted subscribers at once', async () => {
    const storage = new MemoryStorage();
    const plc1 = await KeyManager.open({ identity: w.plc.identity, certificate: w.plc.cert, trust, storage, clock: () => T0 });
    const hmi = await km(w.hmi);
    await subscribe(plc1, hmi, 'plant/line1/#');
    const restarted = await snapshot(storage);
    const plc2 = await km(w.plc, { storage: restarted });
    const events: RotationEvent[] = [];
    plc2.on('rotated', (e) => events.push(e));
    const bytes = await plc2.sealData('plant/line1/x', utf8('after restart'));
    expect(events.map((e) => [e.reason, e.epoch, e.grants.map((g) => g.subscriber)])).toEqual([['start', 2, ['hmi-1']]]);
    await hmi.acceptGrant(events[0]!.grants[0]!.bytes, events[0]!.grants[0]!.topic);
    expect(text((await hmi.openData(bytes, 'plant/line1/x')).payload)).toBe('after restart');
  });

  it('UNKNOWN_EPOCH says awaitingKey only for an authentic message held for its key, not for a forgery (so the client reports forgeries)', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock });
    const hmi = await km(w.hmi, { clock });
    const genuine = await plc.sealData('plant/line1/x', utf8('x'));
    const forged = genuine.slice();
    forged[forged.length - 20]! ^= 0x10; // in the signature
    const errorOf = async (p: Promise<unknown>): Promise<SecurityError> => p.then(() => expect.fail('opened'), (e: unknown) => e as SecurityError);
    const f1 = await errorOf(hmi.openData(forged, 'plant/line1/x'));
    expect([f1.code, f1.awaitingKey]).toEqual(['UNKNOWN_EPOCH', false]);
    const held = await errorOf(hmi.openData(genuine, 'plant/line1/x'));
    expect([held.code, held.awaitingKey]).toEqual(['UNKNOWN_EPOCH', true]);
    expect(hmi.needsKey()).toHaveLength(1);
    const f2 = await errorOf(hmi.openData(forged, 'plant/line1/x')); // while the key is awaited
    expect([f2.code, f2.awaitingKey]).toEqual(['UNKNOWN_EPOCH', false]);
    expect(new SecurityError('BAD_SIGNATURE', { awaitingKey: true }).awaitingKey).toBe(false); // only ever on UNKNOWN_EPOCH
  });

  it('a forged message creates no state: no key request, nothing held, no window movement, no epoch', async () => {
    const clock = manualClock();
    const replay = await CountingReplay.open(clock);
    const plc = await km(w.plc, { clock });
    const hmi = await km(w.hmi, { clock, replay });
    let signals = 0;
    hmi.on('keyNeeded', () => signals++);
    const genuine = await plc.sealData('plant/line1/x', utf8('x'));
    const forged = genuine.slice();
    forged[forged.length - 20]! ^= 0x10; // in the signature
    expect(await codeOf(hmi.openData(forged, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');
    expect(signals).toBe(0);
    expect(hmi.needsKey()).toEqual([]);
    // An insider's forged grant (mallory grants "plc-1's" channel in its own name) installs nothing.
    const fakeGrant = await sealGrant({
      publisher: w.mallory.identity,
      subscriber: w.hmi.cert,
      topic: PROTOCOL_TOPICS.grant('hmi-1'),
      grant: { channel: 'plant/line1/temp', epoch: 1, epochKey: new Uint8Array(32), firstSeq: 0, notAfter: T0 + 1000 },
      seq: 1,
      now: T0,
    });
    expect(await codeOf(hmi.acceptGrant(fakeGrant, PROTOCOL_TOPICS.grant('hmi-1')))).toBe('NOT_AUTHORISED');
    const grants = await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'));
    const flipped = grants[0]!.bytes.slice();
    flipped[200]! ^= 1;
    expect(await codeOf(hmi.acceptGrant(flipped, grants[0]!.topic))).toBe('BAD_SIGNATURE');
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([]);
    expect(hmi.heldEpochs('plc-1', 'plant/line1/temp')).toEqual([]);
    expect(replay.accepts).toBe(0);
    // The genuine message is still fresh.
    await hmi.acceptGrant(grants[0]!.bytes, grants[0]!.topic);
    expect(text((await hmi.openData(genuine, 'plant/line1/x')).payload)).toBe('x');
    expect(signals).toBe(0);
  });

  it('grants: replay is DUPLICATE, a different key for a held epoch is ROLLBACK, an expired grant is STALE_EPOCH', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock });
    const hmi = await km(w.hmi, { clock });
    const grants = await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'));
    const g = grants[0]!;
    await hmi.acceptGrant(g.bytes, g.topic);
    expect(await codeOf(hmi.acceptGrant(g.bytes, g.topic))).toBe('DUPLICATE');
    const other = await sealGrant({
      publisher: w.plc.identity,
      subscriber: w.hmi.cert,
      topic: g.topic,
      grant: { channel: 'plant/line1/#', epoch: g.epoch, epochKey: new Uint8Array(32).fill(7), firstSeq: 0, notAfter: T0 + 1000 },
      seq: 999_999,
      now: T0,
    });
    expect(await codeOf(hmi.acceptGrant(other, g.topic))).toBe('ROLLBACK');
    const expired = await sealGrant({
      publisher: w.plc.identity,
      subscriber: w.hmi.cert,
      topic: g.topic,
      grant: { channel: 'plant/line1/#', epoch: 50, epochKey: new Uint8Array(32).fill(8), firstSeq: 0, notAfter: T0 - 60_000 },
      seq: 1_000_000,
      now: T0,
    });
    expect(await codeOf(hmi.acceptGrant(expired, g.topic))).toBe('STALE_EPOCH');
    expect(await codeOf(hmi.acceptGrant(g.bytes, 'pqc-iiot/v1/grants/hmi-2'))).toBe('TOPIC_MISMATCH');
  });

  it('a grant bounds its epoch: timestamped after notAfter is STALE_EPOCH, before firstSeq is REPLAY', async () => {
    const clock = manualClock();
    const hmi = await km(w.hmi, { clock });
    const epochKey = new Uint8Array(32).fill(0x33);
    const grant = await sealGrant({
      publisher: w.plc.identity,
      subscriber: w.hmi.cert,
      topic: PROTOCOL_TOPICS.grant('hmi-1'),
      grant: { channel: 'plant/line1/#', epoch: 9, epochKey, firstSeq: 100, notAfter: T0 + 1000 },
      seq: 5,
      now: T0,
    });
    await hmi.acceptGrant(grant, PROTOCOL_TOPICS.grant('hmi-1'));
    const keys = await deriveGroupKeys(epochKey, 'plc-1', 'plant/line1/#', 9);
    const seal = (seq: number, now: number) =>
      sealGroup({ sender: w.plc.identity, keys, topic: 'plant/line1/x', payload: utf8('v'), seq, now });
    expect(await codeOf(hmi.openData(await seal(99, T0), 'plant/line1/x'))).toBe('REPLAY');
    clock.set(T0 + 2000);
    expect(await codeOf(hmi.openData(await seal(150, T0 + 2000), 'plant/line1/x'))).toBe('STALE_EPOCH');
    expect(text((await hmi.openData(await seal(151, T0 + 999), 'plant/line1/x')).payload)).toBe('v');
  });

  it('retained messages: accepted once per session within retainedMaxAgeMs, live window untouched', async () => {
    const clock = manualClock();
    const replay = await CountingReplay.open(clock);
    // Epochs longer than the retained age: a retained message is only readable while its epoch key is held.
    const plc = await km(w.plc, { clock, rotateAfterMs: 24 * 3_600_000 });
    const hmi = await km(w.hmi, { clock, replay, retainedMaxAgeMs: 3_600_000 });
    await subscribe(plc, hmi, 'plant/line1/#');
    const status = await plc.sealData('plant/line1/status', utf8('running'));
    const acceptsBefore = replay.accepts;
    clock.advance(30 * 60_000); // older than the live maximum age, within the retained one
    expect(await codeOf(hmi.openData(status, 'plant/line1/status'))).toBe('TOO_OLD');
    const msg = await hmi.openData(status, 'plant/line1/status', { retained: true });
    expect(msg.retained).toBe(true);
    expect(replay.accepts).toBe(acceptsBefore); // the live window did not move
    expect(await codeOf(hmi.openData(status, 'plant/line1/status', { retained: true }))).toBe('DUPLICATE');
    expect(await codeOf(hmi.openData(status, 'plant/line1/status'))).toBe('DUPLICATE'); // not again as live either
    hmi.resetRetainedSession();
    expect((await hmi.openData(status, 'plant/line1/status', { retained: true })).retained).toBe(true);
    clock.advance(31 * 60_000);
    hmi.resetRetainedSession();
    expect(await codeOf(hmi.openData(status, 'plant/line1/status', { retained: true }))).toBe('TOO_OLD');
    // A retained copy of a message accepted live is a duplicate.
    const live = await plc.sealData('plant/line1/status', utf8('stopped'));
    await hmi.openData(live, 'plant/line1/status');
    expect(await codeOf(hmi.openData(live, 'plant/line1/status', { retained: true }))).toBe('DUPLICATE');
  });

  it('direct commands through the key manager share its sequence numbers and replay state', async () => {
    const plc = await km(w.plc);
    const hmi = await km(w.hmi);
    const bytes = await hmi.sealDirect(w.plc.cert, 'plant/cmd/plc-1', utf8('stop'));
    const msg = await plc.openDirect(bytes, 'plant/cmd/plc-1');
    expect(text(msg.payload)).toBe('stop');
    expect(await codeOf(plc.openDirect(bytes, 'plant/cmd/plc-1'))).toBe('DUPLICATE');
    await expect(hmi.sealDirect(w.plc.cert, 'plant/line1/x', utf8('no right'))).rejects.toMatchObject({ code: 'NOT_AUTHORISED' });
    await expect(plc.sealData('office/x', utf8('no right'))).rejects.toMatchObject({ code: 'NOT_AUTHORISED' });
  });

  it('held messages are bounded and only authentic ones are held', async () => {
    const plc = await km(w.plc);
    const hmi = await km(w.hmi, { maxHeldPerStream: 3 });
    const sealed = [];
    for (let i = 0; i < 5; i++) sealed.push(await plc.sealData('plant/line1/x', utf8(`h${i}`)));
    for (const b of sealed) expect(await codeOf(hmi.openData(b, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');
    const grants = await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'));
    const accepted = await hmi.acceptGrant(grants[0]!.bytes, grants[0]!.topic);
    expect(accepted.released.map((m) => text(m.payload))).toEqual(['h2', 'h3', 'h4']);
  });

  it('is deterministic with an injected random source (same bytes twice)', async () => {
    const make = async () => {
      const m = await km(w.plc, { random: seededRandom(utf8('km-determinism')) });
      return m.sealData('plant/line1/x', utf8('same'));
    };
    const a = await make();
    await open.splice(0).pop()!.close();
    expect(await make()).toEqual(a);
  });

  it('a key request handled after a rotation also gets the previous epoch: its held messages are released, in order', async () => {
    // The race of a subscriber that subscribed just before a count rotation:
    // epoch 1's messages reach it before any key (held, key request sent), the
    // publisher rotates to epoch 2 before the request reaches it, and the
    // current epoch's grant may be accepted before the previous one's.
    const clock = manualClock();
    const plc = await km(w.plc, { clock, rotateAfterMessages: 3, graceMs: 10_000 });
    const hmi = await km(w.hmi, { clock, graceMs: 10_000 });
    const needed: KeyNeededEvent[] = [];
    hmi.on('keyNeeded', (e) => needed.push(e));
    const seal = (i: number) => plc.sealData('plant/line1/x', utf8(`m${i}`));
    const first = [await seal(0), await seal(1), await seal(2)];
    for (const b of first) expect(await codeOf(hmi.openData(b, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');
    expect(needed.map((e) => e.epoch)).toEqual([1]);
    const request = hmi.keyRequest('plc-1', 'plant/line1/#');
    clock.advance(100);
    const second = [await seal(3), await seal(4)];
    expect([...first, ...second].map((b) => decodeGroup(b).epoch)).toEqual([1, 1, 1, 2, 2]);
    for (const b of second) expect(await codeOf(hmi.openData(b, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');

    clock.advance(100);
    const grants = await plc.handleKeyRequest(request);
    // Per channel: the previous epochs within their grace period (oldest first), then the current one.
    expect(grants.map((g) => [g.channel, g.epoch])).toEqual([
      ['plant/line1/#', 1],
      ['plant/line1/#', 2],
      ['plant/line1/temp', 1],
    ]);
    const grant = (epoch: number): KeyGrant => grants.find((g) => g.channel === 'plant/line1/#' && g.epoch === epoch)!;
    // The worst order: the current epoch's grant first.
    expect((await hmi.acceptGrant(grant(2).bytes, grant(2).topic)).released.map((m) => text(m.payload))).toEqual(['m3', 'm4']);
    expect(hmi.needsKey()).toEqual([{ publisher: 'plc-1', channel: 'plant/line1/#', epoch: 1 }]); // epoch 1's messages still wait
    const late = await hmi.acceptGrant(grant(1).bytes, grant(1).topic);
    expect(late.released.map((m) => [text(m.payload), m.epoch])).toEqual([
      ['m0', 1],
      ['m1', 1],
      ['m2', 1],
    ]);
    expect(hmi.needsKey()).toEqual([]);
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([1, 2]);
    for (const b of [...first, ...second]) expect(await codeOf(hmi.openData(b, 'plant/line1/x'))).toBe('DUPLICATE');

    // Epoch 1 ends like any other old epoch, at both ends: graceMs after the rotation (publisher) and after epoch 2's key arrived (subscriber).
    clock.advance(10_001);
    await hmi.maintain();
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([2]);
    await plc.maintain();
    const later = await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'));
    expect(later.map((g) => [g.channel, g.epoch])).toEqual([
      ['plant/line1/#', 2],
      ['plant/line1/temp', 1],
    ]);
    // A grant for the wiped epoch is refused, whatever its key.
    const stale = await sealGrant({
      publisher: w.plc.identity,
      subscriber: w.hmi.cert,
      topic: PROTOCOL_TOPICS.grant('hmi-1'),
      grant: { channel: 'plant/line1/#', epoch: 1, epochKey: new Uint8Array(32).fill(1), firstSeq: 0, notAfter: T0 + 3_600_000 },
      seq: 900_000,
      now: clock(),
    });
    expect(await codeOf(hmi.acceptGrant(stale, PROTOCOL_TOPICS.grant('hmi-1')))).toBe('STALE_EPOCH');
  });

  it('previous epochs go to subscribers authorised all along and to new ones whose rights cover the channel, never to a removed one for what followed its removal', async () => {
    const clock = manualClock();
    const localTrust = await w.trust();
    const plc = await km(w.plc, { clock, trust: localTrust, graceMs: 60_000 });
    const hmi = await km(w.hmi, { clock, trust: localTrust });
    const hmi2 = await km(w.hmi2, { clock, trust: localTrust });
    const epochsOf = (grants: readonly KeyGrant[], channel = 'plant/line1/#'): number[] => grants.filter((g) => g.channel === channel).map((g) => g.epoch);
    await subscribe(plc, hmi, 'plant/line1/#');
    await subscribe(plc, hmi2, 'plant/line1/#');

    // hmi-2 is revoked: epoch 2 starts without it.
    clock.advance(1000);
    const events = await plc.handleRevoked((await localTrust.applyRevocationList(w.revocationList(1, ['hmi-2']))).newlyRevoked);
    expect(events.map((e) => [e.channel, e.epoch, e.grants.map((g) => g.subscriber)])).toEqual([
      ['plant/line1/#', 2, ['hmi-1']],
      ['plant/line1/temp', 2, ['hmi-1']],
    ]);
    const during = await plc.sealData('plant/line1/x', utf8('while hmi-2 is revoked'));
    // Revoked: nothing at all, neither the new epoch nor the retained one.
    expect(await codeOf(plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#')))).toBe('REVOKED');
    expect(await codeOf(hmi2.openData(during, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');

    // Authorised all along: every epoch within its grace period.
    expect(epochsOf(await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#')))).toEqual([1, 2]);
    // New, with rights covering the channel: the same (documented choice; it could read the current epoch's earlier messages anyway).
    const guest = await km(w.guest, { clock, trust: localTrust });
    expect(epochsOf(await plc.handleKeyRequest(guest.keyRequest('plc-1', 'plant/line1/temp')), 'plant/line1/temp')).toEqual([1, 2]);

    // The CA lifts the revocation (a newer list without it); epoch 3 starts.
    clock.advance(1000);
    await localTrust.applyRevocationList(w.revocationList(2, []));
    await plc.rotate('plant/line1/#');
    const back = await plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#'));
    // Epoch 1 (it was authorised then) and the current epoch, as a new subscriber; never epoch 2, sealed while it was removed.
    expect(epochsOf(back)).toEqual([1, 3]);
    expect(epochsOf(back, 'plant/line1/temp')).toEqual([1, 2]); // temp's current epoch, as any new subscriber gets it
    for (const g of back) await hmi2.acceptGrant(g.bytes, g.topic);
    expect(await codeOf(hmi2.openData(during, 'plant/line1/x'))).toBe('UNKNOWN_EPOCH'); // held, asked for, never granted
    expect(epochsOf(await plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#')))).toEqual([1, 3]);
    // Re-admitted from epoch 3 on: later epochs are its own again.
    const fourth = await plc.rotate('plant/line1/#');
    expect(fourth.grants.map((g) => g.subscriber)).toEqual(['hmi-1', 'hmi-2']);
    expect(epochsOf(await plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#')))).toEqual([1, 3, 4]);
    // The message it was denied is dropped once its epoch's grace period is over, and the need lapses.
    clock.advance(60_001);
    await hmi2.maintain();
    expect(hmi2.needsKey()).toEqual([]);
    await plc.maintain();
    expect(epochsOf(await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#')))).toEqual([4]);
  });

  it('acceptGrant: an older epoch is accepted within its grace period only, another key for it is ROLLBACK, and it expires at that grace end', async () => {
    const clock = manualClock();
    const hmi = await km(w.hmi, { clock, graceMs: 10_000 });
    const topic = PROTOCOL_TOPICS.grant('hmi-1');
    const key = (epoch: number, fill = epoch): Uint8Array => new Uint8Array(32).fill(fill);
    let seq = 0;
    const grant = (epoch: number, fill = epoch): Promise<Uint8Array> =>
      sealGrant({
        publisher: w.plc.identity,
        subscriber: w.hmi.cert,
        topic,
        grant: { channel: 'plant/line1/#', epoch, epochKey: key(epoch, fill), firstSeq: epoch * 100, notAfter: T0 + 3_600_000 },
        seq: ++seq,
        now: clock(),
      });
    const message = async (epoch: number, n: number): Promise<Uint8Array> =>
      sealGroup({
        sender: w.plc.identity,
        keys: await deriveGroupKeys(key(epoch), 'plc-1', 'plant/line1/#', epoch),
        topic: 'plant/line1/x',
        payload: utf8(`e${epoch}/${n}`),
        seq: epoch * 100 + n,
        now: clock(),
      });

    await hmi.acceptGrant(await grant(5), topic);
    clock.advance(4000);
    // An older epoch's message, not held, within the grace period: held and asked for (no longer STALE_EPOCH).
    const needed: KeyNeededEvent[] = [];
    hmi.on('keyNeeded', (e) => needed.push(e));
    expect(await codeOf(hmi.openData(await message(4, 0), 'plant/line1/x'))).toBe('UNKNOWN_EPOCH');
    expect(needed).toEqual([{ publisher: 'plc-1', channel: 'plant/line1/#', epoch: 4 }]);
    expect((await hmi.acceptGrant(await grant(4), topic)).released.map((m) => text(m.payload))).toEqual(['e4/0']);
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([4, 5]);
    expect(hmi.needsKey()).toEqual([]);
    // Anti-rollback unchanged: another key for an epoch held.
    expect(await codeOf(hmi.acceptGrant(await grant(4, 0x44), topic))).toBe('ROLLBACK');
    // Its grace period ends 10 s after epoch 5's key arrived (not 10 s after its own grant).
    clock.advance(5999);
    expect(text((await hmi.openData(await message(4, 1), 'plant/line1/x')).payload)).toBe('e4/1');
    clock.advance(2);
    expect(await codeOf(hmi.openData(await message(4, 2), 'plant/line1/x'))).toBe('STALE_EPOCH');
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([5]);
    // An epoch at or below a wiped one is over for good: grants (any key) and messages.
    expect(await codeOf(hmi.acceptGrant(await grant(4), topic))).toBe('STALE_EPOCH');
    expect(await codeOf(hmi.acceptGrant(await grant(3), topic))).toBe('STALE_EPOCH');
    expect(await codeOf(hmi.openData(await message(3, 0), 'plant/line1/x'))).toBe('STALE_EPOCH');
    // An older epoch never held, past its grace period (10 s after the next one arrived): refused too.
    await hmi.acceptGrant(await grant(7), topic);
    clock.advance(10_001);
    expect(await codeOf(hmi.openData(await message(6, 0), 'plant/line1/x'))).toBe('STALE_EPOCH');
    expect(await codeOf(hmi.acceptGrant(await grant(6), topic))).toBe('STALE_EPOCH');
    await hmi.maintain();
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([7]);

    // An epoch wiped early (past its notAfter + graceMs) ends every older one too, even while the newer key is recent:
    // its replay windows may be forgotten, so it is never installed again.
    const temp = (epoch: number, notAfter: number): Promise<Uint8Array> =>
      sealGrant({
        publisher: w.plc.identity,
        subscriber: w.hmi.cert,
        topic,
        grant: { channel: 'plant/line1/temp', epoch, epochKey: key(epoch), firstSeq: 0, notAfter },
        seq: ++seq,
        now: clock(),
      });
    const t = clock();
    await hmi.acceptGrant(await temp(4, t - 5000), topic);
    clock.advance(4000);
    await hmi.acceptGrant(await temp(5, t + 3_600_000), topic);
    clock.advance(1001); // epoch 4: past notAfter + graceMs; within 10 s of epoch 5's arrival
    await hmi.maintain();
    expect(hmi.heldEpochs('plc-1', 'plant/line1/temp')).toEqual([5]);
    expect(await codeOf(hmi.acceptGrant(await temp(3, t + 3_600_000), topic))).toBe('STALE_EPOCH');
  });
});
