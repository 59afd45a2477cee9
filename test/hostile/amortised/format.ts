// The amortised-mode run's result as a table: attacks by kind and how they
// ended, the reason codes, honest traffic and what the broker did to it, the
// hold timer's rejections.

import { byFrequency, findingLines, kindTable, listed } from '../harness.js';
import type { AmortisedHostileResult } from './types.js';

/** The result as a table: attacks by kind and how they ended. */
export function formatAmortisedResult(r: AmortisedHostileResult): string {
  const widths = { attacks: 8, rejected: 9, later: 7, dup: 6, 'no-op': 7, accepted: 9, mismatch: 9 };
  // An outcome outside its kind's set counts as a mismatch: the oracle broke the promise made for the kind.
  const lines = kindTable(r.byKind, 32, widths, (row) => [row.attacks, row.rejected, row.rejectedLater, row.duplicates, row.ignored, row.accepted, row.mismatches + row.outOfSet]);
  lines.push('("later": held for a manifest, then BAD_SIGNATURE from a manifest listing another digest or from the hold timer, or TOO_LARGE from the hold bounds)');
  lines.push('');
  lines.push(`reason codes: ${byFrequency(r.byCode)}`);
  lines.push(
    `honest (after warm-up): ${r.honestSent} published, ${r.honestExpected} deliveries expected, ${r.honestDelivered} delivered, duplicated ${r.honestDuplicated}, ` +
      `lost on purpose: ${listed(r.honestLostOnPurpose) || 'none'}; unexplained losses ${r.honestLostUnexplained}; forged or altered deliveries ${r.forgedDeliveries}; delivered without their manifest ${r.deliveredWithoutManifest}`,
  );
  lines.push(`broker actions on honest traffic: ${listed(r.brokerActions)}`);
  lines.push(
    `hold-timer rejections ${r.timerRejections} (timer runs unlike the model: ${r.timerMismatches}); mismatches ${r.mismatches}; outcomes outside their kind's set ${r.outOfSet}; ` +
      `releases out of sequence order ${r.outOfOrderReleases}; unprocessed attacks ${r.unprocessedAttacks}; held and never settled ${r.unsettledHeld}; errors ${r.errors.length}`,
  );
  lines.push(`connected: ${listed(r.connected)}; served a final round: ${r.served}; phases (ms): ${listed(r.phasesMs)}; total ${r.durationMs} ms; seed ${r.seed}`);
  lines.push(...findingLines(r.samples, r.errors));
  return lines.join('\n');
}
