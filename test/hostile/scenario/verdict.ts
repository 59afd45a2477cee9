// The signed-mode run's verdict: every honest message each subscriber had to
// receive, counted as delivered, lost or duplicated (deliveries that are not
// exactly what was published are altered); attacks the proxy wrote that no
// client processed; the clients' errors and stray events; the accounting's
// tally; whether every client is still connected.

import { honestDeliveryCounts, unprocessedAttacksOn } from '../harness.js';
import { hashOf } from '../oracle.js';
import { identityOf } from './attacker.js';
import { timerExpected, timerObserved, timerUncertain, type HostileRun } from './phases.js';
import type { HostileResult } from './types.js';

export function verdict(run: HostileRun, at: { readonly seed: number; readonly started: number; readonly phasesMs: Record<string, number>; readonly preparedTotal: number }): HostileResult {
  const { fleet, atk, ledger, accounting, clients } = run;
  const { honest, droppedFor } = ledger;
  const { observers } = clients;
  const { tally } = accounting;
  const sample = (line: string): void => accounting.sample(line);
  let honestExpected = 0;
  let honestDelivered = 0;
  let honestLost = 0;
  let honestDuplicated = 0;
  let honestAltered = 0;
  for (const id of ['sub-1', 'sub-2']) {
    const want = ledger.expectedFor(id);
    honestExpected += want.length;
    const got = honestDeliveryCounts(
      observers.filter((x) => x.label === id).flatMap((o) => o.delivered),
      honest,
      (h, d) => h.topic === d.topic && h.sender === d.meta.sender && hashOf(h.payload) === hashOf(d.payload) && h.to.includes(id),
      (d, text) => {
        honestAltered++;
        sample(`ALTERED or unexpected delivery to ${id} on ${d.topic} from ${d.meta.sender}: ${text.slice(0, 60)}`);
      },
    );
    const lostBy = new Map<string, number>();
    for (const h of want) {
      const n = got.get(h.id) ?? 0;
      if (n === 0) {
        honestLost++;
        lostBy.set(h.topic, (lostBy.get(h.topic) ?? 0) + 1);
        if (lostBy.get(h.topic)! <= 3) sample(`LOST honest ${h.id} (${h.sender} on ${h.topic}) for ${id}`);
      } else honestDelivered++;
      if (n > 1) {
        honestDuplicated += n - 1;
        sample(`DUPLICATED honest ${h.id} for ${id}: ${n} times`);
      }
    }
    if (lostBy.size) sample(`lost for ${id} by topic: ${[...lostBy].map(([t, n]) => `${t} ${n}`).join(', ')}`);
    for (const dropped of droppedFor.get(id)!) if ((got.get(dropped) ?? 0) > 0) sample(`dropped honest ${dropped} reached ${id} anyway (a replay delivered it)`);
  }
  let unprocessedAttacks = 0;
  for (const id of ['pub-1', 'pub-2', 'sub-1', 'sub-2']) {
    for (let c = 1; c < 10_000; c++) {
      const conn = atk.proxy.connectionById(c);
      if (!conn) break;
      if (identityOf(conn) !== id) continue;
      unprocessedAttacks += unprocessedAttacksOn(conn);
    }
  }
  const errors = observers.flatMap((o) => [...o.errors, ...o.strayEvents.map((e) => `${o.label}: stray security event ${e.code}: ${e.message}`)]);
  const connected: Record<string, boolean> = {};
  const clientStats: Record<string, unknown> = {};
  for (const [id, c] of clients.clients) {
    connected[id] = c.connected;
    clientStats[id] = c.stats();
  }
  const closeCalls = [...fleet.models.values()].reduce((s, m) => s + m.closeCalls, 0);
  run.log(`prepared attacks: ${at.preparedTotal - atk.prepared.length} of ${at.preparedTotal} injected`);
  return {
    seed: at.seed,
    attacks: tally.attacks + atk.noise,
    ...tally.report(),
    mismatches: accounting.mismatches,
    honestSent: honest.length,
    honestExpected,
    honestDelivered,
    honestLost,
    honestDuplicated,
    honestAltered,
    droppedByBroker: [...droppedFor.values()].reduce((s, x) => s + x.size, 0),
    unprocessedAttacks,
    timerRejections: { expected: timerExpected(run), uncertain: timerUncertain(run), observed: timerObserved(run) },
    closeCalls,
    maxLagMs: accounting.maxLag,
    errors,
    connected,
    clientStats,
    phasesMs: at.phasesMs,
    durationMs: Date.now() - at.started,
  };
}
