// What one packet does to a client's stats() (deliveries, silent
// duplicates, rejections by reason code), what the model predicts it must
// do, and how a prediction is matched with what the client did (a close
// call may go either way).

import type { ReasonCode } from '../../../src/errors.js';
import type { Outcome } from '../oracle.js';

/** What one packet changes in a client's stats(): deliveries, silent duplicates, reported rejections. */
export interface Delta {
  delivered: number;
  duplicates: number;
  rejected: Partial<Record<ReasonCode, number>>;
}

export interface Prediction {
  /** What this packet itself comes to. */
  readonly outcome: Outcome;
  /** Everything it changes in stats() (held messages released by a grant included). */
  readonly delta: Delta;
  /** Another outcome that is also right (a time check within a few ms of its bound). */
  readonly alternative?: Outcome;
}

export const emptyDelta = (): Delta => ({ delivered: 0, duplicates: 0, rejected: {} });

export function addOutcome(d: Delta, o: Outcome): Delta {
  if (o === 'deliver') d.delivered++;
  else if (o === 'duplicate') d.duplicates++;
  else if (o !== 'none' && o !== 'held' && o !== 'await') d.rejected[o] = (d.rejected[o] ?? 0) + 1;
  return d;
}

export function sameDelta(a: Delta, b: Delta): boolean {
  if (a.delivered !== b.delivered || a.duplicates !== b.duplicates) return false;
  const keys = new Set([...Object.keys(a.rejected), ...Object.keys(b.rejected)]) as Set<ReasonCode>;
  for (const k of keys) if ((a.rejected[k] ?? 0) !== (b.rejected[k] ?? 0)) return false;
  return true;
}

/** The delta of a prediction with its outcome replaced by `alt`. */
export function alternativeDelta(d: Delta, outcome: Outcome, alt: Outcome): Delta {
  const out: Delta = { delivered: d.delivered, duplicates: d.duplicates, rejected: { ...d.rejected } };
  if (outcome === 'deliver') out.delivered--;
  else if (outcome === 'duplicate') out.duplicates--;
  else if (isRejection(outcome)) out.rejected[outcome] = (out.rejected[outcome] ?? 0) - 1;
  return addOutcome(out, alt);
}

/** True if what the client did is what the prediction says (or its alternative, for a close call). */
export function matches(p: Prediction, observed: Delta): boolean {
  if (sameDelta(p.delta, observed)) return true;
  return p.alternative !== undefined && sameDelta(alternativeDelta(p.delta, p.outcome, p.alternative), observed);
}

export function formatDelta(d: Delta): string {
  const parts: string[] = [];
  if (d.delivered) parts.push(`delivered ${d.delivered}`);
  if (d.duplicates) parts.push(`duplicates ${d.duplicates}`);
  for (const [k, v] of Object.entries(d.rejected)) if (v) parts.push(`${k} ${v}`);
  return parts.length ? parts.join(', ') : 'nothing';
}

const REJECTION = new Set<string>([
  'MALFORMED',
  'UNSUPPORTED_VERSION',
  'BAD_SIGNATURE',
  'DECRYPT_FAILED',
  'REPLAY',
  'DUPLICATE',
  'TOO_OLD',
  'FROM_FUTURE',
  'TOPIC_MISMATCH',
  'UNKNOWN_SENDER',
  'UNKNOWN_EPOCH',
  'STALE_EPOCH',
  'REVOKED',
  'EXPIRED',
  'NOT_AUTHORISED',
  'TOO_LARGE',
  'ROLLBACK',
  'WRONG_RECIPIENT',
]);
export const isRejection = (o: string): o is ReasonCode => REJECTION.has(o);
