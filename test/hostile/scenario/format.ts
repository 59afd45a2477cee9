// The signed-mode run's result as a table: attacks by kind and how they
// ended, the reason codes reported, honest traffic, the timers' reports.

import { byFrequency, findingLines, kindTable, listed } from '../harness.js';
import type { HostileResult } from './types.js';

/** The result as a table: attacks by kind, how they ended, honest traffic. */
export function formatResult(r: HostileResult): string {
  const widths = { attacks: 9, rejected: 10, dup: 7, ignored: 9, awaited: 9, accepted: 10, mismatch: 10 };
  const lines = kindTable(r.byKind, 34, widths, (row) => [row.attacks, row.rejected, row.duplicates, row.ignored, row.awaited, row.accepted, row.mismatches]);
  lines.push('');
  lines.push(`reason codes reported: ${byFrequency(r.byCode)}`);
  lines.push(
    `honest: ${r.honestSent} sent, ${r.honestExpected} deliveries expected, ${r.honestDelivered} delivered, lost ${r.honestLost}, duplicated ${r.honestDuplicated}, altered ${r.honestAltered}; ` +
      `broker actions on honest traffic: ${listed(r.brokerActions)} (${r.droppedByBroker} deliveries dropped on purpose)`,
  );
  lines.push(
    `unknown-sender messages reported by the client's timer: ${r.timerRejections.observed} (expected ${r.timerRejections.expected}` +
      `${r.timerRejections.uncertain ? ` to ${r.timerRejections.expected + r.timerRejections.uncertain}` : ''}); ` +
      `mismatches ${r.mismatches}; close calls ${r.closeCalls}; max lag ${r.maxLagMs} ms; unprocessed attacks ${r.unprocessedAttacks}; errors ${r.errors.length}`,
  );
  lines.push(`connected: ${listed(r.connected)}; phases (ms): ${listed(r.phasesMs)}; total ${r.durationMs} ms`);
  lines.push(...findingLines(r.samples, r.errors));
  return lines.join('\n');
}
