// Amortised publishing's manifests: batches that did not fill up are signed
// about maxDelayMs after their first message (a timer), a full batch's
// manifest goes out right after its last message (flush after a publish), and
// a graceful end() publishes the last ones and waits for those still being
// signed off this thread before it disconnects.

import type { MqttClient } from 'mqtt';
import type { KeyManager } from '../protocol/key-manager.js';
import type { ManifestToSend } from '../protocol/amortised-manager.js';
import { withTimeout } from '../util/timeout.js';
import type { ClientCore } from './core.js';
import { ConnectionError, PublishError } from './errors.js';

export class Manifests {
  readonly #timer: ReturnType<typeof setInterval>;
  /** Manifests being signed off this thread (their publish follows): end() waits for them. */
  readonly #signing = new Set<Promise<void>>();

  constructor(
    private readonly core: ClientCore,
    private readonly keys: KeyManager,
    maxDelayMs: number,
  ) {
    this.#timer = setInterval(() => this.flush(false), Math.max(1, Math.floor(maxDelayMs / 2)));
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Publishes the manifests of the batches that are due (every pending one with `all`). */
  flush(all: boolean, ending = false): void {
    const client = this.core.mqtt();
    const keys = this.keys;
    if (!client || (this.core.ending() && !ending)) return;
    if (keys.signsAsync) {
      let taken: Promise<ManifestToSend[]> | undefined;
      try {
        taken = keys.takeManifestsAsync(all);
      } catch (err) {
        this.core.error(err);
        return;
      }
      if (taken === undefined) return; // nothing due (the usual answer after a publish)
      // Published even if end() began meanwhile: end() waits for these before it disconnects.
      const signing: Promise<void> = taken.then(
        (due) => this.#publish(client, due),
        (err: unknown) => this.core.error(err),
      );
      this.#signing.add(signing);
      void signing.finally(() => this.#signing.delete(signing));
      return;
    }
    let due;
    try {
      due = keys.takeManifests(all);
    } catch (err) {
      this.core.error(err);
      return;
    }
    this.#publish(client, due);
  }

  #publish(client: MqttClient, due: readonly ManifestToSend[]): void {
    for (const m of due) {
      client.publish(m.topic, m.bytes as never, { qos: 1 }, (err) => {
        if (err && !this.core.ending()) this.core.error(new PublishError('BROKER_REFUSED', m.topic, `batch manifest failed: ${err.message}`, { cause: err }));
      });
    }
  }

  /** Stops the timer; unless `force`, publishes the last batches' manifests (before DISCONNECT). */
  stop(force: boolean): void {
    clearInterval(this.#timer);
    if (!force) this.flush(true, true);
  }

  /** True while manifests are being signed off this thread. */
  get signing(): boolean {
    return this.#signing.size > 0;
  }

  /** Waits (at most `timeoutMs`) for the manifests being signed; never rejects. */
  async signed(timeoutMs: number): Promise<void> {
    const signing = Promise.allSettled([...this.#signing]);
    await withTimeout(signing, timeoutMs, () => new ConnectionError('CLOSED', 'end() timed out')).catch(() => undefined);
  }
}

