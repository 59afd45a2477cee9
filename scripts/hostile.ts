// The hostile-broker run outside vitest, with a table and an exit code:
//
//   npx tsx scripts/hostile.ts                # CI size: >= 10,000 attacks (about a minute)
//   npx tsx scripts/hostile.ts --long         # >= 100,000 attacks (or HOSTILE_LONG=1), then every
//                                             # parser's property tests at 1,000,000 runs (test/fuzz)
//   npx tsx scripts/hostile.ts --json         # one JSON object on the last line
//   npx tsx scripts/hostile.ts --seed 42 --attacks 20000 --honest 2000
//
// Exit code 0 when every attack was rejected with the expected outcome and
// every honest message was delivered exactly once; 1 otherwise. Needs
// mosquitto (see README.md). Scenario: test/hostile/scenario.ts.
import { spawnSync } from 'node:child_process';
import { formatResult, runHostile, type HostileResult } from '../test/hostile/scenario.js';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(name);
const value = (name: string): number | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name} needs a non-negative integer, got ${args[i + 1]}`);
  return v;
};

const long = flag('--long') || process.env.HOSTILE_LONG === '1';
const json = flag('--json');
const attacks = value('--attacks') ?? (long ? 100_000 : 10_000);
const honest = value('--honest') ?? (long ? 5_000 : 1_000);
const seed = value('--seed') ?? (process.env.HOSTILE_SEED === undefined ? undefined : Number(process.env.HOSTILE_SEED));

const timerOk = (r: HostileResult): boolean =>
  r.timerRejections.observed >= r.timerRejections.expected && r.timerRejections.observed <= r.timerRejections.expected + r.timerRejections.uncertain;

function passed(r: HostileResult): boolean {
  return (
    r.attacks >= attacks &&
    r.accepted === 0 &&
    r.mismatches === 0 &&
    r.unprocessedAttacks === 0 &&
    timerOk(r) &&
    r.honestLost === 0 &&
    r.honestDuplicated === 0 &&
    r.honestAltered === 0 &&
    r.honestDelivered === r.honestExpected &&
    r.errors.length === 0 &&
    Object.values(r.connected).every(Boolean)
  );
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const result = await runHostile({ attacks, honest, ...(seed === undefined ? {} : { seed }), log });
let ok = passed(result);
if (long) {
  // Bad input everywhere, at the long size: the fast-check suites of every parser with a million runs each.
  log('hostile --long: property tests of every parser, FUZZ_RUNS=1000000 (test/fuzz)');
  const fuzz = spawnSync('npx', ['vitest', 'run', 'test/fuzz'], { stdio: ['ignore', json ? 2 : 'inherit', 'inherit'], env: { ...process.env, FUZZ_RUNS: '1000000' } });
  if (fuzz.status !== 0) ok = false;
}
if (json) {
  process.stderr.write(`${formatResult(result)}\n`);
  const byKind = Object.fromEntries(
    Object.entries(result.byKind).map(([k, r]) => [k, { attacks: r.attacks, rejected: r.rejected, duplicates: r.duplicates, ignored: r.ignored, awaited: r.awaited, accepted: r.accepted, mismatches: r.mismatches, expected: r.expected }]),
  );
  process.stdout.write(
    `${JSON.stringify({
      ok,
      date: new Date().toISOString(),
      seed: result.seed,
      attacks: result.attacks,
      accepted: result.accepted,
      mismatches: result.mismatches,
      honestSent: result.honestSent,
      honestExpected: result.honestExpected,
      honestDelivered: result.honestDelivered,
      honestLost: result.honestLost,
      honestDuplicated: result.honestDuplicated,
      honestAltered: result.honestAltered,
      droppedByBroker: result.droppedByBroker,
      brokerActions: result.brokerActions,
      unprocessedAttacks: result.unprocessedAttacks,
      timerRejections: result.timerRejections,
      closeCalls: result.closeCalls,
      maxLagMs: result.maxLagMs,
      errors: result.errors.length,
      connected: result.connected,
      byCode: result.byCode,
      byKind,
      phasesMs: result.phasesMs,
      durationMs: result.durationMs,
    })}\n`,
  );
} else {
  process.stdout.write(`${formatResult(result)}\n${ok ? 'PASS' : 'FAIL'}\n`);
}
process.exit(ok ? 0 : 1);
