// The model of one identity's client: what the hostile runs ask (predict a
// packet's outcome, restart, reconnect, messages still waiting, epochs and
// keys held) and the client's dispatch of an inbound PUBLISH (control topics
// to their handlers, the rest to the application path), with what it does
// with a failure (DUPLICATE is silent, UNKNOWN_SENDER waits for a
// certificate). The checks themselves live next door, by kind of packet.

import type { Certificate } from '../../../src/certs/certificate.js';
import { decodeDirect } from '../../../src/protocol/direct.js';
import { topicMatches } from '../../../src/topic/grammar.js';
import { decodeKeyRequest } from '../../../src/protocol/grant.js';
import { decodeGroup } from '../../../src/protocol/group.js';
import { ENVELOPE_TYPE } from '../../../src/protocol/envelope.js';
import { outcomeOf, parseControlTopic, stop, type ControlTopic, type Outcome } from '../oracle.js';
import { addOutcome, emptyDelta, type Delta, type Prediction } from './delta.js';
import { directEnvelope, grant, grantPlaintext } from './direct.js';
import { groupEnvelope } from './group.js';
import { keyRequest } from './key-request.js';
import { AWAIT, ClientState, awaitBytes, near, purge, type CloseCall, type ModelConfig, type Need } from './state.js';
import { announcement, revocationList } from './trust.js';

/** The model of one identity's client (its durable parts survive restart()). */
export class ClientModel {
  readonly #s: ClientState;

  constructor(config: ModelConfig) {
    this.#s = new ClientState(config);
  }

  get id(): string {
    return this.#s.id;
  }

  get cfg(): ClientState['cfg'] {
    return this.#s.cfg;
  }

  /** Awaiting messages that expired (the client reports them from its maintenance timer). */
  get expiredAwaiting(): number {
    return this.#s.expiredAwaiting;
  }

  /** Awaiting messages that may or may not have been reported before the client was ended. */
  get uncertainExpired(): number {
    return this.#s.uncertainExpired;
  }

  /** Packets whose outcome depended on a time check too close to call (both outcomes accepted). */
  get closeCalls(): number {
    return this.#s.closeCalls;
  }

  /** A certificate the client was given in advance (options.certificates). */
  preload(cert: Certificate): void {
    this.#s.trust.set(cert.subject, cert);
  }

  /**
   * The client was ended (at `endedAt`) and a new one started on the same
   * storage: memory is gone, storage stays. Messages that waited for their
   * sender's certificate for longer than the wait were reported by the old
   * client's timer (which runs every second: those within a second of the
   * limit may or may not have been).
   */
  restart(endedAt: number = Date.now()): void {
    const s = this.#s;
    for (const list of s.awaiting.values()) {
      for (const m of list) {
        const age = endedAt - m.since;
        if (age >= AWAIT.waitMs + 1_100) s.expiredAwaiting++;
        else if (age >= AWAIT.waitMs) s.uncertainExpired++;
      }
    }
    s.streams = new Map();
    s.needed = new Map<string, Need>();
    s.retainedSeen = new Set();
    s.nonces = new Map();
    s.awaiting = new Map();
    s.awaitingCount = 0;
    s.awaitingBytes = 0;
    s.connectedAt = undefined;
  }

  /**
   * The client is being started (`after` undefined) or has connected: its KeyManager opened in between. The replay
   * state began with the first start (MemoryStorage kept across restarts), the key-request nonces with this one.
   */
  starting(before: number, after?: number): void {
    const s = this.#s;
    if (s.replaySince === undefined || s.replaySince[0] === before) s.replaySince = [before, after];
    s.keysSince = [before, after];
  }

  /** A (re)connection: a new MQTT session starts a new retained session. */
  onConnect(sessionPresent: boolean): void {
    // The client's own 'connect' listener ran just before: it may hold messages from unknown senders for a while.
    this.#s.connectedAt = Date.now();
    if (!sessionPresent) this.#s.retainedSeen = new Set();
  }

  /** Messages waiting for their sender's certificate. */
  get awaiting(): number {
    return this.#s.awaitingCount;
  }

  /** Epochs held for (sender, channel). */
  epochsOf(sender: string, channel: string): number[] {
    return [...(this.#s.streams.get(`${sender}\n${channel}`)?.epochs.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Keys still needed (held messages waiting for a grant). */
  get needsKeys(): number {
    return this.#s.needed.size;
  }

  /** Awaiting messages older than the wait at `now` move to expiredAwaiting (the client's timer does the same). */
  expireAwaiting(now: number): void {
    const s = this.#s;
    for (const [sender, list] of [...s.awaiting]) {
      const kept = list.filter((m) => m.since > now - AWAIT.waitMs);
      const gone = list.length - kept.length;
      if (gone === 0) continue;
      s.expiredAwaiting += gone;
      s.awaitingCount -= gone;
      s.awaitingBytes -= list.filter((m) => m.since <= now - AWAIT.waitMs).reduce((sum, m) => sum + awaitBytes(m), 0);
      if (kept.length) s.awaiting.set(sender, kept);
      else s.awaiting.delete(sender);
    }
  }

  /**
   * The outcome of the client processing a PUBLISH of `payload` on `topic`
   * now, and the state afterwards (the model moves on as the client will).
   */
  async predict(topic: string, payload: Uint8Array, retained: boolean, nowFn: () => number = Date.now): Promise<Prediction> {
    const s = this.#s;
    const delta = emptyDelta();
    const close = { hit: false, alternative: undefined as Outcome | undefined };
    // Grants need their plaintext before the clock is read (decryption is async).
    const control = this.#parseControl(topic);
    if (control !== undefined && control !== 'reserved' && control.kind === 'grant' && control.subject === s.id) await grantPlaintext(s, payload);
    const now = nowFn();
    // The client's maintain() (every second) wipes epochs whose grace period is over.
    for (const st of [...s.streams.values()]) purge(s, st, now);
    const checked = outcomeOf(() => this.#inbound(topic, payload, retained, now, delta, close));
    const outcome = this.#report(checked, topic, payload, retained, now, close);
    addOutcome(delta, outcome);
    if (close.hit) s.closeCalls++;
    return close.hit && close.alternative !== undefined ? { outcome, delta, alternative: close.alternative } : { outcome, delta };
  }

  // -------------------------------------------------------------- dispatch

  #parseControl(topic: string): ControlTopic {
    return parseControlTopic(this.#s.cfg.controlPrefix, topic);
  }

  #inbound(topic: string, payload: Uint8Array, retained: boolean, now: number, delta: Delta, close: CloseCall): Outcome {
    const s = this.#s;
    const control = this.#parseControl(topic);
    if (control === 'reserved') return 'none';
    if (control) {
      switch (control.kind) {
        case 'cert':
          return announcement(s, control.subject!, payload, now, close, (subject) => this.#openAwaiting(subject, now, delta, close));
        case 'crl':
          return revocationList(s, payload);
        case 'grant':
          if (control.subject !== s.id) return 'none';
          return grant(s, topic, payload, now, delta, close);
        case 'key-request':
          if (control.subject !== s.id) return 'none';
          return keyRequest(s, payload, now, close);
      }
    }
    return this.#application(topic, payload, retained, now, close);
  }

  /** Messages that waited for `subject`'s certificate are opened now (it was just trusted). */
  #openAwaiting(subject: string, now: number, delta: Delta, close: CloseCall): void {
    const s = this.#s;
    const waiting = s.awaiting.get(subject);
    if (waiting) {
      s.awaiting.delete(subject);
      s.awaitingCount -= waiting.length;
      s.awaitingBytes -= waiting.reduce((sum, m) => sum + awaitBytes(m), 0);
      for (const m of waiting) {
        const o = outcomeOf(() => this.#inbound(m.topic, m.bytes, m.retained, now, delta, close));
        addOutcome(delta, this.#report(o, m.topic, m.bytes, m.retained, now, close));
      }
    }
  }

  /**
   * What the client does with a failure: DUPLICATE is silent; UNKNOWN_SENDER of an envelope waits for a certificate
   * if it comes within AWAIT.waitMs of the latest connection and there is room (count and bytes, in all and per
   * sender), and is reported at once otherwise (an authentic message held for its key is 'held', never a failure).
   */
  #report(outcome: Outcome, topic: string, payload: Uint8Array, retained: boolean, now: number, close: CloseCall): Outcome {
    const s = this.#s;
    if (outcome === 'DUPLICATE') return 'duplicate';
    if (outcome === 'UNKNOWN_SENDER') {
      const sender = this.#claimedSender(payload);
      if (sender === undefined) return 'UNKNOWN_SENDER';
      const m = { topic, bytes: payload.slice(), retained, since: now };
      const list = s.awaiting.get(sender) ?? [];
      const bytes = awaitBytes(m);
      const room =
        s.awaitingCount < AWAIT.maxTotal &&
        s.awaitingBytes + bytes <= AWAIT.maxBytes &&
        list.length < AWAIT.maxPerSender &&
        list.reduce((sum, x) => sum + awaitBytes(x), 0) + bytes <= AWAIT.maxBytesPerSender;
      if (!room || s.connectedAt === undefined) return 'UNKNOWN_SENDER';
      const openUntil = s.connectedAt + AWAIT.waitMs;
      if (Math.abs(now - openUntil) <= s.cfg.timeMarginMs) {
        // Too close to the end of the wait after the connection to call: held (and reported by the timer later: an
        // uncertain timer report, as the model does not hold it), or reported now.
        near(s, now, openUntil, close, 'UNKNOWN_SENDER');
        s.uncertainExpired++;
        return 'await';
      }
      if (now > openUntil) return 'UNKNOWN_SENDER';
      list.push(m);
      s.awaiting.set(sender, list);
      s.awaitingCount++;
      s.awaitingBytes += bytes;
      return 'await';
    }
    return outcome;
  }

  #claimedSender(payload: Uint8Array): string | undefined {
    try {
      if (payload[0] === ENVELOPE_TYPE.group) return decodeGroup(payload).sender;
      if (payload[0] === ENVELOPE_TYPE.direct) return decodeDirect(payload, ENVELOPE_TYPE.direct).sender;
      if (payload[0] === ENVELOPE_TYPE.grant) return decodeDirect(payload, ENVELOPE_TYPE.grant).sender;
      if (payload[0] === ENVELOPE_TYPE.keyRequest) return decodeKeyRequest(payload).subscriber;
    } catch {
      // not an envelope
    }
    return undefined;
  }

  #application(topic: string, payload: Uint8Array, retained: boolean, now: number, close: CloseCall): Outcome {
    // The client delivers only what one of its subscriptions matches, checked before anything else.
    if (!this.#s.cfg.subscriptions.some((f) => topicMatches(f, topic))) return stop('NOT_SUBSCRIBED');
    if (payload.length === 0) return stop('MALFORMED');
    const type = payload[0];
    if (type === ENVELOPE_TYPE.group) return groupEnvelope(this.#s, topic, payload, retained, now, close, false);
    if (type === ENVELOPE_TYPE.direct) return directEnvelope(this.#s, topic, payload, now, close);
    return stop('MALFORMED');
  }
}
