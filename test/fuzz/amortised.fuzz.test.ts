// Property tests for amortised mode: random delivery schedules of honest
// messages, insider forgeries (sealed with the real epoch key in the
// publisher's name), duplicates, and manifests (dropped, duplicated,
// reordered). Every honest message that arrives and whose manifest arrives is
// delivered exactly once; nothing forged is ever delivered. Random mutations
// of manifests and amortised envelopes only ever give a SecurityError.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { SecurityError } from '../../src/errors.js';
import { decodeAmortised, decodeManifest, sealAmortised } from '../../src/protocol/amortised.js';
import { openGrant } from '../../src/protocol/grant.js';
import { deriveGroupKeys, type GroupEpochKeys } from '../../src/protocol/group.js';
import { KeyManager } from '../../src/protocol/key-manager.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { T0, text, utf8, world, type World } from '../protocol/fixtures.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 8_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns: Math.max(1, Math.ceil(numRuns)), ...(SEED === undefined ? {} : { seed: SEED }) });
const TOPIC = 'plant/line1/x';
const CHANNEL = 'plant/line1/#';
const N = 12; // three batches of 4

let w: World;
let trust: TrustStore;
let honest: Uint8Array[];
let manifests: Uint8Array[];
let forgeries: Uint8Array[];

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
  const clock = (): number => T0;
  const plc = await KeyManager.open({ identity: w.plc.identity, certificate: w.plc.cert, trust, storage: new MemoryStorage(), clock, amortise: { maxBatch: 4 } });
  const mallory = await KeyManager.open({ identity: w.mallory.identity, certificate: w.mallory.cert, trust, storage: new MemoryStorage(), clock });
  const g = (await plc.handleKeyRequest(mallory.keyRequest('plc-1', CHANNEL))).find((x) => x.channel === CHANNEL)!;
  const { grant } = await openGrant(g.bytes, { recipient: w.mallory.identity, recipientKeyEpoch: 1, receivedTopic: g.topic, trust, now: T0, replay: await ReplayGuard.open({ clock }) });
  const keys: GroupEpochKeys = await deriveGroupKeys(grant.epochKey, 'plc-1', CHANNEL, grant.epoch);
  honest = [];
  for (let i = 0; i < N; i++) honest.push(await plc.sealData(TOPIC, utf8(`h${i}`)));
  manifests = plc.takeManifests(true).map((m) => m.bytes);
  forgeries = [];
  for (const h of honest) {
    const f = decodeAmortised(h);
    forgeries.push((await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8(`forged${f.seq}`), seq: f.seq, now: T0 })).bytes);
  }
  const last = decodeAmortised(honest[N - 1]!).seq;
  forgeries.push((await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8('forged-ahead'), seq: last + 5, now: T0 })).bytes);
  const hg = (await plc.grantsFor(w.hmi.cert)).find((x) => x.channel === CHANNEL)!;
  cachedGrant = { bytes: hg.bytes, topic: hg.topic };
  await plc.close();
  await mallory.close();
});

type Event = { kind: 'msg' | 'forged' | 'manifest'; i: number };

describe('amortised mode (property)', () => {
  it(
    'honest messages are delivered exactly once when their manifest arrives; forgeries never',
    async () => {
      const clock = (): number => T0;
      const event = fc.oneof(
        fc.record({ kind: fc.constant('msg' as const), i: fc.integer({ min: 0, max: N - 1 }) }),
        fc.record({ kind: fc.constant('forged' as const), i: fc.integer({ min: 0, max: N }) }),
        fc.record({ kind: fc.constant('manifest' as const), i: fc.integer({ min: 0, max: N / 4 - 1 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(event, { maxLength: 60 }), async (events: Event[]) => {
          const sub = await subscriber(clock);
          try {
            const delivered: string[] = [];
            for (const e of events) {
              const bytes = e.kind === 'msg' ? honest[e.i]! : e.kind === 'forged' ? forgeries[e.i]! : manifests[e.i]!;
              try {
                const r = e.kind === 'manifest' ? await sub.acceptManifest(bytes, TOPIC) : await sub.openAmortised(bytes, TOPIC);
                for (const m of r.released) delivered.push(text(m.payload));
                for (const err of r.rejected) expect(err).toBeInstanceOf(SecurityError);
              } catch (err) {
                if (!(err instanceof SecurityError)) throw err;
              }
            }
            // Model: message i is delivered iff it arrived and manifest floor(i/4) arrived; once.
            const arrived = new Set(events.filter((e) => e.kind === 'msg').map((e) => e.i));
            const mf = new Set(events.filter((e) => e.kind === 'manifest').map((e) => e.i));
            const expected = [...arrived].filter((i) => mf.has(Math.floor(i / 4))).map((i) => `h${i}`).sort();
            expect([...delivered].sort()).toEqual(expected);
            expect(delivered.some((p) => p.startsWith('forged'))).toBe(false);
          } finally {
            await sub.close();
          }
        }),
        params(RUNS / 200),
      );
    },
    120_000,
  );

  it('mutated manifests and amortised envelopes only ever give a SecurityError', () => {
    const mutate = fc.record({ which: fc.integer({ min: 0, max: 1 }), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }), cut: fc.nat(), trunc: fc.boolean() });
    fc.assert(
      fc.property(mutate, ({ which, at, xor, cut, trunc }) => {
        const src = which === 0 ? manifests[0]! : honest[0]!;
        let b = src.slice();
        b[at % b.length]! ^= xor;
        if (trunc) b = b.subarray(0, cut % b.length);
        try {
          if (which === 0) decodeManifest(b);
          else decodeAmortised(b);
        } catch (err) {
          expect(err).toBeInstanceOf(SecurityError);
        }
      }),
      params(RUNS / 4),
    );
  });
});

// A fresh subscriber per run, holding the publisher's epoch key (the same grant each time).
let cachedGrant: { bytes: Uint8Array; topic: string } | undefined;
async function subscriber(clock: () => number): Promise<KeyManager> {
  const hmi = await KeyManager.open({ identity: w.hmi.identity, certificate: w.hmi.cert, trust, storage: new MemoryStorage(), clock, acceptAmortised: true });
  if (!cachedGrant) throw new Error('grant not prepared');
  await hmi.acceptGrant(cachedGrant.bytes, cachedGrant.topic);
  return hmi;
}
