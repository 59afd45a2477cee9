// Amortised mode under a flood of insider forgeries (issue 19, finding 5): a
// channel member holds the epoch key, so it can seal amortised envelopes in
// the publisher's name that decrypt; they are held until a manifest settles
// them. With one shared, oldest-first hold buffer, 4,096 of them with
// far-future sequence numbers pushed the publisher's honest messages out
// before their manifest arrived, and those messages, already acknowledged,
// were lost. Here the same flood (and its variants) must cost no honest
// message.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrustStore } from '../../src/certs/trust-store.js';
import type { SecurityError } from '../../src/errors.js';
import { AMORTISED_DEFAULTS, decodeAmortised, decodeManifest, sealAmortised } from '../../src/protocol/amortised.js';
import { openGrant } from '../../src/protocol/grant.js';
import { deriveGroupKeys, type GroupEpochKeys } from '../../src/protocol/group.js';
import type { KeyManager, KeyManagerOptions } from '../../src/protocol/key-manager.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { T0, keyManagers, manualClock, text, utf8, world, type Party, type World } from './fixtures.js';

let w: World;
let trust: TrustStore;
const managers = keyManagers();
const CHANNEL = 'plant/line1/#';
const TOPIC = 'plant/line1/pressure';
const OTHER = 'plant/line1/flow';

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
});

afterEach(() => managers.closeAll());

const km = (party: Party, extra: Partial<KeyManagerOptions> = {}): Promise<KeyManager> => managers.open(party, trust, extra.clock ?? (() => T0), extra);

async function subscribe(pub: KeyManager, sub: KeyManager, filter = CHANNEL): Promise<void> {
  for (const g of await pub.handleKeyRequest(sub.keyRequest(pub.identity.id, filter))) await sub.acceptGrant(g.bytes, g.topic);
}

/** The insider: mallory, a member of the channel, asks plc for its key like any subscriber and keeps the epoch key. */
async function insiderKeys(pub: KeyManager, channel = CHANNEL): Promise<GroupEpochKeys> {
  const mallory = await km(w.mallory);
  const grants = await pub.handleKeyRequest(mallory.keyRequest('plc-1', channel));
  const g = grants.find((x) => x.channel === channel)!;
  const { grant } = await openGrant(g.bytes, { recipient: w.mallory.identity, recipientKeyEpoch: 1, receivedTopic: g.topic, trust, now: T0, replay: await ReplayGuard.open({ clock: () => T0 }) });
  return deriveGroupKeys(grant.epochKey, 'plc-1', channel, grant.epoch);
}

interface Setup {
  plc: KeyManager;
  hmi: KeyManager;
  keys: GroupEpochKeys;
  clock: ReturnType<typeof manualClock>;
}

async function setup(accept: KeyManagerOptions['acceptAmortised'] = true): Promise<Setup> {
  const clock = manualClock();
  const plc = await km(w.plc, { clock, amortise: { maxBatch: 64, maxDelayMs: 25 } });
  const hmi = await km(w.hmi, { clock, acceptAmortised: accept });
  await subscribe(plc, hmi);
  return { plc, hmi, keys: await insiderKeys(plc), clock };
}

interface Settled {
  released: string[];
  rejected: SecurityError[];
}

/** Feeds `bytes` (on their topics) to the subscriber, collecting what comes out. */
async function feed(hmi: KeyManager, items: readonly { bytes: Uint8Array; topic: string }[], into: Settled): Promise<void> {
  for (const { bytes, topic } of items) {
    try {
      const r = await hmi.openAmortised(bytes, topic);
      into.released.push(...r.released.map((m) => text(m.payload)));
      into.rejected.push(...r.rejected);
    } catch (err) {
      into.rejected.push(err as SecurityError);
    }
  }
}

async function manifestsTo(hmi: KeyManager, manifests: readonly { bytes: Uint8Array; topic: string }[], into: Settled): Promise<void> {
  for (const m of manifests) {
    const r = await hmi.acceptManifest(m.bytes, m.topic);
    into.released.push(...r.released.map((x) => text(x.payload)));
    into.rejected.push(...r.rejected);
  }
}

/** `n` honest messages of plc on `topic`, sealed now; their manifests are taken separately. */
async function honest(plc: KeyManager, n: number, prefix: string, topic = TOPIC): Promise<{ bytes: Uint8Array; topic: string }[]> {
  const out: { bytes: Uint8Array; topic: string }[] = [];
  for (let i = 0; i < n; i++) out.push({ bytes: await plc.sealData(topic, utf8(`${prefix}${i}`)), topic });
  return out;
}

type Sealed = { bytes: Uint8Array; topic: string };

/** `n` honest messages, the flood, `n` more, then the batches' manifests: what the subscriber released and rejected. */
async function aroundFlood(plc: KeyManager, hmi: KeyManager, flood: readonly Sealed[], n = 32): Promise<Settled> {
  const got: Settled = { released: [], rejected: [] };
  await feed(hmi, await honest(plc, n, 'a'), got);
  await feed(hmi, flood, got);
  await feed(hmi, await honest(plc, n, 'b'), got);
  await manifestsTo(hmi, plc.takeManifests(true), got);
  return got;
}

/** The payloads aroundFlood's honest messages carry, in order. */
const honestAround = (n = 32): string[] => [...Array.from({ length: n }, (_, i) => `a${i}`), ...Array.from({ length: n }, (_, i) => `b${i}`)];

const decodeSeqOf = (bytes: Uint8Array): number => decodeAmortised(bytes).seq;

/** The highest sequence number in the manifests delivered so far (what the insider sees on the wire too). */
const lastSeq = (manifests: readonly { bytes: Uint8Array }[]): number => Math.max(...manifests.map((m) => decodeManifest(m.bytes).entries.at(-1)!.seq));

describe('amortised mode: an insider flooding the hold buffer', () => {
  it('far-future forgeries in the publisher\'s name push out no honest message (the attack of issue 19, finding 5)', async () => {
    const { plc, hmi, keys, clock } = await setup();
    // Normal operation: one batch delivered (a manifest verified).
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 8, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    expect(out.released).toEqual(Array.from({ length: 8 }, (_, i) => `w${i}`));
    // The insider floods: 5,000 forgeries with far-future numbers, sealed around 64 honest messages.
    const flood: Sealed[] = [];
    const base = lastSeq(warm) + 1_000_000;
    for (let i = 0; i < 5_000; i++) {
      const topic = i % 2 === 0 ? TOPIC : OTHER;
      flood.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic, payload: utf8(`forged ${i}`), seq: base + i, now: T0 })).bytes, topic });
    }
    const t = performance.now();
    const got = await aroundFlood(plc, hmi, flood);
    console.log(`far-future flood: 5,000 forgeries and 64 honest messages processed (with their manifests) in ${(performance.now() - t).toFixed(0)} ms; ${got.released.length} honest released, ${got.rejected.length} rejections`);
    // Every honest message is released by its manifest, in order; no forgery is.
    expect(got.released).toEqual(honestAround());
    // Every forgery is reported, none is left held.
    clock.advance(5_001);
    expect(got.rejected.length + hmi.expireAmortised().rejected.length).toBe(5_000);
  });

  it('far-future forgeries are refused before decryption (TOO_LARGE) once maxHeldAhead of them are held; a nearer one pushes out the farthest', async () => {
    const { plc, hmi, keys } = await setup({ maxHeldAhead: 4 });
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 4, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    const base = lastSeq(warm);
    const forge = async (seq: number, topic = TOPIC): Promise<{ bytes: Uint8Array; topic: string }> => ({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic, payload: utf8(`forged ${seq}`), seq, now: T0 })).bytes, topic });
    // maxAhead (4,096) above the base: the first four are held, the next (numbered higher) refused.
    const far = base + 4_097;
    for (let i = 0; i < 4; i++) expect(await hmi.openAmortised((await forge(far + 10 * i)).bytes, TOPIC)).toEqual({ released: [], rejected: [] });
    const refused = await hmi.openAmortised((await forge(far + 100)).bytes, TOPIC).catch((e: SecurityError) => e);
    expect(refused).toMatchObject({ code: 'TOO_LARGE' });
    expect((refused as SecurityError).message).toMatch(/numbered more than maxAhead \(4096\) above the last number a batch manifest of plc-1 on plant\/line1\/# listed \(\d+\), with maxHeldAhead \(4\) such messages held/);
    // One numbered below the farthest held is held, and the farthest goes (reported now).
    const r = await hmi.openAmortised((await forge(far + 5)).bytes, TOPIC);
    expect(r.rejected.map((e) => [e.code, /amortised message (\d+)/.exec(e.message)![1]])).toEqual([['TOO_LARGE', String(far + 30)]]);
    // Not far ahead (within maxAhead): held as usual, however many copies, up to the lane's quota.
    expect(await hmi.openAmortised((await forge(base + 4_096)).bytes, TOPIC)).toEqual({ released: [], rejected: [] });
    // Honest traffic goes on.
    const next = await honest(plc, 3, 'n');
    await feed(hmi, next, out);
    await manifestsTo(hmi, plc.takeManifests(true), out);
    expect(out.released).toEqual(['w0', 'w1', 'w2', 'w3', 'n0', 'n1', 'n2']);
  });

  it('maxHeldAhead 0: every far-ahead message is refused before decryption (the strict window)', async () => {
    const { plc, hmi, keys } = await setup({ maxHeldAhead: 0, maxAhead: 100 });
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 2, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    const base = lastSeq(warm);
    const at = async (seq: number): Promise<unknown> =>
      hmi.openAmortised((await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8('f'), seq, now: T0 })).bytes, TOPIC).then(() => 'held', (e: SecurityError) => e.code);
    expect(await at(base + 101)).toBe('TOO_LARGE');
    expect(await at(base + 100)).toBe('held');
  });

  it('a subscriber that sees one quiet topic of a busy channel: its honest messages far ahead of the last manifest it saw are still held and delivered', async () => {
    // Sequence numbers are shared by the channel's topics: here 300 messages on another topic, which this subscriber
    // never receives, come between two of its own. Far ahead (maxAhead 100), but held: maxHeldAhead of them may be.
    const { plc, hmi } = await setup({ maxAhead: 100 });
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 2, 'w'), out);
    await manifestsTo(hmi, plc.takeManifests(true), out);
    await honest(plc, 300, 'x', OTHER); // sealed, never delivered to this subscriber (nor their manifests)
    const mine = await honest(plc, 3, 'q');
    await feed(hmi, mine, out);
    await manifestsTo(hmi, plc.takeManifests(true).filter((m) => m.topic === TOPIC), out);
    expect(out.released).toEqual(['w0', 'w1', 'q0', 'q1', 'q2']);
    expect(out.rejected).toEqual([]);
  });

  it('before any manifest (no base yet), far-future forgeries are held but go first: no honest message is lost', async () => {
    const { plc, hmi, keys, clock } = await setup();
    const flood: Sealed[] = [];
    for (let i = 0; i < 3_000; i++) flood.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8(`forged ${i}`), seq: 2 ** 40 + i, now: T0 })).bytes, topic: TOPIC });
    const got = await aroundFlood(plc, hmi, flood);
    expect(got.released).toEqual(honestAround());
    expect(got.rejected.every((e) => e.code === 'TOO_LARGE')).toBe(true);
    clock.advance(5_001);
    expect(got.rejected.length + hmi.expireAmortised().rejected.length).toBe(3_000);
  });

  it('forgeries within the window but numbered above the honest messages go first (maxHeldPerChannel)', async () => {
    const { plc, hmi, keys } = await setup();
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 4, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    const base = lastSeq(warm);
    const flood: Sealed[] = [];
    // 5,000 forgeries numbered 1,000..4,096 above the base, several copies per number, on two topics.
    for (let i = 0; i < 5_000; i++) {
      const topic = i % 3 === 0 ? OTHER : TOPIC;
      flood.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic, payload: utf8(`forged ${i}`), seq: base + 1_000 + (i % 3_096), now: T0 })).bytes, topic });
    }
    const got = await aroundFlood(plc, hmi, flood);
    expect(got.released).toEqual(honestAround());
    expect(new Set(got.rejected.map((e) => e.code))).toEqual(new Set(['TOO_LARGE']));
  });

  it('copies of the honest numbers, on any topic of the channel: held, and all rejected by the manifest that lists the numbers', async () => {
    const { plc, hmi, keys } = await setup();
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 4, 'w'), out);
    await manifestsTo(hmi, plc.takeManifests(true), out);
    const msgs = await honest(plc, 32, 'a');
    const got: Settled = { released: [], rejected: [] };
    for (const m of msgs) {
      await feed(hmi, [m], got);
      const seq = decodeSeqOf(m.bytes);
      const copies: { bytes: Uint8Array; topic: string }[] = [];
      for (let c = 0; c < 20; c++) {
        const topic = c % 2 === 0 ? TOPIC : OTHER;
        copies.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic, payload: utf8(`copy ${c} of ${seq}`), seq, now: T0 })).bytes, topic });
      }
      await feed(hmi, copies, got);
    }
    await manifestsTo(hmi, plc.takeManifests(true), got);
    expect(got.released).toEqual(Array.from({ length: 32 }, (_, i) => `a${i}`));
    // 640 copies, half of them on another topic: the manifest of TOPIC lists their numbers, so all are BAD_SIGNATURE.
    expect(got.rejected.map((e) => e.code)).toEqual(Array(640).fill('BAD_SIGNATURE'));
    // After the manifest: a copy of a listed number on another topic is BAD_SIGNATURE at once (the number is taken).
    const seq = decodeSeqOf(msgs[5]!.bytes);
    const late = (await sealAmortised({ sender: 'plc-1', keys, topic: OTHER, payload: utf8('late'), seq, now: T0 })).bytes;
    expect(await hmi.openAmortised(late, OTHER).catch((e: SecurityError) => e.code)).toBe('BAD_SIGNATURE');
  });

  it('a flood on one (sender, channel) costs another nothing', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock, amortise: { maxBatch: 64, maxDelayMs: 25 } });
    const hmi = await km(w.hmi, { clock, acceptAmortised: true });
    await subscribe(plc, hmi);
    await subscribe(plc, hmi, 'plant/line1/temp');
    const keys = await insiderKeys(plc);
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 2, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    // The residual attack within the window (see the next test) fills plant/line1/#'s share: 4,096 held copies of the next numbers.
    const next = lastSeq(warm) + 1;
    const flood: { bytes: Uint8Array; topic: string }[] = [];
    for (let i = 0; i < 5_000; i++) flood.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic: OTHER, payload: utf8(`forged ${i}`), seq: next + (i % 8), now: T0 })).bytes, topic: OTHER });
    const got: Settled = { released: [], rejected: [] };
    await feed(hmi, flood, got);
    // plant/line1/temp is another channel of plc (another numbering): untouched.
    const temp = await honest(plc, 40, 't', 'plant/line1/temp');
    await feed(hmi, temp, got);
    await manifestsTo(hmi, plc.takeManifests(true), got);
    expect(got.released).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`));
  });

  it('known limit: copies of the next numbers sent before the honest messages push them out until a manifest lists those numbers', async () => {
    // A member who predicts the publisher's next numbers can fill the (sender, channel)'s share with copies of them
    // before the honest messages arrive: held copies numbered at or below an honest message stay, so it is refused.
    // The cost is maxHeldPerChannel (4,096) forgeries per batch (the honest manifest listing those numbers rejects them all),
    // on that one sender and channel; farther ahead they cost nothing.
    const { plc, hmi, keys } = await setup();
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 2, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    const next = lastSeq(warm) + 1;
    const flood: { bytes: Uint8Array; topic: string }[] = [];
    for (let i = 0; i < 4_096; i++) flood.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8(`forged ${i}`), seq: next, now: T0 })).bytes, topic: TOPIC });
    const got: Settled = { released: [], rejected: [] };
    await feed(hmi, flood, got);
    expect(got.rejected).toEqual([]);
    const batch1 = await honest(plc, 16, 'a');
    await feed(hmi, batch1, got);
    await manifestsTo(hmi, plc.takeManifests(true), got);
    expect(got.released).toEqual([]); // the 16 honest messages were refused: TOO_LARGE
    expect(got.rejected.filter((e) => e.code === 'TOO_LARGE').length).toBe(16);
    expect(got.rejected.filter((e) => e.code === 'BAD_SIGNATURE').length).toBe(4_096); // the manifest listing `next` rejects every copy
    // The share is free again: the next batch is delivered.
    const batch2 = await honest(plc, 16, 'b');
    const after: Settled = { released: [], rejected: [] };
    await feed(hmi, batch2, after);
    await manifestsTo(hmi, plc.takeManifests(true), after);
    expect(after.released).toEqual(Array.from({ length: 16 }, (_, i) => `b${i}`));
  });

  it('bytes: large forgeries numbered above the honest messages go first; a message larger than the share is refused', async () => {
    const { plc, hmi, keys } = await setup({ maxHeldBytesPerChannel: 64 * 1024 });
    const out: Settled = { released: [], rejected: [] };
    await feed(hmi, await honest(plc, 2, 'w'), out);
    const warm = plc.takeManifests(true);
    await manifestsTo(hmi, warm, out);
    const base = lastSeq(warm);
    const big = new Uint8Array(16 * 1024).fill(0x66);
    const flood: Sealed[] = [];
    for (let i = 0; i < 40; i++) flood.push({ bytes: (await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: big, seq: base + 100 + i, now: T0 })).bytes, topic: TOPIC });
    const got = await aroundFlood(plc, hmi, flood, 8);
    expect(got.released).toEqual(honestAround(8));
    const huge = (await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: new Uint8Array(64 * 1024 + 1), seq: base + 50, now: T0 })).bytes;
    const e = await hmi.openAmortised(huge, TOPIC).catch((x: SecurityError) => x);
    expect(e).toMatchObject({ code: 'TOO_LARGE' });
    expect((e as SecurityError).message).toMatch(/larger than the hold buffer's share of a sender and channel \(maxHeldBytesPerChannel 65536 bytes\)/);
  });

  it('options: defaults, and values out of range are RangeErrors naming the option', async () => {
    expect(AMORTISED_DEFAULTS).toMatchObject({ maxHeld: 8_192, maxHeldPerChannel: 4_096, maxHeldBytes: 64 * 1024 * 1024, maxHeldBytesPerChannel: 16 * 1024 * 1024, maxAhead: 4_096, maxHeldAhead: 256 });
    const bad: [KeyManagerOptions['acceptAmortised'], RegExp][] = [
      [{ maxHeldPerChannel: 0 }, /acceptAmortised\.maxHeldPerChannel/],
      [{ maxHeld: 10, maxHeldPerChannel: 11 }, /acceptAmortised\.maxHeldPerChannel/],
      [{ maxHeldBytes: 0 }, /acceptAmortised\.maxHeldBytes/],
      [{ maxHeldBytes: 100, maxHeldBytesPerChannel: 101 }, /acceptAmortised\.maxHeldBytesPerChannel/],
      [{ maxAhead: 0 }, /acceptAmortised\.maxAhead/],
      [{ maxAhead: 1.5 }, /acceptAmortised\.maxAhead/],
      [{ maxHeldPerChannel: 10, maxHeldAhead: 11 }, /acceptAmortised\.maxHeldAhead/],
      [{ maxHeldAhead: -1 }, /acceptAmortised\.maxHeldAhead/],
    ];
    for (const [accept, name] of bad) await expect(km(w.hmi, { acceptAmortised: accept })).rejects.toThrow(name);
    await expect(km(w.hmi, { acceptAmortised: { maxHeldAhead: '3' as unknown as number } })).rejects.toThrow(TypeError);
    // Smaller totals lower the per-channel defaults with them.
    const hmi = await km(w.hmi, { acceptAmortised: { maxHeld: 10, maxHeldBytes: 100 } });
    expect(hmi).toBeDefined();
    await expect(km(w.hmi, { acceptAmortised: { maxHeld: 10, maxHeldAhead: 0 } })).resolves.toBeDefined();
  });
});
