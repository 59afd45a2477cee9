// Bounds how many operations run at once (QoS 1/2 publishes awaiting their
// acknowledgement): brokers drop or refuse bursts beyond their receive window.

import { aint } from '../../bindings/assert-sdk.js';

export class Semaphore {
  private waiting: (() => void)[] = [];
  private active = 0;

  constructor(private limit: number) {
    aint(limit, 1, Number.MAX_SAFE_INTEGER, 'limit');
  }

  /** Changes the bound (e.g. to the broker's Receive Maximum); waiters proceed if there is room. */
  resize(limit: number): void {
    aint(limit, 1, Number.MAX_SAFE_INTEGER, 'limit');
    this.limit = limit;
    this.drain();
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    this.active--;
    this.drain();
  }

  private drain(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()!();
    }
  }

  /** Runs `task` holding one slot (at once, without a turn of the event loop, when one is free). */
  run<T>(task: () => Promise<T>): Promise<T> {
    // Only when nobody waits or is being handed a slot: a caller must never overtake an earlier one (publish order).
    if (this.active < this.limit && this.waiting.length === 0 && this.handoffs === 0) {
      this.active++;
      return this.hold(task);
    }
    this.handoffs++;
    return this.acquire().then(
      () => {
        this.handoffs--;
        return this.hold(task);
      },
      (err: unknown) => {
        this.handoffs--;
        throw err;
      },
    );
  }

  /** run() calls on the queued path whose continuation has not started their task yet. */
  private handoffs = 0;

  /** Runs `task` in a slot already taken, and gives the slot back however it ends. */
  private async hold<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } finally {
      this.release();
    }
  }
}
