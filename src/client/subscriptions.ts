// Our subscriptions: the filters we subscribed to (a certificate announcement
// or a new connection asks their publishers for keys), and the SUBSCRIBE and
// UNSUBSCRIBE exchanges with their checks (topic grammar, our certificate's
// subscribe rights) and bounded waits.

import type { MqttClient } from 'mqtt';
import type { Certificate } from '../certs/certificate.js';
import type { TrustStore } from '../certs/trust-store.js';
import { validateTopicFilter } from '../topic/grammar.js';
import { withTimeout } from '../util/timeout.js';
import { SubscribeError } from './errors.js';
import type { KeyDistribution } from './key-distribution.js';
import { CLIENT_DEFAULTS, type SecureClientOptions } from './options.js';

export class Subscriptions {
  /** The filters subscribed to, with their QoS. */
  readonly filters = new Map<string, 0 | 1 | 2>();

  /** `options.timeouts.subscribe`: the wait for a SUBACK or UNSUBACK. */
  constructor(private readonly options: Pick<SecureClientOptions, 'timeouts'>) {}

  get #timeoutMs(): number {
    return this.options.timeouts?.subscribe ?? CLIENT_DEFAULTS.subscribeTimeoutMs;
  }

  /**
   * Subscribes `filters` and asks every known publisher of matching channels for their keys.
   * @throws SubscribeError INVALID_FILTER, NOT_AUTHORISED, TIMEOUT, BROKER_REFUSED
   */
  async subscribe(client: MqttClient, trust: TrustStore, own: Certificate, distribution: KeyDistribution, filters: string[], qos: 0 | 1 | 2): Promise<void> {
    for (const f of filters) {
      try {
        validateTopicFilter(f);
      } catch (err) {
        throw new SubscribeError('INVALID_FILTER', filters, `cannot subscribe to '${f}': ${(err as Error).message}`, { cause: err });
      }
      if (!trust.maySubscribe(own, f)) {
        throw new SubscribeError('NOT_AUTHORISED', filters, `our certificate does not allow subscribing to '${f}' (subscribe rights: ${own.subscribe.join(', ') || 'none'})`);
      }
    }
    let granted;
    try {
      granted = await withTimeout(
        client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos }]))),
        this.#timeoutMs,
        () => new SubscribeError('TIMEOUT', filters, `no SUBACK for ${filters.join(', ')} within ${this.#timeoutMs} ms`),
      );
    } catch (err) {
      if (err instanceof SubscribeError) throw err;
      throw new SubscribeError('BROKER_REFUSED', filters, `subscribe failed: ${(err as Error).message}`, { cause: err });
    }
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length) throw new SubscribeError('BROKER_REFUSED', filters, `the broker refused ${refused.map((g) => g.topic).join(', ')}`);
    for (const f of filters) {
      this.filters.set(f, qos);
      distribution.requestKeysFor(f);
    }
  }

  /** @throws SubscribeError TIMEOUT */
  async unsubscribe(client: MqttClient, filters: string[]): Promise<void> {
    await withTimeout(client.unsubscribeAsync(filters), this.#timeoutMs, () => new SubscribeError('TIMEOUT', filters, `no UNSUBACK for ${filters.join(', ')}`));
    for (const f of filters) this.filters.delete(f);
  }
}
