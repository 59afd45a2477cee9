// The signed-mode hostile-broker run from start to verdict: the test bed,
// the fleet and its models, the hostile broker's hooks, the clients; setup
// (every client learns the others' certificates), the warm-up (keys flow,
// nothing hostile yet; then revocation list 1), the re-signed attacks queued,
// the phases (phases.ts), the verdict. The story is told in ../scenario.ts.

import { phaseTimer, runSettings, startTestbed } from '../harness.js';
import type { SecureMqttClient } from '../../../src/client/secure-client.js';
import { Accounting } from './accounting.js';
import { Attacker } from './attacker.js';
import { prepareResigned } from './attacks/resigned.js';
import { installBroker } from './broker.js';
import { HostileClients } from './clients.js';
import { createFleet } from './fleet.js';
import { HonestLedger } from './honest.js';
import { drainPhase, finalPhase, mainPhase, rotationPhase, type HostileRun } from './phases.js';
import { Publishing, until } from './publishing.js';
import type { HostileOptions, HostileResult } from './types.js';
import { verdict } from './verdict.js';

export async function runHostile(options: HostileOptions = {}): Promise<HostileResult> {
  const started = Date.now();
  const { seed, attackTarget, honestTarget, log, rng } = runSettings(options, { seed: 20261125, attacks: 10_000, honest: 1_000 });
  const { phasesMs, phase } = phaseTimer(log);
  const testbed = await startTestbed();
  const { broker, proxy } = testbed;
  let opened: HostileClients | undefined; // ended in `finally`, whatever happened
  try {
    const fleet = await createFleet();
    const accounting = new Accounting(log);
    const ledger = new HonestLedger();
    const atk = new Attacker(fleet, proxy, rng, accounting.tally, attackTarget, honestTarget);
    installBroker(atk, ledger);
    const clients = new HostileClients(fleet, atk, accounting.account);
    opened = clients;

    // ------------------------------------------------------------ setup
    // The CA's own channel: announcements of the two devices that never connect.
    await clients.connectCa(broker.url);
    await clients.announce(fleet.rogue);
    await clients.announce(fleet.temp);
    const pub = await clients.open('pub-1');
    const pubB = await clients.open('pub-2');
    const s1 = await clients.open('sub-1');
    const s2 = await clients.open('sub-2');
    await s1.subscribeAsync(['plant/#', 'cmd/sub-1'], { qos: 1 });
    await s2.subscribeAsync(['plant/#', 'cmd/sub-2'], { qos: 1 });
    const knows = (c: SecureMqttClient, ids: string[]): boolean => ids.every((i) => c.certificateOf(i) !== undefined);
    await until(() => knows(pub, ['sub-1', 'sub-2']) && knows(pubB, ['sub-1', 'sub-2']) && knows(s1, ['pub-1', 'pub-2']) && knows(s2, ['pub-1', 'pub-2']), 'every client to learn the others', 30_000);
    phase('setup');

    // ------------------------------------------------------------ warm-up
    // Keys flow (held messages, key requests, grants), nothing hostile yet.
    const traffic = new Publishing(ledger, atk, accounting, pub, pubB);
    const { honest } = ledger;
    await traffic.publishUntil(() => traffic.sent >= 20);
    await until(() => clients.deliveredBy('sub-1') >= honest.filter((h) => h.to.includes('sub-1')).length && clients.deliveredBy('sub-2') >= honest.filter((h) => h.to.includes('sub-2')).length, 'the warm-up messages', 30_000);
    await traffic.quiesce('warm-up');
    traffic.gateOpen = true;

    // Revocation list 1: rogue-1 is revoked.
    await clients.publishList(1, [{ kind: 'subject', subject: 'rogue-1' }]);
    await until(() => [pub, pubB, s1, s2].every((c) => c.trustStore?.revocationListNumber === 1), 'every client to apply revocation list 1', 20_000);
    atk.revoked = true;
    phase('warm-up');

    // The expensive attacks: freshly signed messages that fail a check other than the signature.
    await prepareResigned(atk, pub);
    const preparedTotal = atk.prepared.length;

    // ------------------------------------------------------------ attacks, rotation, drain, still serving
    const run: HostileRun = { options, fleet, atk, ledger, accounting, clients, traffic, log, phase };
    await mainPhase(run);
    if (options.rotation ?? true) await rotationPhase(run);
    await drainPhase(run);
    await finalPhase(run);
    return verdict(run, { seed, started, phasesMs, preparedTotal });
  } finally {
    await opened?.end();
    await testbed.close();
  }
}
