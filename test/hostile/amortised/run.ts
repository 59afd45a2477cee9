// The amortised-mode hostile-broker run from start to verdict: the test bed,
// the fleet and the subscribers' models, the hostile broker's hooks, the
// clients; the warm-up (keys flow: the first batch of each channel is lost
// to UNKNOWN_EPOCH, its manifest asks for the key; nothing hostile yet, and
// mismatches are not counted until it is over), the phases (phases.ts), the
// verdict. The story is told in ../amortised-scenario.ts.

import { phaseTimer, runSettings, startTestbed } from '../harness.js';
import { Accounting } from './accounting.js';
import { Attacker } from './attacker.js';
import { installBroker } from './broker.js';
import { AmortisedClients, publisherOptions, subscriberOptions } from './clients.js';
import { SUBS, createFleet } from './fleet.js';
import { HonestLedger } from './ledger.js';
import { drainPhase, finalPhase, mainPhase, rotationPhase, type AmortisedRun } from './phases.js';
import { Publishing, until } from './publishing.js';
import type { AmortisedHostileOptions, AmortisedHostileResult } from './types.js';
import { verdict } from './verdict.js';

export async function runAmortisedHostile(options: AmortisedHostileOptions = {}): Promise<AmortisedHostileResult> {
  const started = Date.now();
  const { seed, attackTarget, honestTarget, log, rng } = runSettings(options, { seed: 20261126, attacks: 3_000, honest: 1_200 });
  const { phasesMs, phase } = phaseTimer(log);
  const testbed = await startTestbed();
  const { proxy } = testbed;
  let opened: AmortisedClients | undefined; // ended in `finally`, whatever happened
  try {
    const fleet = await createFleet();
    const ledger = new HonestLedger();
    const accounting = new Accounting(ledger);
    const atk = new Attacker(fleet, proxy, rng, accounting.tally, ledger, attackTarget, honestTarget);
    installBroker(atk);
    const clients = new AmortisedClients({ proxy, fleet, accounting, insiderKeys: atk.insiderKeys });
    opened = clients;

    // ------------------------------------------------------------ setup
    const publishers = publisherOptions();
    const pub1 = await clients.open('pub-1', publishers);
    const pub2 = await clients.open('pub-2', publishers);
    const subscribers = subscriberOptions();
    const s1 = await clients.open('sub-1', subscribers);
    const s2 = await clients.open('sub-2', subscribers);
    await s1.subscribeAsync('plant/#', { qos: 1 });
    await s2.subscribeAsync('plant/#', { qos: 0 });
    phase('setup');

    // ------------------------------------------------------------ warm-up
    const traffic = new Publishing(atk, accounting, clients, pub1, pub2);
    const { models } = fleet;
    const deliveredFrom = (id: string, who: string): number => ledger.deliveredPayloads.get(id)!.filter((d) => d.sender === who).length;
    await traffic.publishUntil(() => SUBS.every((id) => deliveredFrom(id, 'pub-1') >= 10 && deliveredFrom(id, 'pub-2') >= 5) || ledger.honest.length > 2_000);
    await traffic.quiesce('warm-up');
    await until(() => SUBS.every((id) => models.get(id)!.heldCount === 0 && models.get(id)!.needsKeys === 0), 'warm-up: nothing held, no key needed', 20_000);
    for (const id of SUBS) {
      const c = clients.clients.get(id)!;
      if (c.keyManager!.needsKey().length) throw new Error(`${id} still needs keys after the warm-up`);
    }
    clients.finish();
    accounting.armed = true;
    phase('warm-up');

    // ------------------------------------------------------------ attacks, rotation, drain, still serving
    const run: AmortisedRun = { fleet, atk, ledger, accounting, clients, traffic, log, phase };
    const armedAt = await mainPhase(run);
    await rotationPhase(run);
    await drainPhase(run);
    const finalWanted = await finalPhase(run);
    return verdict(run, { seed, started, phasesMs, armedAt, finalWanted });
  } finally {
    await opened?.end();
    await testbed.close();
  }
}
