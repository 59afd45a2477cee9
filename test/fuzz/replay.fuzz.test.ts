// Property tests for replay protection: random deliveries (duplicates,
// reordering within and beyond the window, replays, old and future
// timestamps, epoch changes, restarts) compared with a reference model that is
// too simple to be wrong: a Set of accepted numbers and the highest one.
//
// FUZZ_RUNS sets the cases per property (default 10,000: 22,000 cases in
// all, a few seconds); FUZZ_RUNS=1000000 for the long run. FUZZ_SEED replays
// a failure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecurityError } from '../../src/errors.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import type { ReplayCode, StreamKey } from '../../src/replay/guard.js';
import type { ReplayClass } from '../../src/replay/window.js';
import { ReplayWindow } from '../../src/replay/window.js';
import { MemoryStorage } from '../../src/storage/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(SEED === undefined ? {} : { seed: SEED }) });
const timeout = Math.max(60_000, RUNS * 10);
const MAX = Number.MAX_SAFE_INTEGER;

/** The reference: what was accepted, and the highest. */
class Model {
  readonly accepted = new Set<number>();
  highest: number | undefined;
  constructor(readonly size: number) {}
  classify(seq: number): ReplayClass {
    if (this.highest === undefined || seq > this.highest) return 'fresh';
    if (seq <= this.highest - this.size) return 'replay';
    return this.accepted.has(seq) ? 'duplicate' : 'fresh';
  }
  accept(seq: number): void {
    if (this.accepted.has(seq)) throw new Error(`model: ${seq} accepted twice`);
    this.accepted.add(seq);
    if (this.highest === undefined || seq > this.highest) this.highest = seq;
  }
}

/** How a test picks a sequence number; resolved against the stream's state when the op runs. */
type SeqSpec =
  | { kind: 'abs'; value: number } // small absolute numbers: dense collisions
  | { kind: 'rel'; delta: number } // near the highest: within, at and beyond the window's edges
  | { kind: 'huge'; below: number } // near 2^53-1
  | { kind: 'again'; index: number }; // an earlier number: a duplicate or a replay

const seqSpec = (size: number): fc.Arbitrary<SeqSpec> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('abs' as const), value: fc.nat(3 * size) }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('rel' as const), delta: fc.integer({ min: -2 * size - 2, max: size + 2 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge' as const), below: fc.nat(2 * size) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('again' as const), index: fc.nat() }) },
  );

function resolveSeq(spec: SeqSpec, model: Model, history: number[]): number {
  switch (spec.kind) {
    case 'abs':
      return spec.value;
    case 'rel':
      return Math.min(MAX, Math.max(0, (model.highest ?? 0) + spec.delta));
    case 'huge':
      return MAX - spec.below;
    case 'again':
      return history.length === 0 ? 0 : history[spec.index % history.length]!;
  }
}

const sizes = fc.constantFrom(64, 65, 100, 1024);

describe('ReplayWindow against the model', () => {
  it('classifies like the model, accepts each number at most once, every fresh one when authentic', { timeout }, () => {
    const op = (size: number) =>
      fc.oneof(
        { weight: 12, arbitrary: fc.record({ type: fc.constant('msg' as const), seq: seqSpec(size), authentic: fc.boolean() }) },
        { weight: 1, arbitrary: fc.record({ type: fc.constant('restart' as const), resizeTo: fc.constantFrom(undefined, size) }) },
      );
    fc.assert(
      fc.property(
        sizes.chain((size) => fc.tuple(fc.constant(size), fc.array(op(size), { maxLength: 120 }))),
        ([size, ops]) => {
          let window = new ReplayWindow(size);
          const model = new Model(size);
          const history: number[] = [];
          for (const o of ops) {
            if (o.type === 'restart') {
              window = ReplayWindow.deserialize(window.serialize(), o.resizeTo);
              continue;
            }
            const seq = resolveSeq(o.seq, model, history);
            history.push(seq);
            const expected = model.classify(seq);
            expect(window.check(seq)).toBe(expected);
            if (expected !== 'fresh') {
              expect(() => window.accept(seq)).toThrow(SecurityError); // a second copy never gets in
            } else if (o.authentic) {
              window.accept(seq); // must not throw: every authentic fresh message is accepted
              model.accept(seq);
            }
            expect(window.highest()).toBe(model.highest);
          }
        },
      ),
      params(RUNS),
    );
  });
});

// --- ReplayGuard: several streams, timestamps, epochs, restarts through storage ---

const MAX_AGE = 1000;
const SKEW = 100;
const T0 = 1_700_000_000_000;

const streamKeys: StreamKey[] = [
  { sender: 'a', channel: 'x', epoch: 1 },
  { sender: 'a', channel: 'x', epoch: 2 },
  { sender: 'a', channel: 'y', epoch: 1 },
  { sender: 'b', channel: 'x', epoch: 1 },
  { sender: 'b/x', channel: '1', epoch: 1 }, // must not collide with the next one
  { sender: 'b', channel: 'x/1', epoch: 1 },
];
const idOf = (k: StreamKey): string => JSON.stringify([k.sender, k.channel, k.epoch]);

type GuardOp =
  | { type: 'msg'; stream: number; seq: SeqSpec; tsOffset: number; authentic: boolean; raceAccept: boolean }
  | { type: 'tick'; ms: number }
  | { type: 'restart' }
  | { type: 'forget'; stream: number; below: number };

const guardOp: fc.Arbitrary<GuardOp> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      type: fc.constant('msg' as const),
      stream: fc.nat(streamKeys.length - 1),
      seq: seqSpec(64),
      tsOffset: fc.oneof(fc.integer({ min: -MAX_AGE - 50, max: SKEW + 50 }), fc.integer({ min: -5 * MAX_AGE, max: 5 * MAX_AGE })),
      authentic: fc.boolean(),
      raceAccept: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tick' as const), ms: fc.nat(2 * MAX_AGE) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('restart' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('forget' as const), stream: fc.nat(streamKeys.length - 1), below: fc.nat(3) }) },
);

/** `stateSince`: when the guard's memory-only state began (the restart rule refuses what is older than it minus SKEW). */
function expectedVerdict(model: Model, seq: number, ts: number, now: number, stateSince = -Infinity): ReplayCode | 'ok' {
  const c = model.classify(seq);
  if (c === 'duplicate') return 'DUPLICATE';
  if (c === 'replay') return 'REPLAY';
  if (ts > now + SKEW) return 'FROM_FUTURE';
  if (ts < now - MAX_AGE) return 'TOO_OLD';
  if (ts < stateSince - SKEW) return 'TOO_OLD';
  return 'ok';
}

describe('ReplayGuard against the model', () => {
  it('matches the model across streams, timestamps, forgotten epochs and restarts', { timeout }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(guardOp, { maxLength: 60 }), async (persistent, ops) => {
        let now = T0;
        const clock = (): number => now;
        const storage = persistent ? new MemoryStorage() : undefined;
        const open = (): Promise<ReplayGuard> =>
          ReplayGuard.open({ ...(storage ? { storage } : {}), clock, windowSize: 64, maxAgeMs: MAX_AGE, clockSkewMs: SKEW });
        let guard = await open();
        const models = new Map<string, Model>();
        const model = (k: StreamKey): Model => {
          let m = models.get(idOf(k));
          if (!m) models.set(idOf(k), (m = new Model(64)));
          return m;
        };
        const history: number[] = [];
        // forgetEpoch leaves a floor: epochs below it are refused from then on (durably, with storage).
        const floors = new Map<string, number>();
        const floorOf = (k: StreamKey): number => floors.get(`${k.sender}\n${k.channel}`) ?? 0;
        for (const o of ops) {
          if (o.type === 'tick') {
            now += o.ms;
          } else if (o.type === 'restart') {
            if (storage) guard = await open(); // without storage a restart forgets: not modelled
          } else if (o.type === 'forget') {
            const k = streamKeys[o.stream]!;
            await guard.forgetEpoch(k.sender, k.channel, o.below);
            floors.set(`${k.sender}\n${k.channel}`, Math.max(floorOf(k), o.below));
            for (const other of streamKeys) {
              if (other.sender === k.sender && other.channel === k.channel && other.epoch < o.below) models.delete(idOf(other));
            }
          } else {
            const k = streamKeys[o.stream]!;
            const m = model(k);
            const seq = resolveSeq(o.seq, m, history);
            history.push(seq);
            const ts = now + o.tsOffset;
            if (ts < 0) continue;
            // The state lives in memory (a MemoryStorage, or none): it began at T0, when the first guard opened.
            const expected = k.epoch < floorOf(k) ? 'REPLAY' : expectedVerdict(m, seq, ts, now, T0);
            const verdict = guard.check(k, seq, ts);
            expect(verdict.ok ? 'ok' : verdict.code).toBe(expected);
            if (expected === 'ok' && o.authentic) {
              await guard.accept(k, seq, ts);
              m.accept(seq);
            } else if ((expected === 'DUPLICATE' || expected === 'REPLAY') && o.raceAccept) {
              // A copy that passed check() before the first copy was accepted.
              await expect(guard.accept(k, seq, ts)).rejects.toMatchObject({ code: expected });
            }
          }
        }
      }),
      params(RUNS),
    );
  });

  it('with eviction (maxStreams 1..3, with and without storage): nothing twice, every honest message', { timeout }, async () => {
    type EvOp = { type: 'send'; stream: number } | { type: 'replay'; index: number } | { type: 'tick'; ms: number };
    const evOp: fc.Arbitrary<EvOp> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ type: fc.constant('send' as const), stream: fc.nat(6) }) },
      { weight: 4, arbitrary: fc.record({ type: fc.constant('replay' as const), index: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ type: fc.constant('tick' as const), ms: fc.nat(3 * SKEW) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.integer({ min: 1, max: 3 }), fc.array(evOp, { maxLength: 80 }), async (persistent, maxStreams, ops) => {
        let now = T0;
        const guard = await ReplayGuard.open({
          ...(persistent ? { storage: new MemoryStorage() } : {}),
          clock: () => now,
          windowSize: 64,
          maxAgeMs: 100 * MAX_AGE,
          clockSkewMs: SKEW,
          maxStreams,
        });
        const nextSeq = new Array<number>(7).fill(0);
        const sent: Array<{ stream: number; seq: number; ts: number }> = [];
        const delivered = new Set<string>();
        const deliver = async (stream: number, seq: number, ts: number): Promise<boolean> => {
          const k = { sender: `s${stream}`, channel: 'c', epoch: 0 };
          if (!guard.check(k, seq, ts).ok) return false;
          try {
            await guard.accept(k, seq, ts);
          } catch (err) {
            if (err instanceof SecurityError) return false;
            throw err;
          }
          const id = `${stream}:${seq}`;
          expect(delivered.has(id), `${id} delivered twice`).toBe(false);
          delivered.add(id);
          return true;
        };
        for (const o of ops) {
          now += 1; // time moves on between messages
          if (o.type === 'tick') now += o.ms;
          else if (o.type === 'send') {
            const msg = { stream: o.stream, seq: nextSeq[o.stream]!++, ts: now };
            sent.push(msg);
            expect(await deliver(msg.stream, msg.seq, msg.ts), 'an honest message was refused').toBe(true);
          } else if (sent.length > 0) {
            const msg = sent[o.index % sent.length]!;
            await deliver(msg.stream, msg.seq, msg.ts); // the broker replays: refused (the check above catches a second delivery)
          }
        }
        expect(guard.residentStreams).toBeLessThanOrEqual(maxStreams);
      }),
      params(Math.max(1, Math.floor(RUNS / 5))),
    );
  });
});
