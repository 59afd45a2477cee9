// The oracle of the amortised hostile-broker run (amortised-hostile.test.ts):
// a model of one subscriber with `acceptAmortised` that gives, from the check
// order of docs/PROTOCOL.md ("Amortised mode", the signed group envelope's
// table, and src/client/dispatch.ts), what every PUBLISH must
// come to, and what the hold timer must reject and when.
//
// Like test/hostile/model.ts, it takes the SDK's parsers (fuzzed separately)
// and never a verdict. Authenticity is decided by provenance, not by checking:
// a manifest verifies iff its bytes, on that topic, are what an honest
// publisher sent to the broker; an amortised envelope decrypts iff its bytes,
// on that topic, were sealed with the real epoch key (by the honest publisher
// or by the test playing an insider); a signed envelope verifies iff it is
// what an honest publisher sent. Entry digests are computed here with node's
// SHAKE-256 from the documented formula, not with the SDK's helper.
//
// The hold buffer is modelled from its documented rules, not from the
// receiver's code: per lane (sender, key epoch, channel), the base (highest
// number a verified manifest listed), at most maxHeldAhead messages numbered
// more than maxAhead above it, quotas in number and bytes per lane and over
// all, room made by rejecting the highest number first (of equal ones, the
// latest to arrive), a message that would be the first to go refused before
// decryption (TOO_LARGE); a number a stored manifest lists belongs to that
// manifest's message, whatever the topic or epoch of a copy.
//
// The model and the client read one clock (the scenario gives each client a
// clock that returns one value per synchronous run), and the scenario calls
// predict() in the same synchronous run in which the client starts on the
// packet, and expire() in the same run as the client's hold timer: time-based
// outcomes (held messages expiring, stored manifests being forgotten) are
// therefore exact, not close calls.

import { createHash } from 'node:crypto';
import { decodeAnnouncement } from '../../src/certs/announce.js';
import { mayPublish, type Certificate } from '../../src/certs/certificate.js';
import { decodeRevocationList } from '../../src/certs/revocation.js';
import type { ReasonCode } from '../../src/errors.js';
import { topicMatches } from '../../src/topic/grammar.js';
import { MANIFEST_TYPE, decodeAmortised, decodeManifest } from '../../src/protocol/amortised.js';
import { decodeDirect } from '../../src/protocol/direct.js';
import { MAX_GRANT_PAYLOAD_BYTES, decodeKeyRequest, type GrantPayload } from '../../src/protocol/grant.js';
import { decodeGroup } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE, FLAGS } from '../../src/protocol/envelope.js';
import { dropExpiredEpochs, graceEnd, hashOf, installEpoch, outcomeOf, parseControlTopic, parseOr, stop, windowOf, type ControlTopic, type EpochChain, type Outcome, type ReplayWindow } from './oracle.js';

/** Who put a message into the subscriber: an honest publish (its id) or an attack (its kind), and which packet. */
export interface Origin {
  readonly honest?: number;
  readonly attack?: string;
  readonly packet: number;
}

/** An amortised message held for its manifest (the model's copy of the client's hold buffer). */
export interface HeldItem {
  readonly stream: string;
  /** sender \n key epoch \n channel: the publisher's numbering unit, which the hold bounds are kept per. */
  readonly lane: string;
  readonly window: string;
  readonly sender: string;
  readonly channel: string;
  readonly topic: string;
  readonly epoch: number;
  readonly seq: number;
  readonly timestamp: number;
  readonly digest: string;
  readonly heldAt: number;
  /** Plaintext bytes (ciphertext less the 16-byte tag). */
  readonly size: number;
  /** Arrival order (of equal numbers, the latest goes first). */
  readonly order: number;
  readonly origin: Origin;
}

/** A delivery: `sender|topic|epoch|seq`. */
export const deliveryKey = (sender: string, topic: string, epoch: number, seq: number): string => `${sender}|${topic}|${epoch}|${seq}`;

export interface Prediction {
  readonly outcome: Outcome;
  /** Deliveries this packet causes (itself, or the held messages a manifest releases), in order. */
  readonly delivered: { key: string; origin: Origin }[];
  duplicates: number;
  readonly rejected: Partial<Record<ReasonCode, number>>;
  /** Held messages a manifest settled as forgeries (BAD_SIGNATURE now). */
  readonly forged: HeldItem[];
  /** Held messages the hold bounds rejected (TOO_LARGE now): the farthest ahead. */
  readonly evicted: HeldItem[];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const utf8 = new TextEncoder();
const ENTRY_LABEL = utf8.encode('pqc-iiot/v1/amortised/entry');

/** SHAKE-256(label || string16(topic) || envelope, 32), docs/PROTOCOL.md "Amortised envelope". */
export function modelDigest(topic: string, envelope: Uint8Array): string {
  const t = utf8.encode(topic);
  const len = new Uint8Array([t.length >> 8, t.length & 0xff]);
  return createHash('shake256', { outputLength: 32 }).update(ENTRY_LABEL).update(len).update(t).update(envelope).digest('hex');
}

/** What is authentic, by provenance (see the file comment). */
export class Provenance {
  readonly #manifests = new Set<string>();
  readonly #sealed = new Set<string>();
  readonly #signed = new Set<string>();
  /** Grant plaintexts by grant hash (decrypted by the scenario with the recipient's identity). */
  readonly grants = new Map<string, GrantPayload>();

  addManifest(bytes: Uint8Array, topic: string): void {
    this.#manifests.add(`${hashOf(bytes)}|${topic}`);
  }
  /** An amortised envelope sealed under the real epoch key for `topic` (honest, or an insider's forgery). */
  addSealed(bytes: Uint8Array, topic: string): void {
    this.#sealed.add(`${hashOf(bytes)}|${topic}`);
  }
  addSigned(bytes: Uint8Array, topic: string): void {
    this.#signed.add(`${hashOf(bytes)}|${topic}`);
  }
  manifestVerifies(bytes: Uint8Array, topic: string): boolean {
    return this.#manifests.has(`${hashOf(bytes)}|${topic}`);
  }
  decrypts(bytes: Uint8Array, topic: string): boolean {
    return this.#sealed.has(`${hashOf(bytes)}|${topic}`);
  }
  signedVerifies(bytes: Uint8Array, topic: string): boolean {
    return this.#signed.has(`${hashOf(bytes)}|${topic}`);
  }
}

export interface AmortisedModelConfig {
  readonly id: string;
  /** Every certificate the client knows (preloaded; the run has no revocations or expiries). */
  readonly certificates: readonly Certificate[];
  readonly provenance: Provenance;
  readonly holdMs: number;
  readonly maxManifests: number;
  readonly maxHeld: number;
  /** The client's acceptAmortised bounds (AMORTISED_DEFAULTS where the client is given none). */
  readonly maxHeldPerChannel: number;
  readonly maxHeldBytes: number;
  readonly maxHeldBytesPerChannel: number;
  readonly maxAhead: number;
  readonly maxHeldAhead: number;
  readonly graceMs: number;
  readonly controlPrefix?: string;
  /** The client's subscriptions (a message on a topic none matches is NOT_SUBSCRIBED). */
  readonly subscriptions: readonly string[];
  readonly maxAgeMs?: number;
  readonly clockSkewMs?: number;
  readonly windowSize?: number;
}

interface KeyStream extends EpochChain {
  readonly sender: string;
  readonly channel: string;
  /** Authentic messages (signed envelopes, manifests) held for a grant: only their epoch matters here. */
  held: { epoch: number; bytes: Uint8Array; topic: string; kind: 'signed' | 'manifest'; origin: Origin }[];
}

interface StoredManifest {
  readonly first: number;
  readonly last: number;
  readonly bySeq: Map<number, string>;
  readonly until: number;
  readonly id: string;
  readonly stream: string;
  readonly lane: string;
}

/** Of two held messages, the one that goes first: the higher number, else the later arrival. */
const firstToGo = (a: HeldItem, b: HeldItem): HeldItem => (a.seq > b.seq || (a.seq === b.seq && a.order > b.order) ? a : b);

/** The model of one subscriber's client (memory only: the run has no restarts). */
export class AmortisedModel {
  readonly id: string;
  readonly #c: Required<AmortisedModelConfig>;
  readonly #trust = new Map<string, Certificate>();
  readonly #windows = new Map<string, ReplayWindow>();
  readonly #streams = new Map<string, KeyStream>();
  readonly #needed = new Map<string, number>();
  readonly #held = new Map<string, HeldItem[]>();
  #heldCount = 0;
  /** Held messages per lane (a lane exists while it holds something; in the order lanes were created). */
  readonly #lanes = new Map<string, HeldItem[]>();
  #order = 0;
  /** Per lane, the highest number a verified manifest listed. */
  readonly #bases = new Map<string, number>();
  /** Per lane, what the stored manifests list: number -> the first stored manifest listing it, and the digest. */
  readonly #listed = new Map<string, Map<number, { m: StoredManifest; digest: string }>>();
  readonly #manifests = new Map<string, StoredManifest[]>();
  readonly #manifestIds = new Set<string>();
  #manifestCount = 0;
  /** When the client's memory-only replay state began (the restart rule). */
  #since = -Infinity;
  /** Messages from unknown senders the client waits for (none expected: the run never creates them on purpose). */
  awaiting = 0;

  constructor(config: AmortisedModelConfig) {
    this.#c = { controlPrefix: 'pqc-iiot/v1', maxAgeMs: 5 * 60_000, clockSkewMs: 30_000, windowSize: 1024, ...config };
    this.id = config.id;
    for (const c of config.certificates) this.#trust.set(c.subject, c);
  }

  get heldCount(): number {
    return this.#heldCount;
  }
  /** Held items, for the end-of-run check (all must have been settled). */
  heldItems(): HeldItem[] {
    return [...this.#held.values()].flat();
  }
  get needsKeys(): number {
    return this.#needed.size;
  }
  epochsOf(sender: string, channel: string): number[] {
    return [...(this.#streams.get(`${sender}\n${channel}`)?.epochs.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The outcome of the client processing this PUBLISH now, and the state afterwards. */
  predict(topic: string, payload: Uint8Array, retained: boolean, now: number, origin: Origin): Prediction {
    const p: Prediction = { outcome: 'none', delivered: [], duplicates: 0, rejected: {}, forged: [], evicted: [] };
    for (const s of this.#streams.values()) this.#purge(s, now);
    let outcome = outcomeOf(() => this.#inbound(topic, payload, retained, now, origin, p));
    // SecureMqttClient.#reject: DUPLICATE is silent; UNKNOWN_SENDER waits for a certificate; UNKNOWN_EPOCH of an
    // amortised message is silent while a key is needed (a signed one that is authentic is 'held', never a failure).
    if (outcome === 'DUPLICATE') outcome = 'duplicate';
    else if (outcome === 'UNKNOWN_SENDER') {
      outcome = 'await';
      this.awaiting++;
    } else if (outcome === 'UNKNOWN_EPOCH' && this.#needed.size > 0 && payload[0] === ENVELOPE_TYPE.group && payload[3] === FLAGS.amortised) outcome = 'none';
    if (outcome === 'deliver') p.delivered.unshift({ key: this.#lastDelivery!, origin });
    else if (outcome === 'duplicate') p.duplicates++;
    else if (outcome !== 'none' && outcome !== 'held' && outcome !== 'await') p.rejected[outcome] = (p.rejected[outcome] ?? 0) + 1;
    return { ...p, outcome };
  }

  /**
   * The client's hold timer ran at `now` (AmortisedReceiver.expire): stored manifests older than holdMs are
   * forgotten, held messages at least holdMs old are rejected (BAD_SIGNATURE). Returns those.
   */
  expire(now: number): HeldItem[] {
    for (const [k, l] of [...this.#manifests]) {
      for (const m of [...l]) if (now > m.until) this.#dropManifest(k, m);
    }
    const out: HeldItem[] = [];
    for (const l of [...this.#held.values()]) out.push(...l.filter((h) => now - h.heldAt >= this.#c.holdMs));
    for (const h of out) this.#unhold(h);
    return out;
  }

  /** A grant addressed to us (its plaintext known): installs the epoch (honest grants only in this run). */
  #grant(payload: Uint8Array, now: number, origin: Origin, p: Prediction): Outcome {
    const f = parseOr(() => decodeDirect(payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES));
    if (f.recipient !== this.id) return stop('WRONG_RECIPIENT');
    const g = this.#c.provenance.grants.get(hashOf(payload));
    if (!g) throw new Error(`amortised model: a grant to ${this.id} the scenario did not decrypt (attacks on grants are not part of this run)`);
    const key = `${f.sender}\n${g.channel}`;
    let s = this.#streams.get(key);
    if (s && !s.epochs.has(g.epoch) && g.epoch <= s.latest && now > this.#graceEnd(s, g.epoch)) return stop('STALE_EPOCH');
    if (!s) this.#streams.set(key, (s = { sender: f.sender, channel: g.channel, latest: 0, floor: 0, epochs: new Map(), held: [] }));
    installEpoch(s, g.epoch, now, this.#c.graceMs, { firstSeq: g.firstSeq, notAfter: g.notAfter });
    const waiting = s.held.filter((h) => h.epoch === g.epoch);
    s.held = s.held.filter((h) => h.epoch !== g.epoch);
    this.#settleHeld(s, now);
    // Held messages of this epoch are opened again (KeyManager.acceptGrant); failures are silent; manifests fail (not type M).
    for (const h of waiting) {
      if (h.kind !== 'signed') continue;
      if (outcomeOf(() => this.#signedGroup(h.topic, h.bytes, now, h.origin, true)) === 'deliver') p.delivered.push({ key: this.#lastDelivery!, origin: h.origin });
    }
    return 'none';
  }

  // ------------------------------------------------------------ dispatch

  #control(topic: string): ControlTopic {
    return parseControlTopic(this.#c.controlPrefix, topic);
  }

  #inbound(topic: string, b: Uint8Array, retained: boolean, now: number, origin: Origin, p: Prediction): Outcome {
    const control = this.#control(topic);
    if (control === 'reserved') return 'none';
    if (control) {
      if (control.kind === 'cert') {
        if (b.length === 0) return 'none';
        const a = parseOr(() => decodeAnnouncement(b));
        const known = this.#trust.get(a.certificate.subject);
        // Only the clients' own (preloaded, identical) announcements are honest traffic here.
        if (known && hashOf(known.bytes) === hashOf(a.certificate.bytes) && a.certificate.subject === control.subject) return 'none';
        throw new Error(`amortised model: an announcement it does not model on ${topic}`);
      }
      if (control.kind === 'crl') {
        if (b.length === 0) return 'none';
        parseOr(() => decodeRevocationList(b));
        throw new Error('amortised model: a revocation list (the run has none)');
      }
      if (control.subject !== this.id) return 'none';
      if (control.kind === 'grant') return this.#grant(b, now, origin, p);
      parseOr(() => decodeKeyRequest(b));
      throw new Error('amortised model: a key request to a subscriber that parses');
    }
    // The client delivers only what one of its subscriptions matches, checked before anything else.
    if (!this.#c.subscriptions.some((f) => topicMatches(f, topic))) return stop('NOT_SUBSCRIBED');
    if (Buffer.byteLength(topic, 'utf8') > 1024) return stop('MALFORMED');
    const type = b[0];
    if ((type === ENVELOPE_TYPE.group && b[3] === FLAGS.amortised) || type === MANIFEST_TYPE) {
      if (retained) return stop('UNSUPPORTED_VERSION');
      return type === MANIFEST_TYPE ? this.#manifest(topic, b, now, p) : this.#amortised(topic, b, now, origin, p);
    }
    if (type === ENVELOPE_TYPE.group) {
      if (retained) throw new Error('amortised model: retained signed envelopes are not modelled');
      return this.#signedGroup(topic, b, now, origin, false);
    }
    if (type === ENVELOPE_TYPE.direct) return this.#direct(topic, b, now);
    return stop('MALFORMED');
  }

  #certOf(subject: string): Certificate {
    const c = this.#trust.get(subject);
    if (!c) return stop('UNKNOWN_SENDER');
    return c;
  }

  #window(id: string): ReplayWindow {
    return windowOf(this.#windows, id, this.#c.windowSize);
  }

  /** ReplayGuard.check, live: sequence first, then time. */
  #liveCheck(id: string, seq: number, ts: number, now: number): Outcome | undefined {
    const v = this.#windows.get(id)?.check(seq);
    if (v === 'duplicate') return 'DUPLICATE';
    if (v === 'replay') return 'REPLAY';
    if (ts > now + this.#c.clockSkewMs) return 'FROM_FUTURE';
    if (ts < now - this.#c.maxAgeMs) return 'TOO_OLD';
    if (ts < this.#since - this.#c.clockSkewMs) return 'TOO_OLD'; // the restart rule (memory-only state)
    return undefined;
  }

  /** The client is being connected: its replay state (memory only) begins now, give or take a few ms. */
  starting(now: number): void {
    this.#since = now;
  }

  /** KeyManager.#lookup: the epoch's key, or why not. */
  #lookup(sender: string, channel: string, epoch: number, seq: number, ts: number, now: number): Outcome | undefined {
    const s = this.#streams.get(`${sender}\n${channel}`);
    if (!s) return 'UNKNOWN_EPOCH';
    const e = s.epochs.get(epoch);
    if (!e) return now <= this.#graceEnd(s, epoch) ? 'UNKNOWN_EPOCH' : 'STALE_EPOCH';
    if (now > e.expiresAt || now > e.notAfter + this.#c.graceMs) {
      this.#purge(s, now);
      return 'STALE_EPOCH';
    }
    if (seq < e.firstSeq) return 'REPLAY';
    if (ts > e.notAfter) return 'STALE_EPOCH';
    return undefined;
  }

  #graceEnd(s: KeyStream, epoch: number): number {
    return graceEnd(s, epoch, this.#c.graceMs);
  }

  #purge(s: KeyStream, now: number): void {
    dropExpiredEpochs(s, now, this.#c.graceMs);
    this.#settleHeld(s, now);
  }

  #settleHeld(s: KeyStream, now: number): void {
    s.held = s.held.filter((h) => !s.epochs.has(h.epoch) && now <= this.#graceEnd(s, h.epoch));
    const key = `${s.sender}\n${s.channel}`;
    const n = this.#needed.get(key);
    if (n === undefined) return;
    if (s.held.length === 0 && n <= s.latest) this.#needed.delete(key);
    else if (s.held.length > 0) this.#needed.set(key, Math.max(...s.held.map((h) => h.epoch)));
  }

  /** KeyManager.#keyMissing: an authentic message of an epoch we have no key for. */
  #keyMissing(sender: string, channel: string, epoch: number, held: KeyStream['held'][number]): void {
    const key = `${sender}\n${channel}`;
    let s = this.#streams.get(key);
    if (!s) this.#streams.set(key, (s = { sender, channel, latest: 0, floor: 0, epochs: new Map(), held: [] }));
    s.held.push(held);
    this.#needed.set(key, Math.max(epoch, this.#needed.get(key) ?? 0));
  }

  #lastDelivery: string | undefined;

  // ------------------------------------------------------- amortised path

  #amortised(topic: string, b: Uint8Array, now: number, origin: Origin, p: Prediction): Outcome {
    const f = parseOr(() => decodeAmortised(b));
    if (!topicMatches(f.channel, topic)) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(f.sender);
    if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) return stop('NOT_AUTHORISED');
    // Unknown epoch: rejected, not held, no key request (nothing authenticates it).
    const lk = this.#lookup(f.sender, f.channel, f.epoch, f.seq, f.timestamp, now);
    if (lk !== undefined) return stop(lk);
    const stream = `${f.sender}\n${f.channel}\n${topic}\n${f.epoch}`;
    const lane = `${f.sender}\n${cert.keyEpoch}\n${f.channel}`;
    const window = `${f.sender}\ng${cert.keyEpoch}:${f.channel}\n${f.epoch}`;
    const digest = modelDigest(topic, b);
    const cov = this.#coverage(stream, lane, f.seq, digest);
    if (cov === 'mismatch') return stop('BAD_SIGNATURE');
    const v = this.#liveCheck(window, f.seq, f.timestamp, now);
    if (v !== undefined) return stop(v);
    if (cov === 'uncovered' && (this.#held.get(stream) ?? []).some((h) => h.seq === f.seq && h.digest === digest)) return stop('DUPLICATE');
    // The hold bounds, before decryption: refused if it would be the first to go.
    const size = Math.max(0, f.ciphertext.length - 16);
    if (cov === 'uncovered' && this.#refused(lane, f.seq, size)) return stop('TOO_LARGE');
    if (!this.#c.provenance.decrypts(b, topic)) return stop('DECRYPT_FAILED');
    if (cov === 'match') {
      this.#window(window).accept(f.seq);
      this.#lastDelivery = deliveryKey(f.sender, topic, f.epoch, f.seq);
      return 'deliver';
    }
    const item: HeldItem = { stream, lane, window, sender: f.sender, channel: f.channel, topic, epoch: f.epoch, seq: f.seq, timestamp: f.timestamp, digest, heldAt: now, size, order: ++this.#order, origin };
    const list = this.#held.get(stream) ?? [];
    list.push(item);
    this.#held.set(stream, list);
    const inLane = this.#lanes.get(lane) ?? [];
    inLane.push(item);
    this.#lanes.set(lane, inLane);
    this.#heldCount++;
    this.#makeRoom(lane, p);
    return 'held';
  }

  /** A number listed by a stored manifest of the lane belongs to that manifest's message; else the stream's own ranges. */
  #coverage(stream: string, lane: string, seq: number, digest: string): 'match' | 'mismatch' | 'uncovered' {
    for (const m of this.#manifests.get(stream) ?? []) {
      if (seq < m.first || seq > m.last) continue;
      return m.bySeq.get(seq) === digest ? 'match' : 'mismatch';
    }
    return this.#listed.get(lane)?.has(seq) ? 'mismatch' : 'uncovered';
  }

  #aheadOf(lane: string): HeldItem[] {
    const base = this.#bases.get(lane);
    return base === undefined ? [] : (this.#lanes.get(lane) ?? []).filter((h) => h.seq > base + this.#c.maxAhead);
  }

  /** Holding it would reject it again at once (it would be the lane's first to go). */
  #refused(lane: string, seq: number, size: number): boolean {
    const c = this.#c;
    if (size > Math.min(c.maxHeldBytesPerChannel, c.maxHeldBytes)) return true;
    const base = this.#bases.get(lane);
    const ahead = this.#aheadOf(lane);
    if (base !== undefined && seq > base + c.maxAhead && ahead.length >= c.maxHeldAhead && (ahead.length === 0 || seq >= ahead.reduce(firstToGo).seq)) return true;
    const items = this.#lanes.get(lane) ?? [];
    if (items.length === 0 || seq < items.reduce(firstToGo).seq) return false;
    return items.length >= c.maxHeldPerChannel || items.reduce((n, h) => n + h.size, 0) + size > c.maxHeldBytesPerChannel;
  }

  /** The bounds after a message was held: the first to go of the lane (or of the lane holding the most) is rejected. */
  #makeRoom(lane: string, p: Prediction): void {
    const c = this.#c;
    const bytes = (items: readonly HeldItem[]): number => items.reduce((n, h) => n + h.size, 0);
    const evict = (l: string): void => {
      const h = this.#lanes.get(l)!.reduce(firstToGo);
      this.#unhold(h);
      p.evicted.push(h);
      p.rejected.TOO_LARGE = (p.rejected.TOO_LARGE ?? 0) + 1;
    };
    while (this.#aheadOf(lane).length > c.maxHeldAhead) evict(lane);
    while ((this.#lanes.get(lane)?.length ?? 0) > c.maxHeldPerChannel) evict(lane);
    while (bytes(this.#lanes.get(lane) ?? []) > c.maxHeldBytesPerChannel) evict(lane);
    const largest = (measure: (items: HeldItem[]) => number): string => {
      let best: [string, number] | undefined;
      for (const [l, items] of this.#lanes) if (best === undefined || measure(items) > best[1]) best = [l, measure(items)];
      return best![0];
    };
    while (this.#heldCount > c.maxHeld) evict(largest((items) => items.length));
    while ([...this.#lanes.values()].reduce((n, items) => n + bytes(items), 0) > c.maxHeldBytes) evict(largest(bytes));
  }

  #unhold(h: HeldItem): void {
    const l = this.#held.get(h.stream)!;
    l.splice(l.indexOf(h), 1);
    if (l.length === 0) this.#held.delete(h.stream);
    const inLane = this.#lanes.get(h.lane)!;
    inLane.splice(inLane.indexOf(h), 1);
    if (inLane.length === 0) this.#lanes.delete(h.lane);
    this.#heldCount--;
  }

  #dropManifest(stream: string, m: StoredManifest): void {
    const l = this.#manifests.get(stream)!;
    l.splice(l.indexOf(m), 1);
    if (l.length === 0) this.#manifests.delete(stream);
    const listed = this.#listed.get(m.lane);
    if (listed) {
      for (const seq of m.bySeq.keys()) if (listed.get(seq)?.m === m) listed.delete(seq);
      if (listed.size === 0) this.#listed.delete(m.lane);
    }
    this.#manifestIds.delete(m.id);
    this.#manifestCount--;
  }

  #manifest(topic: string, b: Uint8Array, now: number, p: Prediction): Outcome {
    const m = parseOr(() => decodeManifest(b));
    if (!topicMatches(m.channel, topic)) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(m.sender);
    if (!cert.publish.includes(m.channel) || !mayPublish(cert, topic)) return stop('NOT_AUTHORISED');
    if (m.timestamp > now + this.#c.clockSkewMs) return stop('FROM_FUTURE');
    if (m.timestamp < now - this.#c.maxAgeMs) return stop('TOO_OLD');
    if (!this.#c.provenance.manifestVerifies(b, topic)) return stop('BAD_SIGNATURE');
    const first = m.entries[0]!;
    if (this.#lookup(m.sender, m.channel, m.epoch, first.seq, m.timestamp, now) === 'UNKNOWN_EPOCH') {
      this.#keyMissing(m.sender, m.channel, m.epoch, { epoch: m.epoch, bytes: b, topic, kind: 'manifest', origin: { packet: -1 } });
    }
    const stream = `${m.sender}\n${m.channel}\n${topic}\n${m.epoch}`;
    const lane = `${m.sender}\n${cert.keyEpoch}\n${m.channel}`;
    const id = `${stream}\n${hashOf(m.tbs)}`; // as AmortisedReceiver: keyed on what was signed, not on the signature
    if (this.#manifestIds.has(id)) return 'none';
    const bySeq = new Map<number, string>();
    for (const e of m.entries) bySeq.set(e.seq, hex(e.digest));
    const stored: StoredManifest = { first: first.seq, last: m.entries[m.entries.length - 1]!.seq, bySeq, until: now + this.#c.holdMs, id, stream, lane };
    const list = this.#manifests.get(stream) ?? [];
    list.push(stored);
    this.#manifests.set(stream, list);
    const listed = this.#listed.get(lane) ?? new Map<number, { m: StoredManifest; digest: string }>();
    for (const [seq, digest] of bySeq) if (!listed.has(seq)) listed.set(seq, { m: stored, digest });
    this.#listed.set(lane, listed);
    this.#bases.set(lane, Math.max(this.#bases.get(lane) ?? -1, stored.last));
    this.#manifestIds.add(id);
    this.#manifestCount++;
    if (this.#manifestCount > this.#c.maxManifests) throw new Error('amortised model: more stored manifests than maxManifests (eviction is not modelled; raise it)');
    const matched: HeldItem[] = [];
    for (const h of this.#held.get(stream) ?? []) {
      if (h.seq < stored.first || h.seq > stored.last) continue;
      if (bySeq.get(h.seq) === h.digest) matched.push(h);
      else p.forged.push(h);
    }
    // Copies of a listed number held for another topic or epoch of the lane: the number is taken.
    for (const h of this.#lanes.get(lane) ?? []) if (h.stream !== stream && bySeq.has(h.seq)) p.forged.push(h);
    for (const h of [...matched, ...p.forged]) this.#unhold(h);
    for (const _ of p.forged) p.rejected.BAD_SIGNATURE = (p.rejected.BAD_SIGNATURE ?? 0) + 1;
    matched.sort((a, c) => a.seq - c.seq);
    for (const h of matched) {
      const v = this.#liveCheck(h.window, h.seq, h.timestamp, now);
      if (v === 'DUPLICATE') p.duplicates++;
      else if (v !== undefined) p.rejected[v as ReasonCode] = (p.rejected[v as ReasonCode] ?? 0) + 1;
      else {
        this.#window(h.window).accept(h.seq);
        p.delivered.push({ key: deliveryKey(h.sender, h.topic, h.epoch, h.seq), origin: h.origin });
      }
    }
    return 'none';
  }

  // ----------------------------------------------------------- signed path

  #signedGroup(topic: string, b: Uint8Array, now: number, origin: Origin, releasing: boolean): Outcome {
    const f = parseOr(() => decodeGroup(b));
    if (!topicMatches(f.channel, topic)) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(f.sender);
    if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) return stop('NOT_AUTHORISED');
    const window = `${f.sender}\ng${cert.keyEpoch}:${f.channel}\n${f.epoch}`;
    const genuine = this.#c.provenance.signedVerifies(b, topic);
    const lk = this.#lookup(f.sender, f.channel, f.epoch, f.seq, f.timestamp, now);
    if (lk !== undefined) {
      if (lk === 'UNKNOWN_EPOCH') {
        const v = this.#liveCheck(window, f.seq, f.timestamp, now);
        if (v === 'DUPLICATE') return stop(genuine ? 'DUPLICATE' : 'BAD_SIGNATURE');
        if (v === undefined && genuine) {
          this.#keyMissing(f.sender, f.channel, f.epoch, { epoch: f.epoch, bytes: b.slice(), topic, kind: 'signed', origin });
          return releasing ? stop('UNKNOWN_EPOCH') : 'held';
        }
      }
      return stop(lk);
    }
    const v = this.#liveCheck(window, f.seq, f.timestamp, now);
    if (v !== undefined) return stop(v === 'DUPLICATE' && !genuine ? 'BAD_SIGNATURE' : v);
    if (!genuine) return stop('BAD_SIGNATURE');
    this.#window(window).accept(f.seq);
    this.#lastDelivery = deliveryKey(f.sender, topic, f.epoch, f.seq);
    return 'deliver';
  }

  /** Direct envelopes: only as the target of type confusion here (nothing genuine is sent). */
  #direct(topic: string, b: Uint8Array, now: number): Outcome {
    const f = parseOr(() => decodeDirect(b, ENVELOPE_TYPE.direct));
    if (f.recipient !== this.id || f.recipientKeyEpoch !== this.#trust.get(this.id)!.keyEpoch) return stop('WRONG_RECIPIENT');
    if (f.topic !== topic) return stop('TOPIC_MISMATCH');
    const cert = this.#certOf(f.sender);
    if (!mayPublish(cert, f.topic)) return stop('NOT_AUTHORISED');
    const v = this.#liveCheck(`${f.sender}\nd${cert.keyEpoch}\n0`, f.seq, f.timestamp, now);
    if (v !== undefined) return stop(v === 'DUPLICATE' ? 'BAD_SIGNATURE' : v);
    return stop('BAD_SIGNATURE');
  }
}
