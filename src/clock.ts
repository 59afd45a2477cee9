// Wall-clock time, injectable. Replay protection compares message timestamps
// with "now"; tests and simulations pass their own clock instead of patching
// Date.

/** Milliseconds since the Unix epoch (like Date.now()). */
export type Clock = () => number;

/** The host's wall clock. It can jump (NTP, manual changes); callers that need order keep their own maximum. */
export const systemClock: Clock = () => Date.now();

/**
 * Checks a clock reading (ms since the epoch) passed in by a caller. NaN would
 * make every window comparison false, i.e. let an expired certificate through.
 */
export function checkNow(now: unknown, what = 'now'): number {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new TypeError(`${what} must be a finite number of milliseconds, got ${String(now)}`);
  return now;
}
