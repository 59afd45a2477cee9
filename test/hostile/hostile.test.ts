// The hostile-broker test at CI size: at least 10,000 attacks through a
// man in the middle in front of a real Mosquitto, honest traffic alongside
// (test/hostile/scenario.ts has the whole story). HOSTILE_LONG=1 runs the
// long size (>= 100,000 attacks); HOSTILE_SEED replays a schedule. The same
// run with a table and --json: `npx tsx scripts/hostile.ts [--long] [--json]`.
import { expect, it } from 'vitest';
import { formatResult, runHostile } from './scenario.js';

const LONG = process.env.HOSTILE_LONG === '1';
const SEED = process.env.HOSTILE_SEED === undefined ? undefined : Number(process.env.HOSTILE_SEED);
const ATTACKS = LONG ? 100_000 : 10_000;
const HONEST = LONG ? 5_000 : 1_000;

it(`rejects ${ATTACKS.toLocaleString('en')} attacks from a hostile broker, delivers every honest message exactly once, keeps serving`, { timeout: LONG ? 1_800_000 : 240_000 }, async () => {
  const result = await runHostile({ attacks: ATTACKS, honest: HONEST, ...(SEED === undefined ? {} : { seed: SEED }) });
  console.log(formatResult(result));
  expect(result.attacks).toBeGreaterThanOrEqual(ATTACKS);
  expect(result.accepted, 'attacks accepted').toBe(0);
  expect(result.mismatches, 'outcomes different from the expected reason code').toBe(0);
  expect(result.unprocessedAttacks, 'attacks written but never processed').toBe(0);
  expect(result.timerRejections.observed).toBeGreaterThanOrEqual(result.timerRejections.expected);
  expect(result.timerRejections.observed).toBeLessThanOrEqual(result.timerRejections.expected + result.timerRejections.uncertain);
  expect(result.honestLost, 'honest messages lost').toBe(0);
  expect(result.honestDuplicated, 'honest messages delivered twice').toBe(0);
  expect(result.honestAltered, 'altered or unexpected deliveries').toBe(0);
  expect(result.honestDelivered).toBe(result.honestExpected);
  expect(result.errors).toEqual([]);
  expect(Object.values(result.connected).every(Boolean), JSON.stringify(result.connected)).toBe(true);
});
