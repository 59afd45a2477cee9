// The certificate wait list. Brokers deliver retained certificate
// announcements asynchronously after the SUBACK, so live data can overtake
// the announcement of its sender. Such messages (data, commands, grants, key
// requests) wait here instead of being lost; the sender they wait for is only
// claimed, and they are verified in full later.
//
// Anyone can claim a sender, so what waits here is bounded: in number and in
// bytes, in all and per claimed sender; and in time twice over. A message is
// held only within `waitMs` of the client's latest connection (each one
// subscribes the announcements anew and brings the retained ones; after that
// an unknown sender's announcement is not on its way), and for at most
// `waitMs`. Every message not held is reported at once as UNKNOWN_SENDER,
// saying why; every message that waited in vain is reported when its wait
// ends. Nothing held is ever dropped without a report, except by end().

import { aobject, aoptInt } from '../../bindings/assert-sdk.js';
import type { Clock } from '../clock.js';
import { SecurityError } from '../errors.js';
import { claimedSender } from '../protocol/peek.js';
import type { ClientStats } from './events.js';
import { CLIENT_DEFAULTS, type SecureClientOptions } from './options.js';

/** The bounds of the wait list (options.awaitingCertificates with its defaults). */
export type AwaitingBounds = Required<NonNullable<SecureClientOptions['awaitingCertificates']>>;

/** A message from a sender whose certificate announcement has not arrived yet. */
export interface AwaitingCertificate {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retained: boolean;
  readonly qos: 0 | 1 | 2;
  readonly since: number;
  /** What it counts against the byte bounds: its payload's bytes plus its topic's length. */
  readonly bytes: number;
}

interface SenderList {
  readonly messages: AwaitingCertificate[];
  bytes: number;
}

/** Checks options.awaitingCertificates and fills in the defaults. */
export function awaitingBounds(options: SecureClientOptions['awaitingCertificates']): AwaitingBounds {
  const d = CLIENT_DEFAULTS.awaitingCertificates;
  if (options === undefined) return d;
  const o = aobject(options, 'awaitingCertificates');
  const n = (value: unknown, fallback: number, name: string): number => aoptInt(value, fallback, 0, Number.MAX_SAFE_INTEGER, `awaitingCertificates.${name}`);
  return Object.freeze({
    waitMs: n(o.waitMs, d.waitMs, 'waitMs'),
    maxMessages: n(o.maxMessages, d.maxMessages, 'maxMessages'),
    maxBytes: n(o.maxBytes, d.maxBytes, 'maxBytes'),
    maxMessagesPerSender: n(o.maxMessagesPerSender, d.maxMessagesPerSender, 'maxMessagesPerSender'),
    maxBytesPerSender: n(o.maxBytesPerSender, d.maxBytesPerSender, 'maxBytesPerSender'),
  });
}

export class AwaitingCertificates {
  readonly #bySender = new Map<string, SenderList>();
  readonly #bounds: AwaitingBounds;
  /** When the latest connection was made (its CONNACK); undefined before the first. */
  #connectedAt: number | undefined;

  /** `stats`: the client's counters; `awaiting` and `awaitingBytes` are kept current here. */
  constructor(
    private readonly clock: Clock,
    private readonly stats: Pick<ClientStats, 'awaiting' | 'awaitingBytes'>,
    options?: SecureClientOptions['awaitingCertificates'],
  ) {
    this.#bounds = awaitingBounds(options);
  }

  /** A connection was made: the retained announcements come again, so certificates may arrive for `waitMs`. */
  connected(): void {
    this.#connectedAt = this.clock();
  }

  /**
   * Holds a message refused with UNKNOWN_SENDER (`error`) until its claimed
   * sender's certificate arrives. Returns undefined if it is held, else the
   * error to report now: `error` itself if no sender can be read from it, an
   * UNKNOWN_SENDER saying why otherwise (no certificate is expected any more,
   * or there is no room).
   */
  hold(error: SecurityError, topic: string, payload: Uint8Array, retained: boolean, qos: 0 | 1 | 2): SecurityError | undefined {
    const sender = claimedSender(payload);
    if (sender === undefined) return error;
    const b = this.#bounds;
    const now = this.clock();
    const refuse = (why: string): SecurityError => new SecurityError('UNKNOWN_SENDER', { topic, sender, detail: `no valid certificate of ${sender} is known, and ${why}` });
    if (this.#connectedAt === undefined || now - this.#connectedAt >= b.waitMs) {
      return refuse(`none is expected: certificates are awaited only within ${b.waitMs} ms of a connection`);
    }
    const bytes = payload.length + topic.length;
    const list = this.#bySender.get(sender);
    const full =
      this.stats.awaiting >= b.maxMessages ? `${b.maxMessages} messages wait already (maxMessages)`
      : this.stats.awaitingBytes + bytes > b.maxBytes ? `${this.stats.awaiting} messages of ${this.stats.awaitingBytes} bytes wait already, ${bytes} more would pass maxBytes ${b.maxBytes}`
      : (list?.messages.length ?? 0) >= b.maxMessagesPerSender ? `${b.maxMessagesPerSender} messages of ${sender} wait already (maxMessagesPerSender)`
      : (list?.bytes ?? 0) + bytes > b.maxBytesPerSender ? `${list?.bytes ?? 0} bytes of ${sender} wait already, ${bytes} more would pass maxBytesPerSender ${b.maxBytesPerSender}`
      : undefined;
    if (full !== undefined) return refuse(`there is no room to hold it until its certificate arrives: ${full}`);
    const entry = list ?? { messages: [], bytes: 0 };
    entry.messages.push({ topic, payload: payload.slice(), retained, qos, since: now, bytes });
    entry.bytes += bytes;
    this.#bySender.set(sender, entry);
    this.stats.awaiting++;
    this.stats.awaitingBytes += bytes;
    return undefined;
  }

  /** The certificate of `subject` arrived: what waited for it, in arrival order, no longer held here. */
  take(subject: string): readonly AwaitingCertificate[] {
    const list = this.#bySender.get(subject);
    if (!list) return [];
    this.#bySender.delete(subject);
    this.stats.awaiting -= list.messages.length;
    this.stats.awaitingBytes -= list.bytes;
    return list.messages;
  }

  /** Messages whose sender never became known within the wait are rejected as UNKNOWN_SENDER. */
  expire(reject: (error: SecurityError, topic: string) => void): void {
    const waitMs = this.#bounds.waitMs;
    const cutoff = this.clock() - waitMs;
    for (const [sender, list] of this.#bySender) {
      const expired = list.messages.filter((m) => m.since <= cutoff);
      if (expired.length === 0) continue;
      const kept = list.messages.filter((m) => m.since > cutoff);
      const freed = expired.reduce((sum, m) => sum + m.bytes, 0);
      if (kept.length) this.#bySender.set(sender, { messages: kept, bytes: list.bytes - freed });
      else this.#bySender.delete(sender);
      this.stats.awaiting -= expired.length;
      this.stats.awaitingBytes -= freed;
      for (const m of expired) {
        reject(new SecurityError('UNKNOWN_SENDER', { topic: m.topic, sender, detail: `no valid certificate of ${sender} arrived within ${waitMs} ms` }), m.topic);
      }
    }
  }
}
