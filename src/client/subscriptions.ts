// Our subscriptions: the filters we subscribed to (a certificate announcement
// or a new connection asks their publishers for keys), and the SUBSCRIBE and
// UNSUBSCRIBE exchanges with their checks (topic grammar, our certificate's
// subscribe rights) and bounded waits. Only a message on a topic one of them
// matches is delivered (NOT_SUBSCRIBED otherwise): a filter counts from the
// moment its SUBSCRIBE is sent (retained messages may come before the SUBACK)
// until its UNSUBACK. The set is kept in storage too, because a resumed MQTT
// session (clean: false) delivers what a previous instance subscribed to before
// this one subscribes again; a session the broker did not keep clears it. A
// resumed session whose subscriptions were never saved (in-memory state, a
// first start) counts every filter our certificate may subscribe to, so the
// honest broker's queued messages are not lost (docs/PROTOCOL.md).

import type { MqttClient } from 'mqtt';
import type { Certificate } from '../certs/certificate.js';
import type { TrustStore } from '../certs/trust-store.js';
import type { Storage } from '../storage/types.js';
import { topicMatches, validateTopicFilter } from '../topic/grammar.js';
import { withTimeout } from '../util/timeout.js';
import { SubscribeError } from './errors.js';
import type { KeyDistribution } from './key-distribution.js';
import { CLIENT_DEFAULTS, type SecureClientOptions } from './options.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class Subscriptions {
  /** The filters subscribed to, with their QoS. */
  readonly filters = new Map<string, 0 | 1 | 2>();
  /**
   * Filters a previous instance subscribed to in the MQTT session the broker
   * kept, while it is resumed; undefined if they were never saved.
   */
  #previous: Set<string> | undefined;
  /** The current connection resumed a session (CONNACK sessionPresent = 1). */
  #resumed = false;
  /** Our certificate's subscribe rights: what a resumed session of unknown subscriptions may hold. */
  #rights: readonly string[] = [];
  #storage: Storage | undefined;
  #key = '';

  /** `options.timeouts.subscribe`: the wait for a SUBACK or UNSUBACK. */
  constructor(private readonly options: Pick<SecureClientOptions, 'timeouts'>) {}

  /** Loads the filters a previous instance of our identity left in `storage`. */
  async attach(storage: Storage, own: Certificate): Promise<void> {
    this.#storage = storage;
    this.#rights = own.subscribe;
    this.#key = `pqc-iiot/client/v1/${own.subject}/subscriptions`;
    const saved = await storage.get(this.#key);
    if (saved === undefined) return;
    try {
      const list: unknown = JSON.parse(decoder.decode(saved));
      if (Array.isArray(list)) this.#previous = new Set(list.filter((f): f is string => typeof f === 'string'));
    } catch {
      // unreadable: treated as never saved
    }
  }

  /** True if a subscription of ours, or of the session the broker resumed, matches `topic`. */
  covers(topic: string): boolean {
    for (const filter of this.filters.keys()) if (topicMatches(filter, topic)) return true;
    if (!this.#resumed) return false;
    for (const filter of this.#previous ?? this.#rights) if (topicMatches(filter, topic)) return true;
    return false;
  }

  /** Each CONNACK: a session the broker did not keep (sessionPresent = 0) leaves only this instance's subscriptions, which mqtt.js renews. */
  async connected(sessionPresent: boolean): Promise<void> {
    this.#resumed = sessionPresent;
    if (sessionPresent || this.#previous?.size === 0) return;
    this.#previous = new Set();
    await this.#save();
  }

  async #save(): Promise<void> {
    if (this.#storage === undefined) return;
    const all = [...new Set([...this.filters.keys(), ...(this.#previous ?? [])])].sort();
    await this.#storage.set(this.#key, encoder.encode(JSON.stringify(all)));
  }

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
    // Counted from now: a retained message may arrive before the SUBACK. Saved before the SUBSCRIBE goes out.
    const added = filters.filter((f) => !this.filters.has(f));
    for (const f of filters) this.filters.set(f, qos);
    await this.#save();
    let granted;
    try {
      granted = await withTimeout(
        client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos }]))),
        this.#timeoutMs,
        () => new SubscribeError('TIMEOUT', filters, `no SUBACK for ${filters.join(', ')} within ${this.#timeoutMs} ms`),
      );
    } catch (err) {
      await this.#forget(added);
      if (err instanceof SubscribeError) throw err;
      throw new SubscribeError('BROKER_REFUSED', filters, `subscribe failed: ${(err as Error).message}`, { cause: err });
    }
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length) {
      await this.#forget(added);
      throw new SubscribeError('BROKER_REFUSED', filters, `the broker refused ${refused.map((g) => g.topic).join(', ')}`);
    }
    for (const f of filters) distribution.requestKeysFor(f);
  }

  async #forget(filters: readonly string[]): Promise<void> {
    for (const f of filters) this.filters.delete(f);
    await this.#save();
  }

  /** @throws SubscribeError TIMEOUT */
  async unsubscribe(client: MqttClient, filters: string[]): Promise<void> {
    await withTimeout(client.unsubscribeAsync(filters), this.#timeoutMs, () => new SubscribeError('TIMEOUT', filters, `no UNSUBACK for ${filters.join(', ')}`));
    for (const f of filters) this.#previous?.delete(f);
    await this.#forget(filters);
  }
}
