// Property tests for the envelopes and the KeyManager's receive path.
//
// 1. Random delivery sequences through KeyManager.openData (live and retained
//    deliveries, duplicates, reordering within and beyond the window, replays,
//    redirects to other topics, forged copies, three epochs) compared with a
//    reference model: per epoch, a Set of accepted sequence numbers and the
//    highest. Nothing is accepted twice, nothing forged or redirected is
//    accepted, and every honest message the model calls fresh is accepted.
// 2. Random mutations of valid encodings into every decoder: the only error is
//    a SecurityError (MALFORMED, TOO_LARGE, UNSUPPORTED_VERSION), never a
//    TypeError/RangeError or a crash (cheap: the bulk of the cases).
// 3. Random mutations into the verifying openers: never accepted, only SecurityError.
//
// FUZZ_RUNS sets the cases per decoder property (default 8,000: 4 decoders,
// 32,000 cheap cases); the delivery and opener properties run FUZZ_RUNS/50 and
// FUZZ_RUNS/10 cases. FUZZ_SEED replays a failure.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { seededRandom } from '../../src/crypto/random.js';
import { SecurityError } from '../../src/errors.js';
import { decodeDirect, openDirect, sealDirect } from '../../src/protocol/direct.js';
import { decodeGrantPayload, decodeKeyRequest, encodeGrantPayload, sealKeyRequest } from '../../src/protocol/grant.js';
import { decodeGroup } from '../../src/protocol/group.js';
import { KeyManager } from '../../src/protocol/key-manager.js';
import { ENVELOPE_TYPE } from '../../src/protocol/envelope.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { T0, manualClock, utf8, world, type World } from '../protocol/fixtures.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 8_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns: Math.max(1, Math.ceil(numRuns)), ...(SEED === undefined ? {} : { seed: SEED }) });
const timeout = Math.max(120_000, RUNS * 20);

const WINDOW = 64; // the smallest window, so reordering easily goes beyond it
const PER_EPOCH = 90;
const EPOCHS = 3;
const TOPICS = ['plant/line1/a', 'plant/line1/b'];

let w: World;
let trust: TrustStore;

interface Sealed {
  readonly bytes: Uint8Array;
  readonly topic: string;
  readonly epoch: number;
  readonly seq: number;
}
let pool: Sealed[] = [];
let grants: { bytes: Uint8Array; topic: string }[] = [];
let samples: Record<'direct' | 'grant' | 'group' | 'keyRequest' | 'grantPayload', Uint8Array>;

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
  // One publisher, three epochs of PER_EPOCH messages on two topics of one channel.
  const plc = await KeyManager.open({
    identity: w.plc.identity,
    certificate: w.plc.cert,
    trust,
    storage: new MemoryStorage(),
    clock: () => T0,
    rotateAfterMessages: PER_EPOCH,
    rotateAfterMs: 3_600_000,
    random: seededRandom(utf8('fuzz/publisher')),
  });
  plc.on('rotated', (e) => {
    for (const g of e.grants) grants.push({ bytes: g.bytes, topic: g.topic });
  });
  // A first key request makes hmi-1 an authorised subscriber; rotations then grant it every new epoch.
  const hmiRequest = await KeyManager.open({
    identity: w.hmi.identity,
    certificate: w.hmi.cert,
    trust,
    storage: new MemoryStorage(),
    clock: () => T0,
  });
  for (const g of await plc.handleKeyRequest(hmiRequest.keyRequest('plc-1', 'plant/line1/#'))) {
    if (g.channel === 'plant/line1/#') grants.push({ bytes: g.bytes, topic: g.topic });
  }
  await hmiRequest.close();
  pool = [];
  for (let i = 0; i < PER_EPOCH * EPOCHS; i++) {
    const topic = TOPICS[i % 2]!;
    const bytes = await plc.sealData(topic, utf8(`reading ${i}`));
    const f = decodeGroup(bytes);
    pool.push({ bytes, topic, epoch: f.epoch, seq: f.seq });
  }
  expect(new Set(pool.map((m) => m.epoch)).size).toBe(EPOCHS);
  await plc.close();

  samples = {
    direct: await sealDirect({ sender: w.hmi.identity, recipient: w.plc.cert, topic: 'plant/cmd/plc-1', payload: utf8('cmd'), seq: 1, now: T0 }),
    grant: grants[0]!.bytes,
    group: pool[0]!.bytes,
    keyRequest: sealKeyRequest({ subscriber: w.hmi.identity, publisher: 'plc-1', filter: 'plant/line1/#', now: T0 }),
    grantPayload: encodeGrantPayload({ channel: 'plant/line1/#', epoch: 1, epochKey: new Uint8Array(32), firstSeq: 0, notAfter: T0 }),
  };
}, 120_000);

// ----------------------------------------------------------- deliveries

type Delivery =
  | { readonly kind: 'live'; readonly i: number }
  | { readonly kind: 'retained'; readonly i: number }
  | { readonly kind: 'redirect'; readonly i: number; readonly to: number }
  | { readonly kind: 'forged'; readonly i: number; readonly bit: number };

/** Indexes clustered in a random part of the pool, so windows fill and slide. */
const delivery = (): fc.Arbitrary<Delivery> => {
  const i = fc.integer({ min: 0, max: PER_EPOCH * EPOCHS - 1 });
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('live' as const), i }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retained' as const), i }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('redirect' as const), i, to: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('forged' as const), i, bit: fc.nat() }) },
  );
};

/** Runs of nearby messages (in order, reversed or shuffled) plus random jumps: reordering within and beyond the window. */
const deliveries = (): fc.Arbitrary<Delivery[]> =>
  fc
    .array(
      fc.oneof(
        delivery().map((d) => [d]),
        fc
          .record({ start: fc.integer({ min: 0, max: PER_EPOCH * EPOCHS - 1 }), len: fc.integer({ min: 1, max: 80 }), reverse: fc.boolean() })
          .map(({ start, len, reverse }) => {
            const run: Delivery[] = [];
            for (let k = 0; k < len && start + k < PER_EPOCH * EPOCHS; k++) run.push({ kind: 'live', i: start + k });
            return reverse ? run.reverse() : run;
          }),
      ),
      { minLength: 1, maxLength: 12 },
    )
    .map((chunks) => chunks.flat());

class Model {
  readonly accepted = new Map<number, Set<number>>();
  readonly highest = new Map<number, number>();
  readonly retained = new Set<string>();

  /** The live window's sequence verdict for (epoch, seq). */
  #fresh(epoch: number, seq: number): boolean {
    const h = this.highest.get(epoch);
    if (this.accepted.get(epoch)?.has(seq)) return false;
    return h === undefined || seq > h - WINDOW;
  }

  live(epoch: number, seq: number): boolean {
    if (this.retained.has(`${epoch}/${seq}`) || !this.#fresh(epoch, seq)) return false;
    let set = this.accepted.get(epoch);
    if (!set) this.accepted.set(epoch, (set = new Set()));
    set.add(seq);
    this.highest.set(epoch, Math.max(this.highest.get(epoch) ?? -1, seq));
    return true;
  }

  retain(epoch: number, seq: number): boolean {
    if (this.retained.has(`${epoch}/${seq}`) || !this.#fresh(epoch, seq)) return false;
    this.retained.add(`${epoch}/${seq}`);
    return true;
  }
}

async function subscriber(): Promise<KeyManager> {
  const clock = manualClock(T0);
  const replay = await ReplayGuard.open({ clock, windowSize: WINDOW, maxAgeMs: 300_000, clockSkewMs: 30_000 });
  const hmi = await KeyManager.open({
    identity: w.hmi.identity,
    certificate: w.hmi.cert,
    trust,
    storage: new MemoryStorage(),
    clock,
    replay,
    graceMs: 3_600_000,
    maxHeldPerStream: 0,
  });
  for (const g of grants) await hmi.acceptGrant(g.bytes, g.topic);
  return hmi;
}

describe('delivery sequences through openData', () => {
  it(
    'nothing accepted twice, nothing forged or redirected accepted, every fresh honest message accepted',
    async () => {
      const seen = { accepted: 0, honestRejected: 0, retainedAccepted: 0, attacks: 0 };
      await fc.assert(
        fc.asyncProperty(deliveries(), async (list) => {
          const hmi = await subscriber();
          const model = new Model();
          try {
            for (const d of list) {
              const m = pool[d.i]!;
              let bytes = m.bytes;
              let topic = m.topic;
              if (d.kind === 'redirect') topic = ['plant/line1/a', 'plant/line1/b', 'plant/line2/a'].filter((t) => t !== m.topic)[d.to % 2]!;
              if (d.kind === 'forged') {
                bytes = m.bytes.slice();
                const bit = d.bit % (bytes.length * 8);
                bytes[bit >> 3]! ^= 1 << (bit & 7);
              }
              let accepted = false;
              try {
                const got = await hmi.openData(bytes, topic, { retained: d.kind === 'retained' });
                accepted = true;
                expect(got.seq).toBe(m.seq);
                expect(got.epoch).toBe(m.epoch);
                expect(got.topic).toBe(m.topic);
              } catch (err) {
                if (!(err instanceof SecurityError)) throw err;
              }
              const want = d.kind === 'live' ? model.live(m.epoch, m.seq) : d.kind === 'retained' ? model.retain(m.epoch, m.seq) : false;
              if (d.kind === 'redirect' || d.kind === 'forged') seen.attacks++;
              else if (!want) seen.honestRejected++;
              else if (d.kind === 'retained') seen.retainedAccepted++;
              else seen.accepted++;
              if (accepted !== want) throw new Error(`${d.kind} #${d.i} (epoch ${m.epoch}, seq ${m.seq}): accepted=${accepted}, model says ${want}`);
            }
          } finally {
            await hmi.close();
          }
        }),
        params(RUNS / 50),
      );
      // The sequences did exercise every branch: acceptances, duplicates/replays, retained copies, attacks.
      expect(Math.min(seen.accepted, seen.honestRejected, seen.retainedAccepted, seen.attacks)).toBeGreaterThan(0);
    },
    timeout,
  );
});

// ------------------------------------------------------------ decoders

/** A few random edits of a valid encoding: bit flips, byte sets, inserts, deletes, truncation, extreme lengths. */
const mutated = (sample: () => Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ op: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('max16' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('max32' as const), at: fc.nat() }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((ops) => {
      let b = sample().slice();
      for (const o of ops) {
        const at = b.length === 0 ? 0 : o.at % b.length;
        if (o.op === 'flip' && b.length > 0) b[at]! ^= 1 << o.bit;
        else if (o.op === 'set' && b.length > 0) b[at] = o.v;
        else if (o.op === 'insert') b = Uint8Array.from([...b.subarray(0, at), o.v, ...b.subarray(at)]);
        else if (o.op === 'delete' && b.length > 0) b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
        else if (o.op === 'truncate') b = b.slice(0, at);
        else if (o.op === 'max16') b.fill(0xff, at, at + 2);
        else if (o.op === 'max32') b.fill(0xff, at, at + 4);
      }
      return b;
    });

function onlySecurityErrors(decode: (b: Uint8Array) => unknown): (b: Uint8Array) => void {
  return (b) => {
    try {
      decode(b);
    } catch (err) {
      if (!(err instanceof SecurityError)) throw err;
      expect(['MALFORMED', 'TOO_LARGE', 'UNSUPPORTED_VERSION']).toContain(err.code);
    }
  };
}

describe('decoders under random mutation', () => {
  const cases: [string, () => Uint8Array, (b: Uint8Array) => unknown][] = [
    ['decodeDirect', () => samples.direct, (b) => decodeDirect(b, ENVELOPE_TYPE.direct)],
    ['decodeDirect (grant)', () => samples.grant, (b) => decodeDirect(b, ENVELOPE_TYPE.grant)],
    ['decodeGroup', () => samples.group, (b) => decodeGroup(b)],
    ['decodeKeyRequest', () => samples.keyRequest, (b) => decodeKeyRequest(b)],
    ['decodeGrantPayload', () => samples.grantPayload, (b) => decodeGrantPayload(b)],
  ];
  for (const [name, sample, decode] of cases) {
    it(
      `${name}: only SecurityError`,
      () => {
        fc.assert(fc.property(mutated(sample), onlySecurityErrors(decode)), params(RUNS * 0.8));
      },
      timeout,
    );
  }

  it(
    'arbitrary bytes into every decoder: only SecurityError',
    () => {
      const all = cases.map(([, , decode]) => onlySecurityErrors(decode));
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 3 }), (body, t) => {
          const typed = Uint8Array.from([[0x44, 0x47, 0x4d, 0x51][t]!, 1, 1, 1, ...body]);
          for (const check of all) {
            check(body);
            check(typed);
          }
        }),
        params(RUNS * 0.2),
      );
    },
    timeout,
  );
});

describe('verifying openers under random mutation', () => {
  it(
    'openDirect never accepts a modified envelope and only throws SecurityError',
    async () => {
      const replay = await ReplayGuard.open({ clock: () => T0 });
      await fc.assert(
        fc.asyncProperty(mutated(() => samples.direct).filter((b) => !sameBytes(b, samples.direct)), async (b) => {
          try {
            await openDirect(b, { recipient: w.plc.identity, recipientKeyEpoch: 1, receivedTopic: 'plant/cmd/plc-1', trust, now: T0, replay });
          } catch (err) {
            if (err instanceof SecurityError) return;
            throw err;
          }
          throw new Error('a modified envelope was accepted');
        }),
        params(RUNS / 10),
      );
    },
    timeout,
  );

  it(
    'openData never accepts a modified group message and only throws SecurityError',
    async () => {
      const hmi = await subscriber();
      try {
        await fc.assert(
          fc.asyncProperty(mutated(() => samples.group).filter((b) => !sameBytes(b, samples.group)), async (b) => {
            try {
              await hmi.openData(b, pool[0]!.topic);
            } catch (err) {
              if (err instanceof SecurityError) return;
              throw err;
            }
            throw new Error('a modified message was accepted');
          }),
          params(RUNS / 10),
        );
      } finally {
        await hmi.close();
      }
    },
    timeout,
  );
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
