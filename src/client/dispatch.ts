// Where each inbound message goes, by topic and then by what it is: the
// control topics' messages (announcements, revocation lists, grants, key
// requests) to their handlers, amortised messages and manifests to the key
// manager's amortised receiver, signed group and direct envelopes opened for
// the application. What it refuses is held for its sender's certificate or
// reported; nothing here throws a SecurityError at the queue.

import type { IPublishPacket } from 'mqtt';
import { acceptAnnouncement } from '../certs/announce.js';
import type { TrustStore } from '../certs/trust-store.js';
import { SecurityError } from '../errors.js';
import { classify, type PayloadKind } from '../protocol/classify.js';
import type { KeyManager } from '../protocol/key-manager.js';
import type { AmortisedPrefetch } from '../protocol/amortised-manager.js';
import type { AwaitingCertificates } from './certificates.js';
import type { ClientCore } from './core.js';
import { asSecurityError, type Delivery } from './delivery.js';
import type { InboundHandler } from './inbound.js';
import type { KeyDistribution } from './key-distribution.js';
import type { Subscriptions } from './subscriptions.js';

export class Dispatch implements InboundHandler {
  /** Set by end() once the key manager closes: what is still queued (after a forced end) is dropped, not reported. */
  closed = false;

  constructor(
    private readonly core: ClientCore,
    private readonly keys: KeyManager,
    private readonly trust: TrustStore,
    private readonly delivery: Delivery,
    private readonly awaiting: AwaitingCertificates,
    private readonly distribution: KeyDistribution,
    /** Our subscriptions: which topics we asked for. */
    private readonly subscriptions: Pick<Subscriptions, 'filters' | 'covers'>,
  ) {}

  prefetch(packet: IPublishPacket, payload: Uint8Array): AmortisedPrefetch | undefined {
    const keys = this.keys;
    return keys.acceptsAmortised && !packet.retain && classify(payload) === 'amortised' ? keys.prefetchAmortised(payload, packet.topic) : undefined;
  }

  error(err: unknown): void {
    this.core.error(err);
  }

  handle(packet: IPublishPacket, payload: Uint8Array, ahead: AmortisedPrefetch | undefined): Promise<void> | void {
    const topic = packet.topic;
    if (this.closed) return;
    let pending: Promise<void> | void;
    try {
      pending = this.#process(topic, payload, packet.retain, packet.qos, ahead);
    } catch (err) {
      this.#failed(err, packet, payload);
      return;
    }
    if (pending) return pending.catch((err: unknown) => this.#failed(err, packet, payload));
  }

  /** A message #process refused: held for its sender's certificate, or reported. */
  #failed(err: unknown, packet: IPublishPacket, payload: Uint8Array): void {
    const topic = packet.topic;
    let error = asSecurityError(err, topic);
    if (error.code === 'UNKNOWN_SENDER') {
      // Held until its sender's certificate arrives, or reported now saying why not (none is expected, or no room).
      const refused = this.awaiting.hold(error, topic, payload, packet.retain, packet.qos);
      if (refused === undefined) return;
      error = refused;
    }
    if (error.held) this.delivery.rememberHeldQos(error.held, packet.qos);
    this.delivery.reject(error, topic, payload);
  }

  /** Routes one message to the control handlers or opens it for the application; throws SecurityError (or rejects with it). */
  #process(topic: string, payload: Uint8Array, retained: boolean, qos: 0 | 1 | 2, ahead?: AmortisedPrefetch): Promise<void> | void {
    const control = this.core.topics.parse(topic);
    if (control) return this.#control(control.kind, control.subject, topic, payload);
    if (this.core.topics.isReserved(topic)) return; // an unknown reserved topic: not ours to deliver
    // Checked before any work: an authentic message the client did not ask for (the broker pushed it) is not delivered.
    if (!this.subscriptions.covers(topic)) throw new SecurityError('NOT_SUBSCRIBED', { topic, detail: `no subscription of ours matches ${topic}` });
    const keys = this.keys;
    const kind = classify(payload);
    if (keys.acceptsAmortised && (kind === 'amortised' || kind === 'manifest')) {
      if (retained) throw new SecurityError('UNSUPPORTED_VERSION', { topic, detail: 'amortised messages and manifests are not accepted retained' });
      const outcome = kind === 'manifest' ? keys.acceptManifest(payload, topic) : keys.openAmortisedNow(payload, topic, ahead);
      if (outcome instanceof Promise) return outcome.then((o) => this.delivery.amortisedOutcome(o, qos));
      this.delivery.amortisedOutcome(outcome, qos);
      return;
    }
    return this.#openApplication(topic, payload, kind, retained, qos);
  }

  /** Opens and delivers a signed application message; throws SecurityError. */
  async #openApplication(topic: string, payload: Uint8Array, kind: PayloadKind, retained: boolean, qos: 0 | 1 | 2): Promise<void> {
    const keys = this.keys;
    // An amortised envelope the key manager does not accept is a group envelope with flags it rejects.
    if (kind === 'group' || kind === 'amortised') {
      this.delivery.deliverGroup(await keys.openData(payload, topic, { retained }), qos);
    } else if (kind === 'direct') {
      const m = await keys.openDirect(payload, topic);
      this.delivery.deliver(m.topic, m.payload, {
        sender: m.sender,
        certificate: m.senderCertificate,
        kind: 'direct',
        seq: m.seq,
        timestamp: m.timestamp,
        retained,
        qos,
      });
    } else {
      throw new SecurityError('MALFORMED', { topic, detail: kind === 'empty' ? 'empty payload' : `unknown envelope type 0x${payload[0]!.toString(16)}` });
    }
  }

  async #control(kind: string, subject: string | undefined, topic: string, payload: Uint8Array): Promise<void> {
    const keys = this.keys;
    const trust = this.trust;
    const now = this.core.clock();
    switch (kind) {
      case 'cert': {
        if (payload.length === 0) return; // a cleared retained announcement
        // Our own, once our certificate is revoked: that was reported once (the 'crl' case), not again per copy.
        const own = subject === this.core.id ? trust.peek(subject) : undefined;
        if (own !== undefined && trust.isRevoked(own)) return;
        const known = subject === undefined ? undefined : trust.peek(subject);
        const cert = await acceptAnnouncement(payload, trust, { now });
        if (cert.subject !== subject) throw new SecurityError('TOPIC_MISMATCH', { topic, sender: cert.subject, detail: `an announcement of ${cert.subject} on ${topic}` });
        // Keys are asked for when a publisher's certificate is new to us or changed, not for every copy of an
        // announcement (a broker replaying them would make us sign a key request each time).
        if (cert.subject !== this.core.id && (known === undefined || known.serial !== cert.serial || known.keyEpoch !== cert.keyEpoch)) {
          for (const [filter] of this.subscriptions.filters) this.distribution.requestKeysFrom(cert, filter);
        }
        await this.#releaseAwaiting(cert.subject);
        return;
      }
      case 'crl': {
        if (payload.length === 0) return;
        const { number, newlyRevoked } = await trust.applyRevocationList(payload);
        if (newlyRevoked.includes(this.core.id)) {
          // Not an attack on us but the end of this identity: said once, loudly; publishAsync refuses from now on.
          const detail = `our own certificate is revoked by revocation list ${number}: publishing is refused, re-enrol this device`;
          this.delivery.reject(new SecurityError('REVOKED', { sender: this.core.id, topic, detail }), topic);
        }
        if (newlyRevoked.length) await keys.handleRevoked(newlyRevoked); // grants go out through 'rotated'
        return;
      }
      case 'grant': {
        if (subject !== this.core.id) return;
        const accepted = await keys.acceptGrant(payload, topic);
        this.delivery.stats.grantsAccepted++;
        for (const m of accepted.released) {
          this.delivery.stats.held = Math.max(0, this.delivery.stats.held - 1);
          this.delivery.deliverGroup(m, this.delivery.heldQos(m));
        }
        return;
      }
      case 'key-request': {
        if (subject !== this.core.id) return;
        this.distribution.sendGrants(await keys.handleKeyRequest(payload));
        return;
      }
    }
  }

  /** The certificate of `subject` arrived: open what waited for it, in arrival order. */
  async #releaseAwaiting(subject: string): Promise<void> {
    for (const m of this.awaiting.take(subject)) {
      try {
        await this.#process(m.topic, m.payload, m.retained, m.qos);
      } catch (err) {
        this.delivery.reject(asSecurityError(err, m.topic), m.topic, m.payload);
      }
    }
  }
}
