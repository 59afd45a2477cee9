// The phases of the amortised-mode run after the warm-up: the main phase
// (the honest stream under attack), a key rotation whose old epoch's
// messages and manifests are then replayed, the drain (held forgeries and
// messages whose manifest never came are rejected by the hold timer), and a
// final honest round that shows every subscriber still serving.

import { sleep } from '../harness.js';
import { hashOf } from '../oracle.js';
import { CH1 } from '../plant.js';
import type { Accounting } from './accounting.js';
import type { Attacker } from './attacker.js';
import type { AmortisedClients } from './clients.js';
import { GRACE_MS, HOLD_MS, SUBS, type Fleet } from './fleet.js';
import type { HonestLedger } from './ledger.js';
import { until, type Publishing } from './publishing.js';
import type { Honest } from './types.js';

/** Everything a phase works with. */
export interface AmortisedRun {
  readonly fleet: Fleet;
  readonly atk: Attacker;
  readonly ledger: HonestLedger;
  readonly accounting: Accounting;
  readonly clients: AmortisedClients;
  readonly traffic: Publishing;
  readonly log: (line: string) => void;
  readonly phase: (name: string) => void;
}

/** Returns how many honest messages were published before it (the warm-up's, left out of the honest count). */
export async function mainPhase(run: AmortisedRun): Promise<number> {
  const { atk, ledger, traffic, log, phase } = run;
  const { honest } = ledger;
  atk.attacking = true;
  const armedAt = honest.length;
  const deadline = Date.now() + 90_000;
  await traffic.publishUntil(() => (honest.length - armedAt >= atk.honestTarget && atk.injected >= atk.attackTarget) || Date.now() > deadline);
  if (Date.now() > deadline) log(`main phase stopped at its deadline: ${atk.injected} attacks`);
  await traffic.quiesce('main');
  phase('main');
  return armedAt;
}

/** pub-1 rotates CH1; past the subscribers' grace, its old epoch's messages and manifests are replayed. */
export async function rotationPhase(run: AmortisedRun): Promise<void> {
  const { fleet, atk, ledger, traffic, phase } = run;
  const { models } = fleet;
  const { rng } = atk;
  const oldEpoch = models.get('sub-1')!.epochsOf('pub-1', CH1);
  await traffic.pub1.keyManager!.rotate(CH1);
  const before = ledger.honest.length;
  await traffic.publishUntil(() => ledger.honest.length >= before + 30);
  await traffic.quiesce('rotation');
  await until(() => SUBS.every((id) => models.get(id)!.epochsOf('pub-1', CH1).some((e) => !oldEpoch.includes(e))), 'the subscribers to get the new epoch', 20_000);
  await sleep(GRACE_MS + 1_200); // past the subscribers' grace period for the old epoch (the oracle decides, not this wait)
  for (const me of SUBS) {
    const env = atk.envPool.get(me)!.items.filter((x) => x.sender === 'pub-1' && oldEpoch.includes(x.epoch) && atk.delivered(me, x));
    const man = atk.manifestPool.get(me)!.items.filter((x) => x.sender === 'pub-1' && oldEpoch.includes(x.epoch));
    for (let i = 0; i < Math.min(40, env.length); i++) {
      const item = rng.pick(env);
      atk.inject(me, 'replay-old-epoch', item.topic, item.payload, { qos: 1 });
    }
    for (let i = 0; i < Math.min(10, man.length); i++) {
      const item = rng.pick(man);
      atk.inject(me, 'manifest-replay-old-epoch', item.topic, item.payload, { qos: 1 });
    }
  }
  await traffic.quiesce('rotation replays');
  phase('rotation');
}

/** Held forgeries and messages whose manifest never came are rejected by the hold timer. */
export async function drainPhase(run: AmortisedRun): Promise<void> {
  const { models } = run.fleet;
  await until(() => SUBS.every((id) => models.get(id)!.heldCount === 0), 'every held message to be settled', HOLD_MS + 10_000);
  await sleep(300); // the timer's security events are emitted right after expireAmortised returns
  run.phase('drain');
}

/** Still serving: ten more honest messages, delivered to both subscribers. Returns them. */
export async function finalPhase(run: AmortisedRun): Promise<Honest[]> {
  const { ledger, accounting, clients, traffic } = run;
  const { honest } = ledger;
  const finalFrom = honest.length;
  await traffic.publishUntil(() => honest.length >= finalFrom + 10);
  const finalWanted = honest.slice(finalFrom);
  await until(
    () => SUBS.every((id) => finalWanted.every((h) => ledger.deliveredPayloads.get(id)!.some((d) => hashOf(d.payload) === hashOf(h.payload)))),
    'the final honest messages',
    30_000,
  ).catch((err: unknown) => accounting.errors.push(String(err)));
  await traffic.quiesce('final');
  clients.finish();
  run.phase('final');
  return finalWanted;
}
