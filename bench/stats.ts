// Timing and statistics shared by the bench modules. A figure is the median of
// several rounds; each round repeats one operation for a fixed time (and at
// least a few times), and its figure is operations / elapsed seconds. Several
// implementations of one operation are measured with interleaved rounds.

import { performance } from 'node:perf_hooks';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface RoundPlan {
  /** Rounds whose median is reported. */
  readonly rounds: number;
  /** Minimum duration of one round. */
  readonly roundMs: number;
  /** Minimum operations in one round (slow operations make their rounds longer). */
  readonly minOps: number;
  /** Warm-up before the rounds (JIT tiers, caches); at least one operation. */
  readonly warmupMs: number;
  /**
   * Upper bound for one measurement: when the warm-up shows that rounds x minOps
   * operations would take longer, the number of rounds is cut (never below 3).
   */
  readonly maxTotalMs: number;
}

export interface Measurement {
  /** Median ops/s over the rounds. */
  readonly opsPerSec: number;
  /** Every round's ops/s, in the order they ran. */
  readonly rounds: readonly number[];
}

function plannedRounds(plan: RoundPlan, msPerOp: number): number {
  const perRound = Math.max(plan.roundMs, plan.minOps * msPerOp);
  const fit = Math.floor(plan.maxTotalMs / perRound);
  return Math.max(Math.min(plan.rounds, fit), Math.min(3, plan.rounds));
}

/** One implementation of one operation, as the round scheduler drives it. */
export interface Contender {
  readonly name: string;
  /** Runs the operation for at least `ms` (and at least once); resolves to the time per operation in ms. */
  warmUp(ms: number): Promise<number>;
  /** One round: repeats the operation for at least `roundMs` and `minOps` times; resolves to ops/s. */
  round(roundMs: number, minOps: number): Promise<number>;
}

/** A contender for a synchronous operation (each round is one tight loop). */
export function syncContender(name: string, op: () => unknown): Contender {
  return {
    name,
    warmUp: async (ms) => {
      const start = performance.now();
      let n = 0;
      do {
        op();
        n++;
      } while (performance.now() - start < ms);
      return (performance.now() - start) / n;
    },
    round: async (roundMs, minOps) => {
      let ops = 0;
      let elapsed = 0;
      const start = performance.now();
      do {
        op();
        ops++;
        elapsed = performance.now() - start;
      } while (elapsed < roundMs || ops < minOps);
      return (ops * 1000) / elapsed;
    },
  };
}

/** A contender for an asynchronous operation: one call at a time, each awaited before the next starts. */
export function asyncContender(name: string, op: () => Promise<unknown>): Contender {
  return {
    name,
    warmUp: async (ms) => {
      const start = performance.now();
      let n = 0;
      do {
        await op();
        n++;
      } while (performance.now() - start < ms);
      return (performance.now() - start) / n;
    },
    round: async (roundMs, minOps) => {
      let ops = 0;
      let elapsed = 0;
      const start = performance.now();
      do {
        await op();
        ops++;
        elapsed = performance.now() - start;
      } while (elapsed < roundMs || ops < minOps);
      return (ops * 1000) / elapsed;
    },
  };
}

/**
 * Measures several implementations of one operation with their rounds interleaved (round 1 of each,
 * then round 2 of each, the starting contender rotating), so that on a shared machine a burst of
 * load falls on all of them rather than on whichever happened to run then: the ratios stay meaningful.
 * The number of rounds follows the slowest contender (RoundPlan.maxTotalMs).
 */
export async function interleave(contenders: readonly Contender[], plan: RoundPlan): Promise<Map<string, Measurement>> {
  let slowest = 0;
  for (const c of contenders) slowest = Math.max(slowest, await c.warmUp(plan.warmupMs));
  const rounds = plannedRounds(plan, slowest);
  const figures = contenders.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (r + j) % contenders.length;
      figures[i]!.push(await contenders[i]!.round(plan.roundMs, plan.minOps));
    }
  }
  return new Map(contenders.map((c, i) => [c.name, { opsPerSec: median(figures[i]!), rounds: figures[i]! }]));
}

/** Times one synchronous operation on its own. */
export async function measureSync(op: () => unknown, plan: RoundPlan): Promise<Measurement> {
  return (await interleave([syncContender('op', op)], plan)).get('op')!;
}

/** Times one asynchronous operation on its own (calls awaited one at a time). */
export async function measureAsync(op: () => Promise<unknown>, plan: RoundPlan): Promise<Measurement> {
  return (await interleave([asyncContender('op', op)], plan)).get('op')!;
}

/** Rounds a figure for the JSON output: 3 significant decimals below 10, else 1 decimal. */
export function tidy(x: number): number {
  if (!Number.isFinite(x)) return x;
  return Math.abs(x) < 10 ? Math.round(x * 1000) / 1000 : Math.round(x * 10) / 10;
}
