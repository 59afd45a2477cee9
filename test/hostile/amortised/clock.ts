// The subscribers' clock in the amortised-mode run (options.clock), shared
// with their models: the client and the observer read it for the same packet
// in the same synchronous run, so time checks near a bound cannot disagree.

/** One value per synchronous run: the model and the client read the same `now` for the same packet (see amortised-model.ts). */
let tickNow: number | undefined;
export function tickClock(): number {
  if (tickNow === undefined) {
    tickNow = Date.now();
    queueMicrotask(() => {
      tickNow = undefined;
    });
  }
  return tickNow;
}
