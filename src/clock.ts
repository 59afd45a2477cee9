// Wall-clock time, injectable. Replay protection compares message timestamps
// with "now"; tests and simulations pass their own clock instead of patching
// Date.

/** Milliseconds since the Unix epoch (like Date.now()). */
export type Clock = () => number;

/** The host's wall clock. It can jump (NTP, manual changes); callers that need order keep their own maximum. */
export const systemClock: Clock = () => Date.now();
