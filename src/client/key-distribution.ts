// Key distribution on the control topics, the sending side: key requests to
// the publishers of the channels we subscribe to, and grants of our own
// channels' keys to subscribers. Each goes out at QoS 1; a failed publish is
// an 'error' event, never a thrown exception in the caller's path.

import type { Certificate } from '../certs/certificate.js';
import type { TrustStore } from '../certs/trust-store.js';
import { filtersOverlap } from '../protocol/channels.js';
import type { KeyGrant, KeyManager } from '../protocol/key-manager.js';
import type { ClientCore } from './core.js';
import { PublishError } from './errors.js';
import type { ClientStats } from './events.js';

/** The least time between two key requests to one publisher for one filter (a held message's request is not limited). */
const REQUEST_INTERVAL_MS = 1_000;
/** Bound on the (publisher, filter) pairs remembered for that. */
const MAX_ASKED = 10_000;

export class KeyDistribution {
  /** When we last asked each (publisher, filter) for keys. */
  readonly #asked = new Map<string, number>();

  constructor(
    private readonly core: ClientCore,
    private readonly keys: KeyManager,
    private readonly trust: TrustStore,
    /** Our own certificate. */
    private readonly own: Certificate,
    private readonly stats: ClientStats,
  ) {}

  /** Asks every known publisher (but us) for the keys of its channels that overlap `filter`. */
  requestKeysFor(filter: string): void {
    for (const subject of this.trust.subjects()) {
      const cert = subject === this.core.id ? undefined : this.trust.peek(subject);
      if (cert) this.requestKeysFrom(cert, filter);
    }
  }

  /**
   * Asks `publisher` for the keys of its channels that overlap `filter`, if
   * our rights cover at least one of them entirely: a publisher grants whole
   * channels only, so asking for others would only be refused (NOT_AUTHORISED).
   */
  requestKeysFrom(publisher: Certificate, filter: string): void {
    const grantable = publisher.publish.some((c) => filtersOverlap(c, filter) && this.trust.maySubscribe(this.own, c));
    if (!grantable) return;
    // At most one request per (publisher, filter) a second: reconnections and announcements coming together ask once.
    const key = `${publisher.subject}\n${filter}`;
    const now = this.core.clock();
    const last = this.#asked.get(key);
    if (last !== undefined && now - last < REQUEST_INTERVAL_MS && now >= last) return;
    if (this.#asked.size >= MAX_ASKED) this.#asked.clear();
    this.#asked.set(key, now);
    this.sendKeyRequest(publisher.subject, filter);
  }

  sendKeyRequest(publisher: string, filter: string): void {
    const client = this.core.mqtt();
    if (!client || this.core.ending()) return;
    try {
      const bytes = this.keys.keyRequest(publisher, filter);
      this.stats.keyRequestsSent++;
      const topic = this.core.topics.keyRequest(publisher);
      client.publish(topic, bytes as never, { qos: 1 }, (err) => {
        if (err) this.core.error(new PublishError('BROKER_REFUSED', topic, `key request failed: ${err.message}`, { cause: err }));
      });
    } catch (err) {
      this.core.error(err);
    }
  }

  sendGrants(grants: readonly KeyGrant[]): void {
    const client = this.core.mqtt();
    if (!client || this.core.ending()) return;
    for (const g of grants) {
      this.stats.grantsSent++;
      client.publish(g.topic, g.bytes as never, { qos: 1 }, (err) => {
        if (err) this.core.error(new PublishError('BROKER_REFUSED', g.topic, `grant to ${g.subscriber} failed: ${err.message}`, { cause: err }));
      });
    }
  }
}
