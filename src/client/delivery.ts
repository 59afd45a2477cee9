// What reaches the application: verified messages ('message', held back in
// arrival order until connect() resolved), rejections ('security', except
// what is expected traffic), the counters of stats(), and the QoS of messages
// held for their epoch key (the key manager holds bytes, not MQTT details).

import { REASONS, SecurityError, type HeldMessage } from '../errors.js';
import { classify } from '../protocol/classify.js';
import type { DataMessage } from '../protocol/key-manager.js';
import type { AmortisedResult } from '../protocol/amortised-manager.js';
import type { TypedEmitter } from '../util/typed-emitter.js';
import type { ClientStats, MessageMeta, SecureClientEvents, SecurityEvent } from './events.js';

/** Held messages whose QoS is remembered, at most (the oldest is forgotten first). */
const MAX_HELD_QOS = 10_000;

/** The key a held message's QoS is remembered under: its stream and sequence number. */
const heldKey = (m: HeldMessage): string => `${m.sender}\n${m.channel}\n${m.epoch}\n${m.seq}`;

/** Treats anything thrown while handling a message as a security event with a code. */
export function asSecurityError(err: unknown, topic: string): SecurityError {
  if (err instanceof SecurityError) return err;
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new SecurityError('MALFORMED', { topic, detail });
}

/** Security events kept for the listener while connect() runs (the counters count them all). */
const MAX_EARLY_EVENTS = 1_000;

export class Delivery {
  readonly stats: ClientStats = { delivered: 0, duplicates: 0, held: 0, rejected: {}, grantsSent: 0, grantsAccepted: 0, keyRequestsSent: 0, awaiting: 0, awaitingBytes: 0 };
  /**
   * Messages verified and security events raised before connect() resolved,
   * in order, waiting for the application's listeners (none can be attached
   * before connectAsync returns). Bounded: beyond it, security events are only
   * counted (stats().rejected), messages are never dropped.
   */
  #early: ([string, Uint8Array, MessageMeta] | [SecurityEvent])[] | undefined = [];
  #earlyEvents = 0;
  /** The QoS each message held for its key arrived with. */
  readonly #heldQosByMessage = new Map<string, 0 | 1 | 2>();

  /** `keyAwaited`: true while the key manager waits for an epoch key (a manifest asked for it). */
  constructor(
    private readonly emitter: TypedEmitter<SecureClientEvents>,
    private readonly keyAwaited: () => boolean,
  ) {}

  /** A copy of the counters. */
  snapshot(): Readonly<ClientStats> {
    return { ...this.stats, rejected: { ...this.stats.rejected } };
  }

  /** From now on messages go to the listeners at once; those verified before go first. */
  open(): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const entry of early) {
      if (entry.length === 1) this.emitter.emit('security', entry[0]);
      else this.emitter.emit('message', entry[0], entry[1], entry[2]);
    }
  }

  deliver(topic: string, payload: Uint8Array, meta: MessageMeta): void {
    this.stats.delivered++;
    if (this.#early) this.#early.push([topic, payload, Object.freeze(meta)]);
    else this.emitter.emit('message', topic, payload, Object.freeze(meta));
  }

  deliverGroup(m: DataMessage, qos: 0 | 1 | 2): void {
    this.deliver(m.topic, m.payload, {
      sender: m.sender,
      certificate: m.senderCertificate,
      kind: 'group',
      channel: m.channel,
      epoch: m.epoch,
      seq: m.seq,
      timestamp: m.timestamp,
      retained: m.retained,
      qos,
    });
  }

  /** Delivers what a manifest released and reports what it (or the hold timeout) rejected. */
  amortisedOutcome(outcome: AmortisedResult, qos: 0 | 1 | 2): void {
    for (const m of outcome.released) this.deliverGroup(m, qos);
    for (const err of outcome.rejected) this.reject(err, err.topic ?? '');
  }

  reject(error: SecurityError, topic: string, payload?: Uint8Array): void {
    // A redelivery (QoS 1 retry) is expected traffic, and a message waiting
    // for its key is held, not rejected: neither is an attack.
    if (error.code === 'DUPLICATE') {
      this.stats.duplicates++;
      return;
    }
    // An authentic message held for its key is not an attack. An amortised one
    // cannot be told from a forgery before its manifest: while a key is awaited
    // (its manifest asked for it), an unknown epoch is not reported either.
    if (error.awaitingKey) return;
    if (error.code === 'UNKNOWN_EPOCH' && payload !== undefined && classify(payload) === 'amortised' && this.keyAwaited()) return;
    this.stats.rejected[error.code] = (this.stats.rejected[error.code] ?? 0) + 1;
    const event: SecurityEvent = Object.freeze({ code: error.code, topic, sender: error.sender, message: error.message || REASONS[error.code], error });
    // Kept only while connect() runs with nobody listening yet (a listener attached before connect() hears it at once).
    if (this.#early === undefined || this.emitter.listenerCount('security') > 0) this.emitter.emit('security', event);
    else if (this.#earlyEvents++ < MAX_EARLY_EVENTS) this.#early.push([event]);
  }

  /** Remembers the QoS of a group message the key manager now holds for its epoch key. */
  rememberHeldQos(held: HeldMessage, qos: 0 | 1 | 2): void {
    if (this.#heldQosByMessage.size >= MAX_HELD_QOS) this.#heldQosByMessage.delete(this.#heldQosByMessage.keys().next().value as string);
    this.#heldQosByMessage.set(heldKey(held), qos);
  }

  /** The QoS a released message arrived with (1 if it was not remembered). */
  heldQos(m: DataMessage): 0 | 1 | 2 {
    const key = heldKey(m);
    const qos = this.#heldQosByMessage.get(key) ?? 1;
    this.#heldQosByMessage.delete(key);
    return qos;
  }
}
