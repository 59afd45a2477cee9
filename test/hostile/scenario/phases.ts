// The phases of the signed-mode run after the warm-up: the main phase (the
// honest stream under attack, with sub-1 restarted halfway on its storage and
// revocation list 2 published at 60 %), a key rotation whose old epoch is
// then replayed, the drain (messages from unknown senders are reported by the
// clients' timers 30 s after they arrived), and a final honest round that
// shows every client still serving.

import { sleep } from '../harness.js';
import { CH1, T1_RETAINED } from '../plant.js';
import type { Accounting } from './accounting.js';
import type { Attacker } from './attacker.js';
import type { HostileClients } from './clients.js';
import { SUB1_GRACE_MS, type Fleet } from './fleet.js';
import type { HonestLedger } from './honest.js';
import { until, type Publishing } from './publishing.js';
import type { HostileOptions } from './types.js';

/** Everything a phase works with. */
export interface HostileRun {
  readonly options: HostileOptions;
  readonly fleet: Fleet;
  readonly atk: Attacker;
  readonly ledger: HonestLedger;
  readonly accounting: Accounting;
  readonly clients: HostileClients;
  readonly traffic: Publishing;
  readonly log: (line: string) => void;
  readonly phase: (name: string) => void;
}

export async function mainPhase(run: HostileRun): Promise<void> {
  const { options, fleet, atk, accounting, clients, traffic, log, phase } = run;
  const { models } = fleet;
  const { attackTarget, honestTarget, prepared } = atk;
  const { pub, pubB } = traffic;
  const s2 = clients.clients.get('sub-2')!;
  atk.attacking = true;
  atk.attackStart = Date.now();
  const half = Math.floor(honestTarget / 2);
  const mainDeadline = Date.now() + Math.max(120_000, attackTarget * 12);
  const mainDone = (): boolean =>
    (traffic.sent >= honestTarget && atk.injected >= attackTarget && prepared.length === 0 && !atk.preparedBusy) || Date.now() > mainDeadline;
  let restartDone = !(options.restart ?? true);
  let listTwoDone = false;
  const progress = setInterval(() => log(`  sent ${traffic.sent} honest, injected ${atk.injected} attacks, processed ${accounting.processed}, backlog ${traffic.backlog()}`), 5_000);
  try {
    while (!mainDone()) {
      await traffic.publishUntil(() => mainDone() || (!restartDone && traffic.sent >= half) || (!listTwoDone && traffic.sent >= honestTarget * 0.6));
      if (!restartDone && traffic.sent >= half) {
        // ---- subscriber restart: sub-1 ends, messages queue at the broker, a new client opens its storage.
        await traffic.quiesce('restart');
        const s1old = clients.clients.get('sub-1')!;
        await s1old.endAsync();
        const endedAt = Date.now();
        for (const o of clients.observers) if (o.client === s1old) o.stop();
        traffic.gateOpen = true;
        await traffic.publishUntil(() => traffic.sent >= half + 25);
        traffic.gateOpen = false;
        models.get('sub-1')!.restart(endedAt);
        atk.instance.set('sub-1', 2);
        const s1new = await clients.open('sub-1');
        await s1new.subscribeAsync(['plant/#', 'cmd/sub-1'], { qos: 1 });
        await until(() => models.get('sub-1')!.needsKeys === 0 && models.get('sub-1')!.epochsOf('pub-1', CH1).length > 0, 'the restarted subscriber to get its keys again', 30_000);
        await until(traffic.caughtUp, 'the restarted subscriber to catch up', 30_000);
        restartDone = true;
        atk.attacking = true;
        traffic.gateOpen = true;
        phase('main (first half) + restart');
      }
      if (!listTwoDone && traffic.sent >= honestTarget * 0.6) {
        await clients.publishList(2, [
          { kind: 'subject', subject: 'rogue-1' },
          { kind: 'serial', subject: 'ghost-1', serial: 7 },
        ]);
        listTwoDone = true;
        void until(() => [pub, pubB, clients.clients.get('sub-1')!, s2].every((c) => c.trustStore?.revocationListNumber === 2), 'list 2', 20_000).then(
          () => {
            atk.list2 = true;
          },
          () => undefined,
        );
      }
      if (!mainDone() && traffic.sent >= honestTarget) {
        // Attacks still short of the target (or re-signed ones waiting for their moment): keep the honest stream going.
        await traffic.publishUntil(() => mainDone() || traffic.sent % 50 === 0);
        await sleep(20);
      }
    }
  } finally {
    clearInterval(progress);
  }
  if (Date.now() > mainDeadline) log(`main phase stopped at its deadline: ${atk.injected} attacks, ${prepared.length} re-signed ones not sent`);
  await traffic.quiesce('main phase end');
  phase('main');
}

/** pub-1 rotates CH1; once sub-1's grace for the old epoch is over, its messages are replayed to both subscribers (STALE_EPOCH). */
export async function rotationPhase(run: HostileRun): Promise<void> {
  const { fleet, atk, traffic, phase } = run;
  const { models } = fleet;
  const oldEpochs = models.get('sub-1')!.epochsOf('pub-1', CH1);
  await traffic.pub.keyManager!.rotate(CH1);
  traffic.gateOpen = true;
  const before = traffic.sent;
  await traffic.publishUntil(() => traffic.sent >= before + 12);
  await traffic.quiesce('rotation');
  await until(() => models.get('sub-1')!.epochsOf('pub-1', CH1).some((e) => !oldEpochs.includes(e)), 'sub-1 to get the new epoch', 20_000);
  await sleep(SUB1_GRACE_MS + 1_500);
  for (const me of ['sub-1', 'sub-2']) {
    const old = atk.groupPool.get(me)!.items.filter((x) => oldEpochs.includes(x.epoch) && x.topic !== T1_RETAINED);
    for (let i = 0; i < Math.min(60, old.length); i++) {
      const item = atk.rng.pick(old);
      atk.inject(me, 'replay-old-epoch', item.topic, item.payload, { qos: 1 });
    }
  }
  await traffic.quiesce('rotation replays');
  phase('rotation');
}

/** Messages from unknown senders the models expect the clients' timers to have reported. */
export const timerExpected = (run: HostileRun): number => [...run.fleet.models.values()].reduce((s, m) => s + m.expiredAwaiting, 0);
/** Those that may or may not have been reported before sub-1's restart. */
export const timerUncertain = (run: HostileRun): number => [...run.fleet.models.values()].reduce((s, m) => s + m.uncertainExpired, 0);
/** Those the clients' timers did report. */
export const timerObserved = (run: HostileRun): number => run.clients.observers.reduce((s, o) => s + o.timerEvents, 0);

/** Messages from unknown senders waited for a certificate; the client reports them 30 s later. */
export async function drainPhase(run: HostileRun): Promise<void> {
  const { models } = run.fleet;
  await until(
    () => {
      for (const m of models.values()) m.expireAwaiting(Date.now() - 2_500);
      return [...models.values()].every((m) => m.awaiting === 0) && timerObserved(run) >= timerExpected(run);
    },
    'messages from unknown senders to be reported',
    45_000,
  );
  await sleep(1_200);
  run.phase('drain');
}

/** Still serving: ten more honest messages, delivered to every subscriber that must have them. */
export async function finalPhase(run: HostileRun): Promise<void> {
  const { ledger, clients, traffic } = run;
  traffic.gateOpen = true;
  const finalFrom = traffic.sent;
  await traffic.publishUntil(() => traffic.sent >= finalFrom + 10);
  await until(() => ['sub-1', 'sub-2'].every((id) => clients.deliveredBy(id) >= ledger.expectedFor(id).length), 'the final honest messages', 30_000).catch(() => undefined);
  await traffic.quiesce('final');
  run.phase('final');
}
