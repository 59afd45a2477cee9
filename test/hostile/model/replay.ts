// The model's replay checks, in the client's order: the replay window's
// verdict on the sequence number first, then the timestamp against the clock
// skew and the maximum age; retained messages by the retained session's
// policy (a longer maximum age, once per session).

import type { Outcome } from '../oracle.js';
import { near, restartRule, type ClientState, type CloseCall } from './state.js';

/** The window's sequence verdict first, then the timestamp against the clock skew and `maxAgeMs`. */
export function sequenceThenTime(cs: ClientState, id: string, seq: number, ts: number, now: number, close: CloseCall, maxAgeMs: number): Outcome | undefined {
  const w = cs.windows.get(id);
  if (w) {
    const v = w.check(seq);
    if (v === 'duplicate') return 'DUPLICATE';
    if (v === 'replay') return 'REPLAY';
  }
  near(cs, ts, now + cs.cfg.clockSkewMs, close, 'FROM_FUTURE');
  if (ts > now + cs.cfg.clockSkewMs) return 'FROM_FUTURE';
  near(cs, ts, now - maxAgeMs, close, 'TOO_OLD');
  if (ts < now - maxAgeMs) return 'TOO_OLD';
  return undefined;
}

/** ReplayGuard.check (live): sequence first, then time, then the restart rule (memory-only state). */
export function liveCheck(cs: ClientState, id: string, seq: number, ts: number, now: number, close: CloseCall): Outcome | undefined {
  return sequenceThenTime(cs, id, seq, ts, now, close, cs.cfg.maxAgeMs) ?? restartRule(cs, cs.replaySince, ts, now, close);
}

/** RetainedSession.check: the live window's sequence verdict, the retained time policy, once per session. */
export function retainedCheck(cs: ClientState, id: string, seq: number, ts: number, now: number, close: CloseCall): Outcome | undefined {
  const verdict = sequenceThenTime(cs, id, seq, ts, now, close, cs.cfg.retainedMaxAgeMs);
  if (verdict !== undefined) return verdict;
  if (cs.retainedSeen.has(`${id}#${seq}`)) return 'DUPLICATE';
  return undefined;
}

export function groupCheck(cs: ClientState, id: string, seq: number, ts: number, retained: boolean, now: number, close: CloseCall): Outcome | undefined {
  if (retained) return retainedCheck(cs, id, seq, ts, now, close);
  if (cs.retainedSeen.has(`${id}#${seq}`)) return 'DUPLICATE';
  return liveCheck(cs, id, seq, ts, now, close);
}
