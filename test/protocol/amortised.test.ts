// Amortised mode (docs/PROTOCOL.md, "Amortised mode"): honest batches in any
// order, and the hostile cases of per-message signatures: insider forgery,
// reordered / duplicated / dropped messages and manifests, forged, tampered,
// replayed and redirected manifests, wrong epoch, truncated batches; forgeries
// never move the replay window; the default mode is unchanged.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { SecurityError } from '../../src/errors.js';
import { AmortisedReceiver, decodeManifest, entryDigest, sealAmortised, sealManifest } from '../../src/protocol/amortised.js';
import { openGrant } from '../../src/protocol/grant.js';
import { deriveGroupKeys, type GroupEpochKeys } from '../../src/protocol/group.js';
import { KeyManager, type KeyManagerOptions, type KeyNeededEvent } from '../../src/protocol/key-manager.js';
import { FLAGS } from '../../src/protocol/envelope.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { CountingReplay, T0, codeOf, manualClock, text, utf8, world, type Party, type World } from './fixtures.js';

let w: World;
let trust: TrustStore;
const open: KeyManager[] = [];
const TOPIC = 'plant/line1/pressure';
const CHANNEL = 'plant/line1/#';

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
});

afterEach(async () => {
  for (const km of open.splice(0)) await km.close();
});

async function km(party: Party, extra: Partial<KeyManagerOptions> = {}): Promise<KeyManager> {
  const m = await KeyManager.open({
    identity: party.identity,
    certificate: party.cert,
    trust,
    storage: new MemoryStorage(),
    clock: () => T0,
    regrantIntervalMs: 0,
    ...extra,
  });
  open.push(m);
  return m;
}

async function subscribe(pub: KeyManager, sub: KeyManager, filter = CHANNEL): Promise<void> {
  for (const g of await pub.handleKeyRequest(sub.keyRequest(pub.identity.id, filter))) await sub.acceptGrant(g.bytes, g.topic);
}

/** The insider: mallory asks plc for the channel's key like any subscriber and keeps the raw epoch key. */
async function insiderKeys(pub: KeyManager): Promise<GroupEpochKeys> {
  const grants = await pub.handleKeyRequest(await sealReq());
  const g = grants.find((x) => x.channel === CHANNEL)!;
  const { grant } = await openGrant(g.bytes, {
    recipient: w.mallory.identity,
    recipientKeyEpoch: 1,
    receivedTopic: g.topic,
    trust,
    now: T0,
    replay: await ReplayGuard.open({ clock: () => T0 }),
  });
  return deriveGroupKeys(grant.epochKey, 'plc-1', CHANNEL, grant.epoch);
  async function sealReq(): Promise<Uint8Array> {
    const m = await km(w.mallory);
    return m.keyRequest('plc-1', CHANNEL);
  }
}

interface Setup {
  plc: KeyManager;
  hmi: KeyManager;
  replay: CountingReplay;
  clock: ReturnType<typeof manualClock>;
}

async function setup(maxBatch = 4, holdMs = 5_000): Promise<Setup> {
  const clock = manualClock();
  const replay = await CountingReplay.open(clock);
  const plc = await km(w.plc, { clock, amortise: { channels: [CHANNEL], maxBatch, maxDelayMs: 25 } });
  const hmi = await km(w.hmi, { clock, replay, acceptAmortised: { holdMs } });
  await subscribe(plc, hmi);
  replay.accepts = 0; // the grants' own sequence numbers
  return { plc, hmi, replay, clock };
}

async function batch(plc: KeyManager, n: number, topic = TOPIC, prefix = 'm'): Promise<{ msgs: Uint8Array[]; manifests: Uint8Array[] }> {
  const msgs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) msgs.push(await plc.sealData(topic, utf8(`${prefix}${i}`)));
  const manifests = plc.takeManifests(true).map((m) => m.bytes);
  return { msgs, manifests };
}

/** The sequence number of an amortised envelope (after type, version, suite, flags, sender, channel, epoch). */
function decodeSeq(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 4;
  off += 2 + view.getUint16(off); // sender
  off += 2 + view.getUint16(off); // channel
  off += 4; // epoch
  return Number(view.getBigUint64(off));
}

const payloads = (r: { released: readonly { payload: Uint8Array }[] }): string[] => r.released.map((m) => text(m.payload));
const codes = (r: { rejected: readonly SecurityError[] }): string[] => r.rejected.map((e) => e.code);

describe('amortised mode', () => {
  it('is off by default: the default envelope is unchanged and amortised bytes are UNSUPPORTED_VERSION', async () => {
    const plc = await km(w.plc);
    const hmi = await km(w.hmi);
    await subscribe(plc, hmi);
    const signed = await plc.sealData(TOPIC, utf8('x'));
    expect(signed[3]).toBe(FLAGS.signed);
    expect(plc.takeManifests(true)).toEqual([]);
    const a = await setup();
    const [amortised] = (await batch(a.plc, 1)).msgs;
    expect(amortised![3]).toBe(FLAGS.amortised);
    expect(await codeOf(hmi.openData(amortised!, TOPIC))).toBe('UNSUPPORTED_VERSION');
    expect(await codeOf(hmi.openAmortised(amortised!, TOPIC))).toBe('UNSUPPORTED_VERSION');
    // Channels not listed, and { signed: true }, stay signed.
    expect((await a.plc.sealData('plant/line1/temp', utf8('t')))[3]).toBe(FLAGS.signed);
    expect((await a.plc.sealData(TOPIC, utf8('t'), { signed: true }))[3]).toBe(FLAGS.signed);
  });

  it('holds messages until their manifest, then delivers them once, in sequence order', async () => {
    const { plc, hmi, replay } = await setup(4);
    const { msgs, manifests } = await batch(plc, 4);
    expect(manifests.length).toBe(1);
    for (const m of [msgs[2]!, msgs[0]!, msgs[3]!, msgs[1]!]) expect(await hmi.openAmortised(m, TOPIC)).toEqual({ released: [], rejected: [] });
    expect(replay.accepts).toBe(0);
    const r = await hmi.acceptManifest(manifests[0]!, TOPIC);
    expect(payloads(r)).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(r.rejected).toEqual([]);
    expect(replay.accepts).toBe(4);
    // Redelivered messages and manifest: nothing twice.
    for (const m of msgs) expect(await codeOf(hmi.openAmortised(m, TOPIC))).toBe('DUPLICATE');
    expect(await hmi.acceptManifest(manifests[0]!, TOPIC)).toEqual({ released: [], rejected: [] });
    expect(replay.accepts).toBe(4);
  });

  it('a manifest that arrives first releases each message as it arrives', async () => {
    const { plc, hmi } = await setup(3);
    const { msgs, manifests } = await batch(plc, 3);
    expect(await hmi.acceptManifest(manifests[0]!, TOPIC)).toEqual({ released: [], rejected: [] });
    expect(payloads(await hmi.openAmortised(msgs[1]!, TOPIC))).toEqual(['m1']);
    expect(payloads(await hmi.openAmortised(msgs[0]!, TOPIC))).toEqual(['m0']);
    expect(await codeOf(hmi.openAmortised(msgs[1]!, TOPIC))).toBe('DUPLICATE');
    expect(payloads(await hmi.openAmortised(msgs[2]!, TOPIC))).toEqual(['m2']);
  });

  it('batches fill at maxBatch; a duplicate held copy is DUPLICATE', async () => {
    const { plc, hmi } = await setup(2);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) msgs.push(await plc.sealData(TOPIC, utf8(`m${i}`)));
    expect(plc.takeManifests().map((m) => m.count)).toEqual([2, 2]);
    const rest = plc.takeManifests(true);
    expect(rest.map((m) => m.count)).toEqual([1]);
    await hmi.openAmortised(msgs[4]!, TOPIC);
    expect(await codeOf(hmi.openAmortised(msgs[4]!, TOPIC))).toBe('DUPLICATE');
    expect(payloads(await hmi.acceptManifest(rest[0]!.bytes, TOPIC))).toEqual(['m4']);
  });

  it('an insider with the epoch key cannot forge the publisher: held then rejected, never delivered, window untouched', async () => {
    const { plc, hmi, replay, clock } = await setup(4, 1_000);
    const keys = await insiderKeys(plc);
    const { msgs, manifests } = await batch(plc, 4);
    const seq1 = decodeManifest(manifests[0]!).entries[1]!.seq;
    const forge = async (seq: number, s: string): Promise<Uint8Array> =>
      (await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8(s), seq, now: T0 })).bytes;
    // 1. A forged copy of seq1 before the genuine one, and one far ahead.
    const forged = await forge(seq1, 'forged');
    const ahead = await forge(seq1 + 1000, 'ahead');
    expect(await hmi.openAmortised(forged, TOPIC)).toEqual({ released: [], rejected: [] });
    expect(await hmi.openAmortised(ahead, TOPIC)).toEqual({ released: [], rejected: [] });
    for (const m of msgs) await hmi.openAmortised(m, TOPIC);
    expect(replay.accepts).toBe(0);
    const r = await hmi.acceptManifest(manifests[0]!, TOPIC);
    expect(payloads(r)).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(codes(r)).toEqual(['BAD_SIGNATURE']);
    // 2. After the manifest: a forged copy in its range is rejected at once.
    expect(await codeOf(hmi.openAmortised(await forge(seq1, 'again'), TOPIC))).toBe('BAD_SIGNATURE');
    // 3. The one no manifest covers is rejected after holdMs.
    clock.advance(1_001);
    expect(codes(hmi.expireAmortised())).toEqual(['BAD_SIGNATURE']);
    expect(replay.accepts).toBe(4);
    // 4. An insider's manifest in the publisher's name does not verify; in its own name it covers nothing of plc's.
    const fake = sealManifest({ sender: w.mallory.identity, channel: CHANNEL, epoch: 1, topic: TOPIC, entries: [{ seq: seq1 + 1000, digest: entryDigest(TOPIC, ahead) }], now: T0 });
    expect(await hmi.acceptManifest(fake, TOPIC)).toEqual({ released: [], rejected: [] }); // mallory's own stream
    // The same manifest with the sender field rewritten to plc-1: plc's key does not verify it.
    const renamed = new Uint8Array([...fake.subarray(0, 4), 0, 5, ...utf8('plc-1'), ...fake.subarray(4 + 2 + 7)]);
    expect(await codeOf(hmi.acceptManifest(renamed, TOPIC))).toBe('BAD_SIGNATURE');
    expect(replay.accepts).toBe(4);
  });

  it('tampered, truncated, redirected, too old and replayed manifests', async () => {
    const { plc, hmi, replay, clock } = await setup(3);
    const { msgs, manifests } = await batch(plc, 3);
    const good = manifests[0]!;
    for (const m of msgs) await hmi.openAmortised(m, TOPIC);
    // Flip a digest byte, a sequence number, the signature; truncate; extend.
    const at = (i: number): Uint8Array => {
      const b = good.slice();
      b[i]! ^= 1;
      return b;
    };
    const fields = decodeManifest(good);
    const entriesAt = good.length - fields.signature.length - 2 - 3 * 40;
    expect(await codeOf(hmi.acceptManifest(at(entriesAt + 8 + 5), TOPIC))).toBe('BAD_SIGNATURE');
    expect(await codeOf(hmi.acceptManifest(at(entriesAt + 7), TOPIC))).toMatch(/BAD_SIGNATURE|MALFORMED/);
    expect(await codeOf(hmi.acceptManifest(at(good.length - 5), TOPIC))).toBe('BAD_SIGNATURE');
    expect(await codeOf(hmi.acceptManifest(good.subarray(0, good.length - 1), TOPIC))).toBe('MALFORMED');
    expect(await codeOf(hmi.acceptManifest(new Uint8Array([...good, 0]), TOPIC))).toBe('MALFORMED');
    expect(await codeOf(hmi.acceptManifest(at(3), TOPIC))).toBe('UNSUPPORTED_VERSION');
    // Redirected to another topic of the channel, or outside it.
    expect(await codeOf(hmi.acceptManifest(good, 'plant/line1/other'))).toBe('BAD_SIGNATURE');
    expect(await codeOf(hmi.acceptManifest(good, 'plant/line2/x'))).toBe('TOPIC_MISMATCH');
    expect(replay.accepts).toBe(0);
    // Messages redirected to another topic fail their AEAD.
    expect(await codeOf(hmi.openAmortised(msgs[0]!, 'plant/line1/other'))).toBe('DECRYPT_FAILED');
    // Too old / from the future.
    clock.advance(5 * 60_000 + 1);
    expect(await codeOf(hmi.acceptManifest(good, TOPIC))).toBe('TOO_OLD');
    clock.set(T0 - 31_000);
    expect(await codeOf(hmi.acceptManifest(good, TOPIC))).toBe('FROM_FUTURE');
    clock.set(T0);
    expect(payloads(await hmi.acceptManifest(good, TOPIC))).toEqual(['m0', 'm1', 'm2']);
    expect(await hmi.acceptManifest(good, TOPIC)).toEqual({ released: [], rejected: [] }); // replayed: nothing
  });

  it('dropped messages and truncated batches: what the manifest lists and arrived is delivered, the rest never', async () => {
    const { plc, hmi, clock } = await setup(4, 500);
    const { msgs, manifests } = await batch(plc, 4);
    await hmi.openAmortised(msgs[0]!, TOPIC);
    await hmi.openAmortised(msgs[3]!, TOPIC); // 1 and 2 dropped by the broker
    expect(payloads(await hmi.acceptManifest(manifests[0]!, TOPIC))).toEqual(['m0', 'm3']);
    // A batch whose manifest is dropped: held, then rejected after holdMs.
    const second = await batch(plc, 2, TOPIC, 'n');
    for (const m of second.msgs) await hmi.openAmortised(m, TOPIC);
    clock.advance(500);
    const expired = hmi.expireAmortised();
    expect(codes(expired)).toEqual(['BAD_SIGNATURE', 'BAD_SIGNATURE']);
    expect(expired.rejected[0]!.message).toMatch(/no batch manifest covered it/);
    // A manifest listing fewer entries than the messages in its range (a truncated batch signed by nobody) cannot exist:
    // every entry is signed; a message in range but not listed is BAD_SIGNATURE.
    const third = await batch(plc, 3, TOPIC, 'p');
    const f = decodeManifest(third.manifests[0]!);
    const partial = sealManifest({ sender: w.plc.identity, channel: CHANNEL, epoch: f.epoch, topic: TOPIC, entries: [f.entries[0]!, f.entries[2]!], now: clock() });
    for (const m of third.msgs) await hmi.openAmortised(m, TOPIC);
    const r = await hmi.acceptManifest(partial, TOPIC);
    expect(payloads(r)).toEqual(['p0', 'p2']);
    expect(codes(r)).toEqual(['BAD_SIGNATURE']);
  });

  it('wrong epoch: an amortised message of an unknown epoch is UNKNOWN_EPOCH and triggers no key request; its signed manifest does', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock, amortise: { maxBatch: 2 } });
    const hmi = await km(w.hmi, { clock, acceptAmortised: true });
    const needed: KeyNeededEvent[] = [];
    hmi.on('keyNeeded', (e) => needed.push(e));
    const { msgs, manifests } = await batch(plc, 2);
    expect(await codeOf(hmi.openAmortised(msgs[0]!, TOPIC))).toBe('UNKNOWN_EPOCH');
    expect(needed).toEqual([]);
    await hmi.acceptManifest(manifests[0]!, TOPIC);
    expect(needed).toEqual([{ publisher: 'plc-1', channel: CHANNEL, epoch: 1 }]);
    // After rotation, messages of the new epoch are not covered by the old epoch's manifest.
    await subscribe(plc, hmi);
    await plc.rotate(CHANNEL);
    await subscribe(plc, hmi);
    const next = await batch(plc, 2);
    for (const m of next.msgs) await hmi.openAmortised(m, TOPIC);
    expect((await hmi.acceptManifest(manifests[0]!, TOPIC)).released).toEqual([]);
    expect(payloads(await hmi.acceptManifest(next.manifests[0]!, TOPIC))).toEqual(['m0', 'm1']);
  });

  it('seals started back to back (not awaited one by one) finish in sequence order; the manifest lists them in order', async () => {
    const { plc, hmi } = await setup(8);
    // The first payload is large (its encryption takes the longest), so without the ordering the small ones would finish first.
    const big = new Uint8Array(1_000_000).fill(0x61);
    const finished: number[] = [];
    const sealing = Array.from({ length: 8 }, (_, i) => plc.sealData(TOPIC, i === 0 ? big : utf8(`p${i}`)).then((b) => (finished.push(i), b)));
    const msgs = await Promise.all(sealing);
    expect(finished).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const [manifest] = plc.takeManifests(true);
    expect(decodeManifest(manifest!.bytes).entries.map((e) => e.seq)).toEqual(msgs.map((m) => decodeSeq(m)));
    expect(decodeManifest(manifest!.bytes).entries.map((e) => e.seq)).toEqual([...msgs.map((m) => decodeSeq(m))].sort((a, b) => a - b));
    for (const m of msgs) await hmi.openAmortised(m, TOPIC);
    expect(payloads(await hmi.acceptManifest(manifest!.bytes, TOPIC)).map((p) => p.slice(0, 2))).toEqual(['aa', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    // Signed seals too (per-message signatures), and a failing seal does not stall the ones after it.
    const signedDone: number[] = [];
    const signed = [0, 1, 2].map((i) => plc.sealData(TOPIC, utf8(`s${i}`), { signed: true }).then(() => signedDone.push(i)));
    // Refused at once, before a sequence number is taken (the check is at sealData's entry).
    const tooBig = expect(plc.sealData(TOPIC, new Uint8Array(10_000_000))).rejects.toThrow(/payload must be at most/);
    const after = plc.sealData(TOPIC, utf8('after'), { signed: true });
    await Promise.all(signed);
    expect(signedDone).toEqual([0, 1, 2]);
    await tooBig;
    expect((await after)[3]).toBe(FLAGS.signed);
  });

  it('a seal called later is never numbered ahead of one called earlier (signed first, amortised next, not awaited)', async () => {
    const { plc } = await setup(8);
    await plc.sealData(TOPIC, utf8('warm')); // the channel is started: the amortised seal could run synchronously
    for (let round = 0; round < 3; round++) {
      const order = [plc.sealData(TOPIC, utf8('s'), { signed: true }), plc.sealData(TOPIC, utf8('a')), plc.sealData(TOPIC, utf8('b'))];
      const seqs = (await Promise.all(order)).map((m) => decodeSeq(m));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(3);
    }
    // A failing seal on the synchronous path rejects its own call only.
    await expect(plc.sealData(TOPIC, new Uint8Array(10_000_000))).rejects.toThrow(RangeError);
    expect(decodeSeq(await plc.sealData(TOPIC, utf8('next')))).toBeGreaterThan(0);
  });

  it('prefetch: a decryption started early changes no verdict, and its plaintext is wiped when not used', async () => {
    const { plc, hmi } = await setup(4);
    const { msgs, manifests } = await batch(plc, 4);
    // Nothing to prefetch for: malformed bytes, or a KeyManager that does not accept amortised messages.
    expect(hmi.prefetchAmortised(new Uint8Array([1, 2, 3]), TOPIC)).toBeUndefined();
    const plain = await km(w.hmi, { storage: new MemoryStorage() }).catch(() => undefined);
    expect(plain?.prefetchAmortised(msgs[0]!, TOPIC)).toBeUndefined();
    // The normal path, with prefetches.
    const ahead0 = hmi.prefetchAmortised(msgs[0]!, TOPIC)!;
    expect(ahead0).toBeDefined();
    expect(await hmi.openAmortised(msgs[0]!, TOPIC, ahead0)).toEqual({ released: [], rejected: [] });
    // A prefetch for other bytes (a tampered copy, or another message) is not taken: the verdict is the usual one.
    const tampered = msgs[1]!.slice();
    tampered[tampered.length - 1]! ^= 1;
    // (The decryption is synchronous: a tampered copy yields no prefetch at all.)
    expect(hmi.prefetchAmortised(tampered, TOPIC)).toBeUndefined();
    expect(await codeOf(hmi.openAmortised(tampered, TOPIC, hmi.prefetchAmortised(msgs[1]!, TOPIC)))).toBe('DECRYPT_FAILED');
    const aheadOther = hmi.prefetchAmortised(msgs[2]!, TOPIC)!;
    expect(await hmi.openAmortised(msgs[1]!, TOPIC, aheadOther)).toEqual({ released: [], rejected: [] });
    expect(text(aheadOther.plaintext)).toBe('\0\0'); // not used by that call: wiped
    // A copy already held: DUPLICATE before decryption, and the early plaintext is wiped.
    const aheadDup = hmi.prefetchAmortised(msgs[0]!, TOPIC)!;
    expect(await codeOf(hmi.openAmortised(msgs[0]!, TOPIC, aheadDup))).toBe('DUPLICATE');
    expect([...aheadDup.plaintext].every((b) => b === 0)).toBe(true);
    // Redirected to another topic: the prefetch decrypts under the wrong AAD and fails; the verdict is TOPIC_MISMATCH as always.
    const redirected = hmi.prefetchAmortised(msgs[2]!, 'other/topic');
    expect(await codeOf(hmi.openAmortised(msgs[2]!, 'other/topic', redirected))).toBe('TOPIC_MISMATCH');
    for (const m of msgs.slice(2)) await hmi.openAmortised(m, TOPIC, hmi.prefetchAmortised(m, TOPIC));
    expect(payloads(await hmi.acceptManifest(manifests[0]!, TOPIC))).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('bounds the hold buffer (the farthest ahead rejected first: TOO_LARGE, before decryption)', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock, amortise: { maxBatch: 64 } });
    const hmi = await km(w.hmi, { clock, acceptAmortised: { maxHeld: 3 } });
    await subscribe(plc, hmi);
    const { msgs, manifests } = await batch(plc, 5);
    const verdicts: string[] = [];
    for (const m of msgs) verdicts.push(await codeOf(hmi.openAmortised(m, TOPIC)));
    // In arrival order: 3 and 4 are numbered above every held one, so they are refused (maxHeldPerChannel is at most maxHeld).
    expect(verdicts).toEqual(['ok', 'ok', 'ok', 'TOO_LARGE', 'TOO_LARGE']);
    expect(payloads(await hmi.acceptManifest(manifests[0]!, TOPIC))).toEqual(['m0', 'm1', 'm2']);
  });

  it('bounds the hold buffer: a message numbered below the held ones pushes out the farthest ahead', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock, amortise: { maxBatch: 64 } });
    const hmi = await km(w.hmi, { clock, acceptAmortised: { maxHeld: 3 } });
    await subscribe(plc, hmi);
    const { msgs, manifests } = await batch(plc, 5);
    const out: string[] = [];
    // Reordered by the broker: 4, 3, 2 held; 1 pushes out 4, 0 pushes out 3.
    for (const m of [...msgs].reverse()) {
      const r = await hmi.openAmortised(m, TOPIC);
      out.push(...r.rejected.map((e) => `${e.code} ${/amortised message (\d+)/.exec(e.message)![1]}`));
    }
    const seqs = msgs.map((m) => decodeSeq(m));
    expect(out).toEqual([`TOO_LARGE ${seqs[4]}`, `TOO_LARGE ${seqs[3]}`]);
    expect(payloads(await hmi.acceptManifest(manifests[0]!, TOPIC))).toEqual(['m0', 'm1', 'm2']);
  });
});

describe('AmortisedReceiver bookkeeping (no cryptography)', () => {
  const d = (n: number): Uint8Array => new Uint8Array(32).fill(n);
  const held = (stream: string, seq: number, digest: Uint8Array, heldAt = 0) => ({ stream, seq, digest, heldAt, message: `${stream}:${seq}:${digest[0]}` });

  it('knows what it holds by stream, number and digest, through holds, manifests, expiry and eviction', () => {
    const r = new AmortisedReceiver<string>(1_000, 5, 10);
    expect(r.isHeld('a', 1, d(1))).toBe(false);
    r.hold(held('a', 1, d(1)));
    r.hold(held('a', 1, d(9))); // another copy of number 1 (a forgery, say): held too
    r.hold(held('a', 2, d(2)));
    r.hold(held('b', 1, d(1)));
    expect([r.isHeld('a', 1, d(1)), r.isHeld('a', 1, d(9)), r.isHeld('a', 1, d(7)), r.isHeld('a', 3, d(1)), r.isHeld('b', 1, d(1)), r.isHeld('c', 1, d(1))]).toEqual([
      true, true, false, false, true, false,
    ]);
    // A manifest of stream a covering 1..1: the matching copy is released, the other one is forged; 2 stays held.
    const settled = r.addManifest('a', [{ seq: 1, digest: d(1) }], new Uint8Array([1]), 0);
    expect([settled.matched.map((h) => h.message), settled.forged.map((h) => h.message)]).toEqual([['a:1:1'], ['a:1:9']]);
    expect([r.isHeld('a', 1, d(1)), r.isHeld('a', 1, d(9)), r.isHeld('a', 2, d(2)), r.heldCount]).toEqual([false, false, true, 2]);
    // Beyond maxHeld (5): the lane holding the most pays with its farthest ahead (here the one just held); expiry after holdMs.
    const evicted = [3, 4, 5, 6].flatMap((n) => r.hold(held('a', n, d(n), n)));
    expect(evicted.map((e) => [e.held.message, e.bound])).toEqual([['a:6:6', 'held']]);
    expect([r.isHeld('a', 6, d(6)), r.isHeld('a', 2, d(2)), r.heldCount]).toEqual([false, true, 5]);
    expect(r.expire(1_004).map((h) => h.message)).toEqual(['a:2:2', 'a:3:3', 'a:4:4', 'b:1:1']);
    expect([r.isHeld('b', 1, d(1)), r.isHeld('a', 3, d(3)), r.isHeld('a', 5, d(5)), r.heldCount]).toEqual([false, false, true, 1]);
    expect(r.clear().map((h) => h.message)).toEqual(['a:5:5']);
    expect([r.isHeld('a', 5, d(5)), r.heldCount]).toEqual([false, 0]);
  });

  it('lanes: a base from verified manifests, far-ahead messages bounded, quotas in number and bytes, the farthest ahead first', () => {
    const r = new AmortisedReceiver<string>(1_000, 100, 10, { maxHeldPerChannel: 5, maxAhead: 10, maxHeldAhead: 2, maxHeldBytes: 1_000, maxHeldBytesPerChannel: 300 });
    const h = (stream: string, lane: string, seq: number, size = 0, digest = d(seq % 256)) => ({ stream, lane, seq, digest, heldAt: 0, size, message: `${stream}:${seq}` });
    const gone = (ev: readonly { held: { message: string }; bound: string }[]): string[] => ev.map((e) => `${e.held.message} ${e.bound}`);
    // No verified manifest yet: no base, nothing is far ahead.
    expect([r.base('L'), r.refusal('L', 1_000_000)]).toEqual([undefined, undefined]);
    expect(r.addManifest('s1', [{ seq: 100, digest: d(100) }], d(200), 0, 'L')).toEqual({ matched: [], forged: [] });
    expect(r.base('L')).toBe(100);
    // Far ahead (above 110): two at most, the farthest goes first; one numbered above the farthest held is refused before decryption.
    expect(r.hold(h('s1', 'L', 500))).toEqual([]);
    expect(r.hold(h('s2', 'L', 400))).toEqual([]);
    expect([r.refusal('L', 600), r.refusal('L', 500), r.refusal('L', 450), r.refusal('L', 105)]).toEqual(['ahead', 'ahead', undefined, undefined]);
    expect(gone(r.hold(h('s1', 'L', 450)))).toEqual(['s1:500 ahead']);
    expect(r.laneHeld('L')).toEqual({ count: 2, bytes: 0, ahead: 2 });
    // Within the window: the lane's quota (5); the farthest ahead goes, whatever arrived first.
    for (const n of [101, 102, 103]) expect(r.hold(h('s1', 'L', n))).toEqual([]);
    expect(gone(r.hold(h('s1', 'L', 104)))).toEqual(['s1:450 lane']);
    expect(r.refusal('L', 500)).toBe('lane');
    // Copies of one number: the latest to arrive goes first.
    expect(gone(r.hold(h('s2', 'L', 104, 0, d(9))))).toEqual(['s2:400 lane']);
    expect(gone(r.hold(h('s3', 'L', 104, 0, d(8))))).toEqual(['s3:104 lane']);
    // Another lane is not touched by this one's quota.
    expect(r.hold(h('t1', 'M', 7))).toEqual([]);
    expect(r.laneHeld('M')).toEqual({ count: 1, bytes: 0, ahead: 0 });
    // A manifest listing 101..104 on s1 releases s1's and rejects the copy of 104 held for s2 (the number is taken).
    const settled = r.addManifest('s1', [101, 102, 103, 104].map((seq) => ({ seq, digest: d(seq) })), d(201), 0, 'L');
    expect([settled.matched.map((x) => x.message), settled.forged.map((x) => x.message)]).toEqual([['s1:101', 's1:102', 's1:103', 's1:104'], ['s2:104']]);
    expect(r.base('L')).toBe(104);
    // A number s1 lists is a mismatch on any other stream of the lane, and only there.
    expect([r.coverage('s1', 102, d(102), 'L'), r.coverage('s2', 102, d(102), 'L'), r.coverage('s2', 102, d(102), 'M'), r.coverage('s2', 105, d(105), 'L')]).toEqual(['match', 'mismatch', 'uncovered', 'uncovered']);
    // Bytes: 300 per lane; the farthest ahead goes; larger than the share: refused outright.
    expect(r.refusal('B', 0, 301)).toBe('size');
    expect(gone(r.hold(h('b1', 'B', 50, 301)))).toEqual(['b1:50 size']);
    expect(r.hold(h('b1', 'B', 60, 200))).toEqual([]);
    expect(r.refusal('B', 70, 101)).toBe('lane-bytes');
    expect(r.refusal('B', 55, 101)).toBeUndefined();
    expect(gone(r.hold(h('b1', 'B', 55, 101)))).toEqual(['b1:60 lane-bytes']);
    // Over all lanes (1,000 bytes): the lane holding the most bytes pays.
    for (const [i, l] of ['C', 'D', 'E'].entries()) expect(r.hold(h(`${l}1`, l, 1, 250 + i))).toEqual([]);
    expect(r.heldBytes).toBe(101 + 250 + 251 + 252);
    expect(gone(r.hold(h('B1', 'B', 1, 150)))).toEqual(['E1:1 held-bytes']);
    expect(r.heldBytes).toBe(101 + 250 + 251 + 150);
  });
});
