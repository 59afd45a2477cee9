// The amortised mode (signed batch manifests) through the hostile broker, at
// CI size: at least 3,000 attacks through a man in the middle in front of a
// real Mosquitto, amortised traffic between real clients alongside
// (test/hostile/amortised-scenario.ts has the whole story, amortised-model.ts
// the oracle). AMORTISED_HOSTILE_SEED replays a schedule;
// AMORTISED_HOSTILE_ATTACKS / AMORTISED_HOSTILE_HONEST resize the run
// (AMORTISED_HOSTILE_LONG=1: 30,000 attacks, 8,000 honest messages).
import { expect, it } from 'vitest';
import { formatAmortisedResult, runAmortisedHostile } from './amortised-scenario.js';

const LONG = process.env.AMORTISED_HOSTILE_LONG === '1';
const num = (name: string): number | undefined => (process.env[name] === undefined ? undefined : Number(process.env[name]));
const SEED = num('AMORTISED_HOSTILE_SEED');
const ATTACKS = num('AMORTISED_HOSTILE_ATTACKS') ?? (LONG ? 30_000 : 3_000);
const HONEST = num('AMORTISED_HOSTILE_HONEST') ?? (LONG ? 8_000 : 1_200);

it(
  `amortised mode: rejects ${ATTACKS.toLocaleString('en')} attacks from a hostile broker and insiders, delivers honest messages exactly once, keeps serving`,
  { timeout: LONG ? 1_800_000 : 180_000 },
  async () => {
    const result = await runAmortisedHostile({ attacks: ATTACKS, honest: HONEST, ...(SEED === undefined ? {} : { seed: SEED }) });
    console.log(formatAmortisedResult(result));
    expect(result.attacks).toBeGreaterThanOrEqual(ATTACKS);
    expect(result.forgedDeliveries, 'forged, tampered, replayed or redirected deliveries').toBe(0);
    expect(result.deliveredWithoutManifest, 'honest messages delivered although their manifest was dropped').toBe(0);
    expect(result.accepted, 'attacks delivered or absorbed without an outcome').toBe(0);
    expect(result.mismatches, 'outcomes different from the oracle').toBe(0);
    expect(result.outOfSet, "outcomes outside their kind's set").toBe(0);
    expect(result.timerMismatches, 'hold-timer runs different from the oracle').toBe(0);
    expect(result.unprocessedAttacks, 'attacks written but never processed').toBe(0);
    expect(result.unsettledHeld, 'held messages never delivered or rejected').toBe(0);
    expect(result.honestLostUnexplained, 'honest messages lost without a deliberate drop').toBe(0);
    expect(result.honestDuplicated, 'honest messages delivered twice').toBe(0);
    expect(result.outOfOrderReleases, 'manifest releases out of sequence order').toBe(0);
    expect(result.honestDelivered).toBe(result.honestExpected);
    expect(result.honestExpected).toBeGreaterThan(HONEST);
    expect(result.errors).toEqual([]);
    expect(result.served).toBe(true);
    expect(Object.values(result.connected).every(Boolean), JSON.stringify(result.connected)).toBe(true);
  },
);
