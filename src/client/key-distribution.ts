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

export class KeyDistribution {
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
    if (grantable) this.sendKeyRequest(publisher.subject, filter);
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
