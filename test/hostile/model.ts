// The expected outcome of every PUBLISH a SecureMqttClient processes, from a
// model of its state and the check order of docs/PROTOCOL.md (and of
// src/client/dispatch.ts). The hostile test asks the model
// about each packet just before the client processes it (packets are handled
// one at a time, in arrival order), so the model's state is exactly what the
// client has seen, and its clock is the client's.
//
// What the model takes from the SDK: the parsers (decodeGroup, decodeDirect,
// decodeKeyRequest, decodeAnnouncement, decodeRevocationList,
// decodeGrantPayload: fuzzed separately, in test/fuzz), the topic-filter
// functions, and openDirectEnvelope to read the plaintext of genuine grants
// (so it knows the epochs, first sequence numbers and ends a client holds).
// What it does not take: any verdict. Signatures are not checked: a message is
// "genuine" iff its bytes (and, for group envelopes, the topic it was sealed
// for) are exactly what an honest party or the test's own signer produced;
// everything else is a forgery. Order of checks, replay windows, epochs,
// grace, held messages, retained sessions, nonces, trust state and
// anti-rollback are all modelled here, independently of the client's code.

import { decodeAnnouncement } from '../../src/certs/announce.js';
import { mayPublish, maySubscribe, type Certificate, type TrustAnchor } from '../../src/certs/certificate.js';
import { decodeRevocationList, revocationEntryFor, type RevocationList } from '../../src/certs/revocation.js';
import { SecurityError, type ReasonCode } from '../../src/errors.js';
import type { Identity } from '../../src/identity/identity.js';
import { topicMatches } from '../../src/topic/grammar.js';
import { filtersOverlap } from '../../src/protocol/channels.js';
import { decodeDirect, openDirectEnvelope, type DirectFields } from '../../src/protocol/direct.js';
import { MAX_GRANT_PAYLOAD_BYTES, decodeGrantPayload, decodeKeyRequest, type GrantPayload } from '../../src/protocol/grant.js';
import { decodeGroup } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE } from '../../src/protocol/envelope.js';
import { Stop, dropExpiredEpochs, graceEnd, hashOf, installEpoch, outcomeOf, parseControlTopic, parseOr, stop, windowOf, type ControlTopic, type EpochChain, type EpochState, type Outcome, type ReplayWindow } from './oracle.js';

/** What one packet changes in a client's stats(): deliveries, silent duplicates, reported rejections. */
export interface Delta {
  delivered: number;
  duplicates: number;
  rejected: Partial<Record<ReasonCode, number>>;
}

export interface Prediction {
  /** What this packet itself comes to. */
  readonly outcome: Outcome;
  /** Everything it changes in stats() (held messages released by a grant included). */
  readonly delta: Delta;
  /** Another outcome that is also right (a time check within a few ms of its bound). */
  readonly alternative?: Outcome;
}

export const emptyDelta = (): Delta => ({ delivered: 0, duplicates: 0, rejected: {} });

export function addOutcome(d: Delta, o: Outcome): Delta {
  if (o === 'deliver') d.delivered++;
  else if (o === 'duplicate') d.duplicates++;
  else if (o !== 'none' && o !== 'held' && o !== 'await') d.rejected[o] = (d.rejected[o] ?? 0) + 1;
  return d;
}

export function sameDelta(a: Delta, b: Delta): boolean {
  if (a.delivered !== b.delivered || a.duplicates !== b.duplicates) return false;
  const keys = new Set([...Object.keys(a.rejected), ...Object.keys(b.rejected)]) as Set<ReasonCode>;
  for (const k of keys) if ((a.rejected[k] ?? 0) !== (b.rejected[k] ?? 0)) return false;
  return true;
}

/** The delta of a prediction with its outcome replaced by `alt`. */
export function alternativeDelta(d: Delta, outcome: Outcome, alt: Outcome): Delta {
  const out: Delta = { delivered: d.delivered, duplicates: d.duplicates, rejected: { ...d.rejected } };
  if (outcome === 'deliver') out.delivered--;
  else if (outcome === 'duplicate') out.duplicates--;
  else if (isRejection(outcome)) out.rejected[outcome] = (out.rejected[outcome] ?? 0) - 1;
  return addOutcome(out, alt);
}

/** True if what the client did is what the prediction says (or its alternative, for a close call). */
export function matches(p: Prediction, observed: Delta): boolean {
  if (sameDelta(p.delta, observed)) return true;
  return p.alternative !== undefined && sameDelta(alternativeDelta(p.delta, p.outcome, p.alternative), observed);
}

export function formatDelta(d: Delta): string {
  const parts: string[] = [];
  if (d.delivered) parts.push(`delivered ${d.delivered}`);
  if (d.duplicates) parts.push(`duplicates ${d.duplicates}`);
  for (const [k, v] of Object.entries(d.rejected)) if (v) parts.push(`${k} ${v}`);
  return parts.length ? parts.join(', ') : 'nothing';
}

const REJECTION = new Set<string>([
  'MALFORMED',
  'UNSUPPORTED_VERSION',
  'BAD_SIGNATURE',
  'DECRYPT_FAILED',
  'REPLAY',
  'DUPLICATE',
  'TOO_OLD',
  'FROM_FUTURE',
  'TOPIC_MISMATCH',
  'UNKNOWN_SENDER',
  'UNKNOWN_EPOCH',
  'STALE_EPOCH',
  'REVOKED',
  'EXPIRED',
  'NOT_AUTHORISED',
  'TOO_LARGE',
  'ROLLBACK',
  'WRONG_RECIPIENT',
]);
export const isRejection = (o: string): o is ReasonCode => REJECTION.has(o);

// ------------------------------------------------------------------ world

/**
 * What is genuine: bytes produced by an honest party (seen by the proxy on
 * the way into the broker) or by the test's own signer. A forger cannot
 * produce these without the keys, and any change to them breaks the signature.
 */
export class Genuine {
  /** Group envelopes: hash -> topics they were sealed for (the signature binds the topic). */
  readonly #group = new Map<string, Set<string>>();
  /** Everything else whose signature verifies (direct, grants, key requests, announcements, lists, certificates). */
  readonly #signed = new Set<string>();
  /** Genuine signatures over content that does not decrypt (the test's wrong-key messages). */
  readonly #undecryptable = new Set<string>();
  /** Grant plaintexts known without decryption (grants the test sealed itself). */
  readonly grantPlaintext = new Map<string, GrantPayload | Stop>();

  addGroup(bytes: Uint8Array, topic: string): void {
    const h = hashOf(bytes);
    let s = this.#group.get(h);
    if (!s) this.#group.set(h, (s = new Set()));
    s.add(topic);
  }

  addSigned(bytes: Uint8Array): void {
    this.#signed.add(hashOf(bytes));
  }

  addUndecryptable(bytes: Uint8Array, topic?: string): void {
    if (topic !== undefined) this.addGroup(bytes, topic);
    else this.addSigned(bytes);
    this.#undecryptable.add(hashOf(bytes));
  }

  isGroup(bytes: Uint8Array, topic: string): boolean {
    return this.#group.get(hashOf(bytes))?.has(topic) ?? false;
  }

  isSigned(bytes: Uint8Array): boolean {
    return this.#signed.has(hashOf(bytes));
  }

  decrypts(bytes: Uint8Array): boolean {
    return !this.#undecryptable.has(hashOf(bytes));
  }

  get size(): number {
    return this.#group.size + this.#signed.size;
  }
}

export interface ModelConfig {
  readonly identity: Identity;
  readonly certificate: Certificate;
  readonly anchor: TrustAnchor;
  readonly genuine: Genuine;
  /** Every certificate the world has (by subject, newest last): for decrypting genuine grants. */
  readonly certificateOf: (subject: string, serial?: number) => Certificate | undefined;
  readonly controlPrefix?: string;
  readonly maxAgeMs?: number;
  readonly clockSkewMs?: number;
  readonly retainedMaxAgeMs?: number;
  readonly graceMs?: number;
  readonly windowSize?: number;
  readonly maxHeldPerStream?: number;
  /** How close to a time bound (ms) an outcome counts as either (default 25). */
  readonly timeMarginMs?: number;
}

// ------------------------------------------------------------------ state

interface KeyEpoch extends EpochState {
  /** Which key was installed: a different key for a held epoch is a ROLLBACK. */
  readonly keyTag: string;
}

interface Held {
  readonly bytes: Uint8Array;
  readonly topic: string;
  readonly retained: boolean;
  readonly epoch: number;
}

interface StreamState extends EpochChain<KeyEpoch> {
  readonly sender: string;
  readonly channel: string;
  readonly senderKeyEpoch: number;
  held: Held[];
}

interface Need {
  epoch: number;
  readonly senderKeyEpoch: number;
}

interface Awaiting {
  readonly topic: string;
  readonly bytes: Uint8Array;
  readonly retained: boolean;
  readonly since: number;
}

const AWAIT = { maxTotal: 2_000, maxPerSender: 500, waitMs: 30_000 };

/** The model of one identity's client (its durable parts survive restart()). */
export class ClientModel {
  readonly id: string;
  readonly cfg: Required<Omit<ModelConfig, 'identity' | 'certificate' | 'anchor' | 'genuine' | 'certificateOf'>> & ModelConfig;
  #ownCert: Certificate;
  // Durable (storage): trust store, revocation list, replay windows.
  readonly #trust = new Map<string, Certificate>();
  #list: RevocationList | undefined;
  readonly #windows = new Map<string, ReplayWindow>();
  // Volatile (the KeyManager's and client's memory).
  #streams = new Map<string, StreamState>();
  #needed = new Map<string, Need>();
  #retainedSeen = new Set<string>();
  #nonces = new Map<string, number>();
  #awaiting = new Map<string, Awaiting[]>();
  #awaitingCount = 0;
  /** Awaiting messages that expired (the client reports them from its maintenance timer). */
  expiredAwaiting = 0;
  /** Awaiting messages that may or may not have been reported before the client was ended. */
  uncertainExpired = 0;
  /** Packets whose outcome depended on a time check too close to call (both outcomes accepted). */
  closeCalls = 0;

  constructor(config: ModelConfig) {
    this.cfg = {
      controlPrefix: 'pqc-iiot/v1',
      maxAgeMs: 5 * 60_000,
      clockSkewMs: 30_000,
      retainedMaxAgeMs: 24 * 60 * 60_000,
      graceMs: 30_000,
      windowSize: 1024,
      maxHeldPerStream: 1_000,
      timeMarginMs: 25,
      ...config,
    };
    this.id = config.identity.id;
    this.#ownCert = config.certificate;
    this.#trust.set(this.id, config.certificate);
  }

  /** A certificate the client was given in advance (options.certificates). */
  preload(cert: Certificate): void {
    this.#trust.set(cert.subject, cert);
  }

  /**
   * The client was ended (at `endedAt`) and a new one started on the same
   * storage: memory is gone, storage stays. Messages that waited for their
   * sender's certificate for longer than the wait were reported by the old
   * client's timer (which runs every second: those within a second of the
   * limit may or may not have been).
   */
  restart(endedAt: number = Date.now()): void {
    for (const list of this.#awaiting.values()) {
      for (const m of list) {
        const age = endedAt - m.since;
        if (age >= AWAIT.waitMs + 1_100) this.expiredAwaiting++;
        else if (age >= AWAIT.waitMs) this.uncertainExpired++;
      }
    }
    this.#streams = new Map();
    this.#needed = new Map<string, Need>();
    this.#retainedSeen = new Set();
    this.#nonces = new Map();
    this.#awaiting = new Map();
    this.#awaitingCount = 0;
  }

  /** A (re)connection: a new MQTT session starts a new retained session. */
  onConnect(sessionPresent: boolean): void {
    if (!sessionPresent) this.#retainedSeen = new Set();
  }

  /** Messages waiting for their sender's certificate. */
  get awaiting(): number {
    return this.#awaitingCount;
  }

  /** Epochs held for (sender, channel). */
  epochsOf(sender: string, channel: string): number[] {
    return [...(this.#streams.get(`${sender}\n${channel}`)?.epochs.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Keys still needed (held messages waiting for a grant). */
  get needsKeys(): number {
    return this.#needed.size;
  }

  /** Awaiting messages older than the wait at `now` move to expiredAwaiting (the client's timer does the same). */
  expireAwaiting(now: number): void {
    for (const [sender, list] of [...this.#awaiting]) {
      const kept = list.filter((m) => m.since > now - AWAIT.waitMs);
      const gone = list.length - kept.length;
      if (gone === 0) continue;
      this.expiredAwaiting += gone;
      this.#awaitingCount -= gone;
      if (kept.length) this.#awaiting.set(sender, kept);
      else this.#awaiting.delete(sender);
    }
  }

  /**
   * The outcome of the client processing a PUBLISH of `payload` on `topic`
   * now, and the state afterwards (the model moves on as the client will).
   */
  async predict(topic: string, payload: Uint8Array, retained: boolean, nowFn: () => number = Date.now): Promise<Prediction> {
    const delta = emptyDelta();
    const close = { hit: false, alternative: undefined as Outcome | undefined };
    // Grants need their plaintext before the clock is read (decryption is async).
    const control = this.#parseControl(topic);
    if (control !== undefined && control !== 'reserved' && control.kind === 'grant' && control.subject === this.id) await this.#grantPlaintext(payload);
    const now = nowFn();
    // The client's maintain() (every second) wipes epochs whose grace period is over.
    for (const st of [...this.#streams.values()]) this.#purge(st, now);
    const checked = outcomeOf(() => this.#inbound(topic, payload, retained, now, delta, close));
    const outcome = this.#report(checked, topic, payload, retained, now);
    addOutcome(delta, outcome);
    if (close.hit) this.closeCalls++;
    return close.hit && close.alternative !== undefined ? { outcome, delta, alternative: close.alternative } : { outcome, delta };
  }

  // -------------------------------------------------------------- dispatch

  #parseControl(topic: string): ControlTopic {
    return parseControlTopic(this.cfg.controlPrefix, topic);
  }

  #inbound(topic: string, payload: Uint8Array, retained: boolean, now: number, delta: Delta, close: { hit: boolean; alternative: Outcome | undefined }): Outcome {
    const control = this.#parseControl(topic);
    if (control === 'reserved') return 'none';
    if (control) {
      switch (control.kind) {
        case 'cert':
          return this.#announcement(control.subject!, payload, now, delta, close);
        case 'crl':
          return this.#revocationList(payload);
        case 'grant':
          if (control.subject !== this.id) return 'none';
          return this.#grant(topic, payload, now, delta, close);
        case 'key-request':
          if (control.subject !== this.id) return 'none';
          return this.#keyRequest(payload, now, close);
      }
    }
    return this.#application(topic, payload, retained, now, close);
  }

  /** What the client does with a failure: DUPLICATE is silent, UNKNOWN_SENDER of an envelope waits (an authentic message held for its key is 'held', never a failure). */
  #report(outcome: Outcome, topic: string, payload: Uint8Array, retained: boolean, now: number): Outcome {
    if (outcome === 'DUPLICATE') return 'duplicate';
    if (outcome === 'UNKNOWN_SENDER') {
      const sender = this.#claimedSender(payload);
      if (sender !== undefined && this.#awaitingCount < AWAIT.maxTotal) {
        const list = this.#awaiting.get(sender) ?? [];
        if (list.length < AWAIT.maxPerSender) {
          list.push({ topic, bytes: payload.slice(), retained, since: now });
          this.#awaiting.set(sender, list);
          this.#awaitingCount++;
          return 'await';
        }
      }
      return 'UNKNOWN_SENDER';
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

  // ---------------------------------------------------------------- trust

  /** TrustStore.get: UNKNOWN_SENDER, REVOKED, EXPIRED. */
  #certOf(subject: string, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Certificate {
    const cert = this.#trust.get(subject);
    if (!cert) return stop('UNKNOWN_SENDER');
    if (this.#list && revocationEntryFor(this.#list, cert)) return stop('REVOKED');
    this.#near(now, cert.notBefore, close, 'EXPIRED');
    this.#near(now, cert.notAfter, close, 'EXPIRED');
    if (now < cert.notBefore || now > cert.notAfter) return stop('EXPIRED');
    return cert;
  }

  /** Marks a time comparison within the margin as a close call. */
  #near(a: number, b: number, close: { hit: boolean; alternative: Outcome | undefined }, alt: Outcome): void {
    if (Math.abs(a - b) <= this.cfg.timeMarginMs) {
      close.hit = true;
      close.alternative ??= alt;
    }
  }

  #announcement(subject: string, payload: Uint8Array, now: number, delta: Delta, close: { hit: boolean; alternative: Outcome | undefined }): Outcome {
    if (payload.length === 0) return 'none';
    const a = parseOr(() => decodeAnnouncement(payload));
    const c = a.certificate;
    // store.check: certificate signature (issuer, suite, CA signature), validity, revocation, rollback.
    if (c.issuer !== this.cfg.anchor.id || c.signatureSuite !== this.cfg.anchor.suite) return stop('BAD_SIGNATURE');
    if (!this.cfg.genuine.isSigned(c.bytes)) return stop('BAD_SIGNATURE');
    this.#near(now, c.notBefore, close, 'EXPIRED');
    this.#near(now, c.notAfter, close, 'EXPIRED');
    if (now < c.notBefore || now > c.notAfter) return stop('EXPIRED');
    if (this.#list && revocationEntryFor(this.#list, c)) return stop('REVOKED');
    const known = this.#trust.get(c.subject);
    if (known) {
      if (c.keyEpoch < known.keyEpoch) return stop('ROLLBACK');
      if (c.keyEpoch === known.keyEpoch) {
        if (c.serial < known.serial) return stop('ROLLBACK');
        if (c.serial === known.serial && hashOf(c.bytes) !== hashOf(known.bytes)) return stop('ROLLBACK');
      }
    }
    // The subject's own signature over the announcement.
    if (!this.cfg.genuine.isSigned(payload)) return stop('BAD_SIGNATURE');
    const skew = 5 * 60_000;
    this.#near(a.timestamp, now + skew, close, 'FROM_FUTURE');
    if (a.timestamp > now + skew) return stop('FROM_FUTURE');
    this.#trust.set(c.subject, known && hashOf(known.bytes) === hashOf(c.bytes) ? known : c);
    if (c.subject !== subject) return stop('TOPIC_MISMATCH');
    // Messages that waited for this certificate are opened now.
    const waiting = this.#awaiting.get(c.subject);
    if (waiting) {
      this.#awaiting.delete(c.subject);
      this.#awaitingCount -= waiting.length;
      for (const m of waiting) {
        const o = outcomeOf(() => this.#inbound(m.topic, m.bytes, m.retained, now, delta, close));
        addOutcome(delta, this.#report(o, m.topic, m.bytes, m.retained, now));
      }
    }
    return 'none';
  }

  #revocationList(payload: Uint8Array): Outcome {
    if (payload.length === 0) return 'none';
    const l = parseOr(() => decodeRevocationList(payload));
    if (l.issuer !== this.cfg.anchor.id || l.signatureSuite !== this.cfg.anchor.suite) return stop('BAD_SIGNATURE');
    if (!this.cfg.genuine.isSigned(payload)) return stop('BAD_SIGNATURE');
    const current = this.#list;
    if (current) {
      if (l.number < current.number) return stop('ROLLBACK');
      if (l.number === current.number) {
        if (hashOf(l.bytes) === hashOf(current.bytes)) return 'none';
        return stop('ROLLBACK');
      }
    }
    const newly = [...this.#trust.values()].filter((c) => revocationEntryFor(l, c) && !(current && revocationEntryFor(current, c))).map((c) => c.subject);
    this.#list = l;
    // KeyManager.handleRevoked: keys held from a revoked publisher are dropped.
    for (const s of [...this.#streams.values()]) if (newly.includes(s.sender)) this.#dropStream(s);
    return 'none';
  }

  // ----------------------------------------------------------- application

  #application(topic: string, payload: Uint8Array, retained: boolean, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Outcome {
    if (payload.length === 0) return stop('MALFORMED');
    const type = payload[0];
    if (type === ENVELOPE_TYPE.group) return this.#group(topic, payload, retained, now, close, false);
    if (type === ENVELOPE_TYPE.direct) return this.#direct(topic, payload, now, close);
    return stop('MALFORMED');
  }

  #topicArg(topic: string): void {
    // checkTopicArg: a received topic longer than 1,024 UTF-8 bytes is a RangeError, reported as MALFORMED.
    if (Buffer.byteLength(topic, 'utf8') > 1024) stop('MALFORMED');
  }

  #window(id: string): ReplayWindow {
    return windowOf(this.#windows, id, this.cfg.windowSize);
  }

  /** The window's sequence verdict first, then the timestamp against the clock skew and `maxAgeMs`. */
  #sequenceThenTime(id: string, seq: number, ts: number, now: number, close: { hit: boolean; alternative: Outcome | undefined }, maxAgeMs: number): Outcome | undefined {
    const w = this.#windows.get(id);
    if (w) {
      const v = w.check(seq);
      if (v === 'duplicate') return 'DUPLICATE';
      if (v === 'replay') return 'REPLAY';
    }
    this.#near(ts, now + this.cfg.clockSkewMs, close, 'FROM_FUTURE');
    if (ts > now + this.cfg.clockSkewMs) return 'FROM_FUTURE';
    this.#near(ts, now - maxAgeMs, close, 'TOO_OLD');
    if (ts < now - maxAgeMs) return 'TOO_OLD';
    return undefined;
  }

  /** ReplayGuard.check (live): sequence first, then time. */
  #liveCheck(id: string, seq: number, ts: number, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Outcome | undefined {
    return this.#sequenceThenTime(id, seq, ts, now, close, this.cfg.maxAgeMs);
  }

  /** RetainedSession.check: the live window's sequence verdict, the retained time policy, once per session. */
  #retainedCheck(id: string, seq: number, ts: number, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Outcome | undefined {
    const verdict = this.#sequenceThenTime(id, seq, ts, now, close, this.cfg.retainedMaxAgeMs);
    if (verdict !== undefined) return verdict;
    if (this.#retainedSeen.has(`${id}#${seq}`)) return 'DUPLICATE';
    return undefined;
  }

  #groupCheck(id: string, seq: number, ts: number, retained: boolean, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Outcome | undefined {
    if (retained) return this.#retainedCheck(id, seq, ts, now, close);
    if (this.#retainedSeen.has(`${id}#${seq}`)) return 'DUPLICATE';
    return this.#liveCheck(id, seq, ts, now, close);
  }

  #group(topic: string, payload: Uint8Array, retained: boolean, now: number, close: { hit: boolean; alternative: Outcome | undefined }, releasing: boolean): Outcome {
    this.#topicArg(topic);
    const f = parseOr(() => decodeGroup(payload));
    if (!topicMatches(f.channel, topic)) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(f.sender, now, close);
    if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) return stop('NOT_AUTHORISED');
    const id = `${f.sender}\n${'g' + cert.keyEpoch}:${f.channel}\n${f.epoch}`;
    const genuine = this.cfg.genuine.isGroup(payload, topic);
    // The epoch lookup.
    const key = `${f.sender}\n${f.channel}`;
    const s = this.#streams.get(key);
    let lookup: Outcome | undefined;
    if (!s || s.senderKeyEpoch < cert.keyEpoch) lookup = 'UNKNOWN_EPOCH';
    else if (s.senderKeyEpoch > cert.keyEpoch) lookup = 'STALE_EPOCH';
    else {
      const e = s.epochs.get(f.epoch);
      if (!e) {
        const end = this.#graceEnd(s, f.epoch);
        this.#near(now, end, close, 'STALE_EPOCH');
        lookup = now <= end ? 'UNKNOWN_EPOCH' : 'STALE_EPOCH';
      } else {
        this.#near(now, e.expiresAt, close, 'STALE_EPOCH');
        this.#near(now, e.notAfter + this.cfg.graceMs, close, 'STALE_EPOCH');
        if (now > e.expiresAt || now > e.notAfter + this.cfg.graceMs) {
          this.#purge(s, now);
          lookup = 'STALE_EPOCH';
        } else if (f.seq < e.firstSeq) lookup = 'REPLAY';
        else if (f.timestamp > e.notAfter) lookup = 'STALE_EPOCH';
      }
    }
    if (lookup !== undefined) {
      if (lookup === 'UNKNOWN_EPOCH') {
        const verdict = this.#groupCheck(id, f.seq, f.timestamp, retained, now, close);
        // A copy of a message already accepted is a DUPLICATE with or without the key (tampered: BAD_SIGNATURE).
        if (verdict === 'DUPLICATE') return stop(genuine ? 'DUPLICATE' : 'BAD_SIGNATURE');
        if (verdict === undefined && genuine) {
          this.#hold(cert.keyEpoch, f.sender, f.channel, f.epoch, { bytes: payload.slice(), topic, retained, epoch: f.epoch });
          return releasing ? stop('UNKNOWN_EPOCH') : 'held';
        }
      }
      return stop(lookup);
    }
    const replay = this.#groupCheck(id, f.seq, f.timestamp, retained, now, close);
    if (replay !== undefined) {
      if (replay === 'DUPLICATE' && !genuine) return stop('BAD_SIGNATURE');
      return stop(replay);
    }
    if (!genuine) return stop('BAD_SIGNATURE');
    if (!this.cfg.genuine.decrypts(payload)) return stop('DECRYPT_FAILED');
    if (retained) this.#retainedSeen.add(`${id}#${f.seq}`);
    else this.#window(id).accept(f.seq);
    return 'deliver';
  }

  #hold(senderKeyEpoch: number, sender: string, channel: string, epoch: number, h: Held): void {
    const key = `${sender}\n${channel}`;
    let s = this.#streams.get(key);
    if (!s || s.senderKeyEpoch < senderKeyEpoch) {
      if (s) this.#dropStream(s);
      s = { sender, channel, senderKeyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
      this.#streams.set(key, s);
    }
    s.held.push(h);
    if (s.held.length > this.cfg.maxHeldPerStream) s.held.shift();
    const n = this.#needed.get(key);
    this.#needed.set(key, { epoch: Math.max(epoch, n && n.senderKeyEpoch === senderKeyEpoch ? n.epoch : 0), senderKeyEpoch });
  }

  #dropStream(s: StreamState): void {
    this.#streams.delete(`${s.sender}\n${s.channel}`);
    this.#needed.delete(`${s.sender}\n${s.channel}`);
  }

  #graceEnd(s: StreamState, epoch: number): number {
    return graceEnd(s, epoch, this.cfg.graceMs);
  }

  /** Held messages that can no longer be opened are dropped; the need ends when nothing waits. */
  #settleHeld(s: StreamState, now: number): void {
    s.held = s.held.filter((h) => !s.epochs.has(h.epoch) && now <= this.#graceEnd(s, h.epoch));
    const key = `${s.sender}\n${s.channel}`;
    const n = this.#needed.get(key);
    if (!n || n.senderKeyEpoch > s.senderKeyEpoch) return;
    if (n.senderKeyEpoch < s.senderKeyEpoch || (s.held.length === 0 && n.epoch <= s.latest)) this.#needed.delete(key);
    else if (s.held.length > 0) n.epoch = Math.max(...s.held.map((h) => h.epoch));
  }

  #purge(s: StreamState, now: number): void {
    dropExpiredEpochs(s, now, this.cfg.graceMs);
    this.#settleHeld(s, now);
  }

  #direct(topic: string, payload: Uint8Array, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Outcome {
    this.#topicArg(topic);
    const f = parseOr(() => decodeDirect(payload, ENVELOPE_TYPE.direct));
    if (f.recipient !== this.id || f.recipientKeyEpoch !== this.#ownCert.keyEpoch) return stop('WRONG_RECIPIENT');
    if (f.topic !== topic) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(f.sender, now, close);
    if (!mayPublish(cert, f.topic)) return stop('NOT_AUTHORISED');
    const id = this.#directChecks(f, cert, payload, now, close);
    this.#window(id).accept(f.seq);
    return 'deliver';
  }

  /** What direct envelopes and grants check alike once the sender's certificate is known: replay window, signature, decryption. Returns the window's id. */
  #directChecks(f: DirectFields, cert: Certificate, payload: Uint8Array, now: number, close: { hit: boolean; alternative: Outcome | undefined }): string {
    const id = `${f.sender}\nd${cert.keyEpoch}\n0`;
    const genuine = this.cfg.genuine.isSigned(payload);
    const replay = this.#liveCheck(id, f.seq, f.timestamp, now, close);
    if (replay !== undefined) {
      if (replay === 'DUPLICATE' && !genuine) return stop('BAD_SIGNATURE');
      return stop(replay);
    }
    if (!genuine) return stop('BAD_SIGNATURE');
    if (!this.cfg.genuine.decrypts(payload)) return stop('DECRYPT_FAILED');
    return id;
  }

  // ---------------------------------------------------------------- grants

  async #grantPlaintext(payload: Uint8Array): Promise<void> {
    const g = this.cfg.genuine;
    const h = hashOf(payload);
    if (g.grantPlaintext.has(h) || !g.isSigned(payload)) return;
    let f;
    try {
      f = decodeDirect(payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES);
    } catch {
      return;
    }
    const sender = this.cfg.certificateOf(f.sender);
    if (!sender) return;
    try {
      const { inspected } = await openDirectEnvelope(
        payload,
        ENVELOPE_TYPE.grant,
        {
          recipient: this.cfg.identity,
          receivedTopic: f.topic,
          trust: { get: () => sender },
          now: f.timestamp,
          replay: { check: () => ({ ok: true }), accept: async () => undefined },
          maxPayloadBytes: MAX_GRANT_PAYLOAD_BYTES,
        },
        (plaintext) => {
          try {
            return decodeGrantPayload(plaintext.slice());
          } catch (err) {
            return new Stop(err instanceof SecurityError ? err.code : 'MALFORMED');
          }
        },
      );
      g.grantPlaintext.set(h, inspected);
    } catch {
      // Not for us (another recipient's grant): the model never needs its plaintext.
    }
  }

  #grant(topic: string, payload: Uint8Array, now: number, delta: Delta, close: { hit: boolean; alternative: Outcome | undefined }): Outcome {
    this.#topicArg(topic);
    const f = parseOr(() => decodeDirect(payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES));
    if (f.recipient !== this.id || f.recipientKeyEpoch !== this.#ownCert.keyEpoch) return stop('WRONG_RECIPIENT');
    if (f.topic !== topic) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(f.sender, now, close);
    const id = this.#directChecks(f, cert, payload, now, close);
    const g = this.cfg.genuine.grantPlaintext.get(hashOf(payload));
    if (g === undefined) throw new Error(`model: no plaintext for a genuine grant to ${this.id} from ${f.sender}`);
    if (g instanceof Stop) return stop(g.outcome);
    if (!cert.publish.includes(g.channel)) return stop('NOT_AUTHORISED');
    this.#near(g.notAfter + this.cfg.graceMs, now, close, 'STALE_EPOCH');
    if (g.notAfter + this.cfg.graceMs < now) return stop('STALE_EPOCH');
    const key = `${cert.subject}\n${g.channel}`;
    const s = this.#streams.get(key);
    const held = s && s.senderKeyEpoch === cert.keyEpoch ? s.epochs.get(g.epoch) : undefined;
    if (s && s.senderKeyEpoch > cert.keyEpoch) return stop('STALE_EPOCH');
    if (s && s.senderKeyEpoch === cert.keyEpoch && !held) {
      const end = this.#graceEnd(s, g.epoch);
      this.#near(now, end, close, 'STALE_EPOCH');
      if (now > end) return stop('STALE_EPOCH');
    }
    const keyTag = hashOf(g.epochKey);
    if (held && held.keyTag !== keyTag) return stop('ROLLBACK');
    this.#window(id).accept(f.seq);
    // Install (KeyManager.#install).
    let st = s;
    if (st && st.senderKeyEpoch < cert.keyEpoch) {
      this.#dropStream(st);
      st = undefined;
    }
    if (!st) {
      st = { sender: cert.subject, channel: g.channel, senderKeyEpoch: cert.keyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
      this.#streams.set(key, st);
    }
    installEpoch(st, g.epoch, now, this.cfg.graceMs, { firstSeq: g.firstSeq, notAfter: g.notAfter, keyTag });
    const waiting = st.held.filter((h) => h.epoch === g.epoch);
    st.held = st.held.filter((h) => h.epoch !== g.epoch);
    this.#settleHeld(st, now);
    // Held messages of this epoch are opened again; failures are dropped silently.
    for (const h of waiting) if (outcomeOf(() => this.#group(h.topic, h.bytes, h.retained, now, close, true)) === 'deliver') delta.delivered++;
    return 'none';
  }

  // ---------------------------------------------------------- key requests

  #keyRequest(payload: Uint8Array, now: number, close: { hit: boolean; alternative: Outcome | undefined }): Outcome {
    const f = parseOr(() => decodeKeyRequest(payload));
    if (f.publisher !== this.id) return stop('WRONG_RECIPIENT');
    const cert = this.#certOf(f.subscriber, now, close);
    if (!maySubscribe(cert, f.filter)) return stop('NOT_AUTHORISED');
    this.#near(f.timestamp, now + this.cfg.clockSkewMs, close, 'FROM_FUTURE');
    if (f.timestamp > now + this.cfg.clockSkewMs) return stop('FROM_FUTURE');
    this.#near(f.timestamp, now - this.cfg.maxAgeMs, close, 'TOO_OLD');
    if (f.timestamp < now - this.cfg.maxAgeMs) return stop('TOO_OLD');
    const genuine = this.cfg.genuine.isSigned(payload);
    const nonce = `${f.subscriber}\n${Buffer.from(f.nonce).toString('hex')}`;
    const expires = this.#nonces.get(nonce);
    if (expires !== undefined && expires >= now) return stop(genuine ? 'DUPLICATE' : KEY_REQUEST_TAMPERED_DUPLICATE);
    if (!genuine) return stop('BAD_SIGNATURE');
    this.#nonces.set(nonce, f.timestamp + this.cfg.maxAgeMs + this.cfg.clockSkewMs);
    const overlapping = this.#ownCert.publish.filter((c) => filtersOverlap(f.filter, c));
    if (overlapping.length === 0) return 'none';
    if (!overlapping.some((c) => maySubscribe(cert, c))) return stop('NOT_AUTHORISED');
    return 'none';
  }
}

/**
 * What a tampered copy of a key request whose nonce was already seen comes to.
 * docs/PROTOCOL.md checks the nonce before the signature; the envelopes'
 * rule ("already seen: DUPLICATE if the signature verifies, else
 * BAD_SIGNATURE") makes it BAD_SIGNATURE.
 */
export const KEY_REQUEST_TAMPERED_DUPLICATE: Outcome = 'BAD_SIGNATURE';
