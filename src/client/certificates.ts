// The certificate wait list. Brokers deliver retained certificate
// announcements asynchronously after the SUBACK, so live data can overtake
// the announcement of its sender. Such messages (data, commands, grants, key
// requests) wait here, bounded in number and time, instead of being lost; the
// sender they wait for is only claimed, and they are verified in full later.

import type { Clock } from '../clock.js';
import { SecurityError } from '../errors.js';
import { claimedSender } from '../protocol/peek.js';

const AWAIT_CERT = Object.freeze({ maxTotal: 2_000, maxPerSender: 500, waitMs: 30_000 });

/** A message from a sender whose certificate announcement has not arrived yet. */
export interface AwaitingCertificate {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retained: boolean;
  readonly qos: 0 | 1 | 2;
  readonly since: number;
}

export class AwaitingCertificates {
  readonly #bySender = new Map<string, AwaitingCertificate[]>();
  #count = 0;

  constructor(private readonly clock: Clock) {}

  /** Holds a message whose sender is not known yet; false if it cannot be held. */
  hold(topic: string, payload: Uint8Array, retained: boolean, qos: 0 | 1 | 2): boolean {
    const sender = claimedSender(payload);
    if (sender === undefined || this.#count >= AWAIT_CERT.maxTotal) return false;
    const list = this.#bySender.get(sender) ?? [];
    if (list.length >= AWAIT_CERT.maxPerSender) return false;
    list.push({ topic, payload: payload.slice(), retained, qos, since: this.clock() });
    this.#bySender.set(sender, list);
    this.#count++;
    return true;
  }

  /** The certificate of `subject` arrived: what waited for it, in arrival order, no longer held here. */
  take(subject: string): readonly AwaitingCertificate[] {
    const list = this.#bySender.get(subject);
    if (!list) return [];
    this.#bySender.delete(subject);
    this.#count -= list.length;
    return list;
  }

  /** Messages whose sender never became known within the wait are rejected as UNKNOWN_SENDER. */
  expire(reject: (error: SecurityError, topic: string) => void): void {
    const cutoff = this.clock() - AWAIT_CERT.waitMs;
    for (const [sender, list] of this.#bySender) {
      const expired = list.filter((m) => m.since <= cutoff);
      if (expired.length === 0) continue;
      const kept = list.filter((m) => m.since > cutoff);
      if (kept.length) this.#bySender.set(sender, kept);
      else this.#bySender.delete(sender);
      this.#count -= expired.length;
      for (const m of expired) {
        reject(new SecurityError('UNKNOWN_SENDER', { topic: m.topic, sender, detail: `no valid certificate of ${sender} arrived within ${AWAIT_CERT.waitMs} ms` }), m.topic);
      }
    }
  }
}
