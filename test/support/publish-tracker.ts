// Tracks every publish attempt of a stream test: message i may be sent more
// than once (a retry after a rejection); each attempt's payload is "i:n" and
// its outcome is recorded, so a test can check that every message was
// acknowledged at least once and delivered exactly once.

export interface PublishAttempt {
  readonly payload: string;
  state: 'pending' | 'resolved' | 'rejected';
  error?: unknown;
}

export class PublishTracker {
  /** Attempts per message number, in order. */
  readonly attempts = new Map<number, PublishAttempt[]>();
  #outstanding = 0;

  constructor(private readonly publish: (payload: string) => Promise<unknown>) {}

  /** Publishes attempt number n of message i without waiting; the outcome lands in `attempts`. */
  send(i: number): void {
    const list = this.attempts.get(i) ?? [];
    this.attempts.set(i, list);
    const a: PublishAttempt = { payload: `${i}:${list.length}`, state: 'pending' };
    list.push(a);
    this.#outstanding++;
    this.publish(a.payload)
      .then(
        () => (a.state = 'resolved'),
        (err: unknown) => {
          a.state = 'rejected';
          a.error = err;
        },
      )
      .finally(() => this.#outstanding--);
  }

  /** Attempts not settled yet. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Every attempt, flattened. */
  all(): PublishAttempt[] {
    return [...this.attempts.values()].flat();
  }
}
