// The amortised-mode run's verdict: nothing but honest messages delivered
// (topic, payload, sender, sequence number and epoch exactly as published),
// none twice, none whose manifest was dropped; every honest message after the
// warm-up delivered unless the broker dropped it or its manifest on purpose;
// attacks the proxy wrote that no subscriber processed; held messages never
// settled; the accounting's tally; whether every client is still connected.

import { honestDeliveryCounts, unprocessedAttacksOn } from '../harness.js';
import { hashOf } from '../oracle.js';
import { SUBS } from './fleet.js';
import type { AmortisedRun } from './phases.js';
import type { AmortisedHostileResult, Honest } from './types.js';

export function verdict(
  run: AmortisedRun,
  at: { readonly seed: number; readonly started: number; readonly phasesMs: Record<string, number>; readonly armedAt: number; readonly finalWanted: readonly Honest[] },
): AmortisedHostileResult {
  const { fleet, atk, ledger, accounting, clients } = run;
  const { honest, lostOnPurpose } = ledger;
  const { tally } = accounting;
  const sample = (line: string): void => accounting.sample(line);
  let honestExpected = 0;
  let honestDelivered = 0;
  let honestDuplicated = 0;
  let forgedDeliveries = 0;
  let deliveredWithoutManifest = 0;
  for (const id of SUBS) {
    const got = honestDeliveryCounts(
      ledger.deliveredPayloads.get(id)!,
      honest,
      (h, d) => h.topic === d.topic && h.sender === d.sender && h.seq === d.seq && h.epoch === d.epoch && hashOf(h.payload) === hashOf(d.payload),
      (d, text) => {
        forgedDeliveries++;
        sample(`FORGED or altered delivery to ${id} on ${d.topic} from ${d.sender} seq ${d.seq}: ${text.slice(0, 60)}`);
      },
    );
    for (const h of honest) {
      if (!h.afterArming) continue;
      const n = got.get(h.id) ?? 0;
      if (n > 1) {
        honestDuplicated += n - 1;
        sample(`DUPLICATED honest ${h.id} for ${id}: ${n} times`);
      }
      if (ledger.droppedFor.get(id)!.has(h.id)) {
        lostOnPurpose['message dropped'] = (lostOnPurpose['message dropped'] ?? 0) + 1;
        if (n > 0) sample(`dropped honest ${h.id} reached ${id} anyway`);
        continue;
      }
      const key = h.seq === undefined ? undefined : `${h.topic}|${h.seq}`;
      if (key !== undefined && ledger.manifestLostFor.get(id)!.get(key) === 'manifest dropped') {
        // Its manifest never reached this subscriber: it must never be delivered (its loss was counted when the timer rejected it).
        if (n > 0) {
          deliveredWithoutManifest++;
          sample(`honest ${h.id} delivered to ${id} although its manifest was dropped`);
        }
        continue;
      }
      if (n === 0 && key !== undefined && ledger.manifestLostFor.get(id)!.has(key)) continue; // counted when the timer rejected it
      honestExpected++;
      if (n > 0) honestDelivered++;
      else {
        ledger.lostUnexplained++;
        sample(`LOST honest ${h.id} (${h.sender} on ${h.topic}, seq ${h.seq}) for ${id}`);
      }
    }
  }
  let unprocessedAttacks = 0;
  for (const c of atk.proxy.connections) if (atk.subOf(c.id)) unprocessedAttacks += unprocessedAttacksOn(c);
  for (const o of clients.observers.values()) if (o.arrivals.length) unprocessedAttacks += o.arrivals.length;
  const unsettledHeld = SUBS.reduce((n, id) => n + fleet.models.get(id)!.heldItems().length, 0);
  const connected: Record<string, boolean> = {};
  for (const [id, c] of clients.clients) connected[id] = c.connected;
  return {
    seed: at.seed,
    attacks: tally.attacks,
    ...tally.report(),
    mismatches: accounting.mismatches,
    outOfSet: accounting.outOfSet,
    timerMismatches: accounting.timerMismatches,
    unprocessedAttacks,
    unsettledHeld,
    honestSent: honest.length - at.armedAt,
    honestExpected,
    honestDelivered,
    honestLostOnPurpose: lostOnPurpose,
    honestLostUnexplained: ledger.lostUnexplained,
    honestDuplicated,
    forgedDeliveries,
    deliveredWithoutManifest,
    outOfOrderReleases: accounting.outOfOrderReleases,
    timerRejections: accounting.timerRejections,
    errors: accounting.errors,
    connected,
    served: at.finalWanted.length === 10,
    phasesMs: at.phasesMs,
    durationMs: Date.now() - at.started,
  };
}
