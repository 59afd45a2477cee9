// Amortised origin authentication (optional, off by default): group data
// envelopes without a per-message signature (flags = AMORTISED), each batch of
// them covered by one signed batch manifest (type 'B') published on the same
// topic. Layouts, check order and policies: docs/PROTOCOL.md, "Amortised mode".
//
//   amortised envelope: header(type M, version 1, suite 1, flags 0x02) | sender | channel | epoch u32 | seq u64
//                       | timestamp u64 | AES-256-GCM ct (bytes32)                        (no signature)
//   entry digest:       SHAKE-256(LABELS.amortisedEntry || string16(topic) || envelope, 32)
//   manifest:           header(type B, version 1, suite 1, flags 0x01) | sender | channel | epoch u32 | timestamp u64
//                       | count u16 | count x (seq u64 | digest 32) | Falcon-512 signature (bytes16)
//   manifest signature: Falcon-512(LABELS.amortisedManifest || every byte before the signature || string16(topic))
//
// A subscriber decrypts an amortised message and checks it against the
// replay window (pure), but delivers it only once a verified manifest lists
// its digest; a digest that differs from the manifest's for its sequence
// number, or a sequence number inside a manifest's range that it does not
// list, is BAD_SIGNATURE (a forgery by an insider holding the epoch key, or by
// the broker); a message no manifest covers within holdMs is BAD_SIGNATURE.

import { AE_PARAMS, shake256Public } from '../../bindings/index.js';
import { mayPublish, type Certificate } from '../certs/certificate.js';
import { SecurityError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { topicMatches } from '../topic/grammar.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { malformed, readFilter, readSubject, unsupported } from '../wire/fields.js';
import { LABELS, signedMessage } from '../wire/labels.js';
import { MAX_SUBJECT_BYTES } from '../wire/subject-id.js';
import { groupNonce, readGroupBody, type GroupBodyFields, type GroupEpochKeys } from './group.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ENVELOPE_TYPE,
  FLAGS,
  MAX_CHANNEL_BYTES,
  MAX_SIGNATURE_BYTES,
  PROTOCOL_VERSION,
  SUITE_DEFAULT,
  checkBytes,
  checkTopicArg,
  checkUint,
  readHeaderFlags,
  topicField,
  type CertificateSource,
} from './envelope.js';
import { verifyFalcon512 } from '../crypto/falcon-verify.js';

/** Type byte of a batch manifest ('B'): distinct from every other encoding's (A C I N R D G M Q). */
export const MANIFEST_TYPE = 0x42;

/** Digest length of an entry (SHAKE-256 output). */
export const ENTRY_DIGEST_BYTES = 32;

/** Most entries one manifest may carry (a parser bound; publishers use maxBatch). */
export const MAX_MANIFEST_ENTRIES = 1024;

export const AMORTISED_DEFAULTS = Object.freeze({
  /** Publisher: messages per manifest. */
  maxBatch: 64,
  /** Publisher: a batch is closed and signed at most this long after its first message. */
  maxDelayMs: 25,
  /** Subscriber: a message no manifest covered within this long is rejected (BAD_SIGNATURE). */
  holdMs: 5_000,
  /** Subscriber: amortised messages held at once, over all streams (oldest rejected first). */
  maxHeld: 4_096,
  /** Subscriber: verified manifests kept (for messages that arrive after their manifest), over all streams. */
  maxManifests: 256,
});

const AE_TAG_BYTES = AE_PARAMS.lengths.tag;
const ENVELOPE_FIXED = 4 + 2 + 2 + 4 + 8 + 8 + 4 + AE_TAG_BYTES;
const ENTRY_BYTES = 8 + ENTRY_DIGEST_BYTES;
const MANIFEST_FIXED = 4 + 2 + 2 + 4 + 8 + 2 + 2;

/** The largest amortised envelope carrying at most `maxPayloadBytes`. */
export function maxAmortisedBytes(maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): number {
  return ENVELOPE_FIXED + MAX_SUBJECT_BYTES + MAX_CHANNEL_BYTES + maxPayloadBytes;
}

/** The largest manifest (1,024 entries). */
export const MAX_MANIFEST_BYTES = MANIFEST_FIXED + MAX_SUBJECT_BYTES + MAX_CHANNEL_BYTES + MAX_MANIFEST_ENTRIES * ENTRY_BYTES + MAX_SIGNATURE_BYTES;


function readHeaderWithFlags(r: ByteReader, type: number, flags: number, what: string): void {
  const f = readHeaderFlags(r, type, what);
  if (f !== flags) unsupported(`${what}: flags 0x${f.toString(16)}, expected 0x${flags.toString(16)}`);
}

/** True if `bytes` claims to be an amortised group envelope (type M, flags AMORTISED); proves nothing. */
export function isAmortisedEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === ENVELOPE_TYPE.group && bytes[3] === FLAGS.amortised;
}

/** The entry digest a manifest lists for `envelope` received (or published) on `topic`. */
export function entryDigest(topic: string, envelope: Uint8Array): Uint8Array {
  return shake256Public([LABELS.amortisedEntry, topicField(topic), envelope], ENTRY_DIGEST_BYTES);
}

// ------------------------------------------------------------------ envelope

/** An amortised envelope carries the group body and no signature. */
export type AmortisedFields = GroupBodyFields;

/**
 * Parses an amortised envelope (no cryptography, no policy).
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeAmortised(bytes: Uint8Array, maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): AmortisedFields {
  const what = 'amortised envelope';
  boundInput(bytes, maxAmortisedBytes(maxPayloadBytes), what);
  const r = new ByteReader(bytes);
  readHeaderWithFlags(r, ENVELOPE_TYPE.group, FLAGS.amortised, what);
  const body = readGroupBody(r, what, maxPayloadBytes);
  r.end(what);
  return body;
}

/**
 * AAD of an amortised envelope: header || string16(topic), as for signed group envelopes (the flags byte
 * differs). As two parts: the cipher authenticates their concatenation without a copy being made.
 */
export function amortisedAad(header: Uint8Array, topic: string): readonly [Uint8Array, Uint8Array] {
  return [header, topicField(topic)];
}

export interface SealAmortisedOptions {
  readonly sender: string;
  readonly keys: GroupEpochKeys;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Unique per (sender, channel) for ever, shared with the signed envelopes of the channel. */
  readonly seq: number;
  readonly now: number;
  readonly maxPayloadBytes?: number;
}

/**
 * The bytes every amortised envelope of one epoch's keys starts with: type, version, suite, flags,
 * string16(sender), string16(channel), u32(epoch). Built once per epoch instead of once per message.
 */
const envelopePrefixes = new WeakMap<GroupEpochKeys, Uint8Array>();

function envelopePrefix(keys: GroupEpochKeys): Uint8Array {
  let prefix = envelopePrefixes.get(keys);
  if (prefix === undefined) {
    prefix = new ByteWriter(16 + keys.sender.length * 3 + keys.channel.length * 3)
      .u8(ENVELOPE_TYPE.group)
      .u8(PROTOCOL_VERSION)
      .u8(SUITE_DEFAULT)
      .u8(FLAGS.amortised)
      .string16(keys.sender)
      .string16(keys.channel)
      .u32(keys.epoch)
      .finish();
    envelopePrefixes.set(keys, prefix);
  }
  return prefix;
}

/** Encrypts `payload` as an amortised envelope; returns it with its entry digest. Not signed: a manifest must follow. */
export function sealAmortised(opts: SealAmortisedOptions): { bytes: Uint8Array; digest: Uint8Array } {
  const { keys } = opts;
  if (keys.sender !== opts.sender) throw new RangeError(`keys belong to ${keys.sender}, not ${opts.sender}`);
  checkTopicArg(opts.topic);
  if (!topicMatches(keys.channel, opts.topic)) throw new RangeError(`topic ${opts.topic} is outside channel ${keys.channel}`);
  const payload = checkBytes(opts.payload, 'payload');
  const max = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (payload.length > max) throw new RangeError(`payload must be at most ${max} bytes, got ${payload.length}`);
  checkUint(opts.seq, Number.MAX_SAFE_INTEGER, 'seq');
  checkUint(opts.now, Number.MAX_SAFE_INTEGER, 'now');
  // One buffer, written in place: header | u32(|ct|) | ciphertext || tag (the cipher writes into it).
  const prefix = envelopePrefix(keys);
  const headerLength = prefix.length + 16;
  const sealedLength = payload.length + AE_TAG_BYTES;
  const bytes = new Uint8Array(headerLength + 4 + sealedLength);
  bytes.set(prefix);
  const view = new DataView(bytes.buffer);
  view.setUint32(prefix.length, Math.floor(opts.seq / 2 ** 32));
  view.setUint32(prefix.length + 4, opts.seq >>> 0);
  view.setUint32(prefix.length + 8, Math.floor(opts.now / 2 ** 32));
  view.setUint32(prefix.length + 12, opts.now >>> 0);
  view.setUint32(headerLength, sealedLength);
  keys.ae.sealInto(bytes, headerLength + 4, groupNonce(keys.iv, opts.seq), payload, amortisedAad(bytes.subarray(0, headerLength), opts.topic));
  return { bytes, digest: entryDigest(opts.topic, bytes) };
}

/**
 * Decrypts a decoded amortised envelope received on `topic`.
 * @throws SecurityError DECRYPT_FAILED if the tag does not verify (wrong key, nonce, topic or modified bytes).
 */
export function decryptAmortised(keys: GroupEpochKeys, f: Pick<AmortisedFields, 'seq' | 'header' | 'ciphertext'>, topic: string): Uint8Array {
  const payload = f.ciphertext.length < AE_TAG_BYTES ? undefined : keys.ae.open(groupNonce(keys.iv, f.seq), f.ciphertext, amortisedAad(f.header, topic));
  if (payload === undefined) throw new SecurityError('DECRYPT_FAILED');
  return payload;
}

// ------------------------------------------------------------------ manifest

export interface ManifestEntry {
  readonly seq: number;
  readonly digest: Uint8Array;
}

export interface ManifestFields {
  readonly sender: string;
  readonly channel: string;
  readonly epoch: number;
  readonly timestamp: number;
  /** Strictly increasing sequence numbers. */
  readonly entries: readonly ManifestEntry[];
  readonly signature: Uint8Array;
  /** Every byte before the signature's length prefix. */
  readonly tbs: Uint8Array;
}

function manifestTbs(tbs: Uint8Array, topic: string): Uint8Array {
  return signedMessage(LABELS.amortisedManifest, tbs, topicField(topic));
}

export interface SealManifestOptions {
  readonly sender: Identity;
  readonly channel: string;
  readonly epoch: number;
  /** The topic the batch's messages were published on (the manifest goes to the same topic). */
  readonly topic: string;
  readonly entries: readonly ManifestEntry[];
  readonly now: number;
  /** Known-answer vectors only: the Falcon signing seed. */
  readonly signSeed?: Uint8Array;
}

/** Signs a batch manifest. @throws RangeError for an empty, oversized or unordered batch. */
export function sealManifest(opts: SealManifestOptions): Uint8Array {
  const { tbs, message } = manifestToSign(opts);
  return finishManifest(tbs, opts.sender.sign(message, opts.signSeed));
}

/** sealManifest, with the signature made by `sign` (a signing worker). */
export async function sealManifestAsync(opts: Omit<SealManifestOptions, 'signSeed'>, sign: (message: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
  const { tbs, message } = manifestToSign(opts);
  return finishManifest(tbs, await sign(message));
}

function finishManifest(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  return new ByteWriter(tbs.length + 2 + signature.length).fixed(tbs, tbs.length, 'tbs').bytes16(signature).finish();
}

/** The manifest's bytes before the signature, and what the signature covers. */
function manifestToSign(opts: Omit<SealManifestOptions, 'signSeed'>): { tbs: Uint8Array; message: Uint8Array } {
  const n = opts.entries.length;
  if (n < 1 || n > MAX_MANIFEST_ENTRIES) throw new RangeError(`a manifest carries 1..${MAX_MANIFEST_ENTRIES} entries, got ${n}`);
  checkTopicArg(opts.topic);
  if (!topicMatches(opts.channel, opts.topic)) throw new RangeError(`topic ${opts.topic} is outside channel ${opts.channel}`);
  const w = new ByteWriter(64 + opts.channel.length * 3 + n * ENTRY_BYTES)
    .u8(MANIFEST_TYPE)
    .u8(PROTOCOL_VERSION)
    .u8(SUITE_DEFAULT)
    .u8(FLAGS.signed)
    .string16(opts.sender.id)
    .string16(opts.channel)
    .u32(checkUint(opts.epoch, 0xffffffff, 'epoch'))
    .u64(checkUint(opts.now, Number.MAX_SAFE_INTEGER, 'now'))
    .u16(n);
  let last = -1;
  for (const e of opts.entries) {
    if (e.seq <= last) throw new RangeError('manifest entries must have strictly increasing sequence numbers');
    if (e.digest.length !== ENTRY_DIGEST_BYTES) throw new RangeError(`entry digest must be ${ENTRY_DIGEST_BYTES} bytes`);
    last = e.seq;
    w.u64(e.seq).fixed(e.digest, ENTRY_DIGEST_BYTES, 'digest');
  }
  const tbs = w.finish();
  return { tbs, message: manifestTbs(tbs, opts.topic) };
}

/**
 * Parses a manifest (no cryptography, no policy).
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeManifest(bytes: Uint8Array): ManifestFields {
  const what = 'batch manifest';
  boundInput(bytes, MAX_MANIFEST_BYTES, what);
  const r = new ByteReader(bytes);
  readHeaderWithFlags(r, MANIFEST_TYPE, FLAGS.signed, what);
  const sender = readSubject(r, `${what} sender`);
  const channel = readFilter(r, `${what} channel`);
  const epoch = r.u32(`${what} epoch`);
  const timestamp = r.u64(`${what} timestamp`);
  const n = r.u16(`${what} count`);
  if (n < 1 || n > MAX_MANIFEST_ENTRIES) malformed(`${what}: ${n} entries, 1..${MAX_MANIFEST_ENTRIES} allowed`);
  if (r.remaining < n * ENTRY_BYTES) malformed(`${what}: ${n} entries need ${n * ENTRY_BYTES} bytes, ${r.remaining} left`);
  const entries: ManifestEntry[] = [];
  let last = -1;
  for (let i = 0; i < n; i++) {
    const seq = r.u64(`${what} entry sequence number`);
    if (seq <= last) malformed(`${what}: sequence numbers not strictly increasing`);
    last = seq;
    entries.push({ seq, digest: r.fixed(ENTRY_DIGEST_BYTES, `${what} entry digest`) });
  }
  const tbs = r.consumed();
  const signature = r.bytes16(MAX_SIGNATURE_BYTES, `${what} signature`);
  if (signature.length === 0) malformed(`${what} signature: empty`);
  r.end(what);
  return { sender, channel, epoch, timestamp, entries, signature, tbs };
}

export interface VerifyManifestOptions {
  readonly receivedTopic: string;
  readonly trust: CertificateSource;
  readonly now: number;
  readonly maxAgeMs: number;
  readonly clockSkewMs: number;
}

export interface VerifiedManifest extends ManifestFields {
  readonly senderCertificate: Certificate;
  readonly topic: string;
}

/**
 * Verifies a manifest received on `receivedTopic`. Check order: bound, parse,
 * version/suite/flags, channel matches the topic (TOPIC_MISMATCH), sender's
 * certificate, channel is a publish filter of the sender and the topic is
 * granted (NOT_AUTHORISED), timestamp (FROM_FUTURE, TOO_OLD), signature
 * (BAD_SIGNATURE). Pure: nothing changes.
 */
export function verifyManifest(bytes: Uint8Array, opts: VerifyManifestOptions): VerifiedManifest {
  checkTopicArg(opts.receivedTopic, 'receivedTopic');
  const f = decodeManifest(bytes);
  const topic = opts.receivedTopic;
  if (!topicMatches(f.channel, topic)) throw new SecurityError('TOPIC_MISMATCH', { sender: f.sender, topic, detail: `manifest of channel ${f.channel}` });
  const cert = opts.trust.get(f.sender, opts.now);
  if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) {
    throw new SecurityError('NOT_AUTHORISED', { sender: f.sender, topic, detail: `${f.channel} is not a publish right of the sender` });
  }
  if (f.timestamp > opts.now + opts.clockSkewMs) throw new SecurityError('FROM_FUTURE', { sender: f.sender, topic, detail: 'batch manifest' });
  if (f.timestamp < opts.now - opts.maxAgeMs) throw new SecurityError('TOO_OLD', { sender: f.sender, topic, detail: 'batch manifest' });
  if (!verifyFalcon512(f.signature, manifestTbs(f.tbs, topic), cert.publicKeys.falcon)) {
    throw new SecurityError('BAD_SIGNATURE', { sender: f.sender, topic, detail: 'batch manifest signature' });
  }
  return { ...f, senderCertificate: cert, topic };
}

// ---------------------------------------------------------------- publisher

interface OpenBatch {
  readonly channel: string;
  readonly topic: string;
  readonly epoch: number;
  readonly openedAt: number;
  readonly entries: ManifestEntry[];
}

/** A batch whose manifest must be signed and published on `topic`. */
export interface ClosedBatch {
  readonly channel: string;
  readonly topic: string;
  readonly epoch: number;
  readonly entries: readonly ManifestEntry[];
}

const NOTHING_DUE: readonly ClosedBatch[] = Object.freeze([]);

/**
 * Publisher-side batching, one open batch per (topic, epoch). Sequence
 * numbers of one channel grow, so successive batches of one topic cover
 * disjoint, increasing ranges.
 */
export class AmortisedBatcher {
  readonly #open = new Map<string, OpenBatch>();
  readonly #closed: ClosedBatch[] = [];

  constructor(
    readonly maxBatch: number,
    readonly maxDelayMs: number,
  ) {}

  /** Records a sealed message; closes its batch when full (or the batch of an earlier epoch of the topic). */
  add(channel: string, topic: string, epoch: number, seq: number, digest: Uint8Array, now: number): void {
    let b = this.#open.get(topic);
    if (b && (b.epoch !== epoch || b.channel !== channel)) {
      this.#closed.push(b);
      b = undefined;
    }
    if (!b) {
      b = { channel, topic, epoch, openedAt: now, entries: [] };
      this.#open.set(topic, b);
    }
    b.entries.push({ seq, digest });
    if (b.entries.length >= this.maxBatch) {
      this.#open.delete(topic);
      this.#closed.push(b);
    }
  }

  /** Closed batches, and open ones at least maxDelayMs old (every open one with `all`). */
  take(now: number, all = false): readonly ClosedBatch[] {
    // Deleting the entry being visited is safe in a Map iteration. Called after every publish, so the
    // usual answer (nothing due) allocates nothing.
    for (const [topic, b] of this.#open) {
      if (all || now - b.openedAt >= this.maxDelayMs) {
        this.#open.delete(topic);
        this.#closed.push(b);
      }
    }
    return this.#closed.length === 0 ? NOTHING_DUE : this.#closed.splice(0);
  }

  /** Messages sealed whose manifest is not signed yet. */
  get pending(): number {
    let n = 0;
    for (const b of this.#open.values()) n += b.entries.length;
    for (const b of this.#closed) n += b.entries.length;
    return n;
  }

  clear(): void {
    this.#open.clear();
    this.#closed.length = 0;
  }
}

// --------------------------------------------------------------- subscriber

/** An amortised message decrypted and checked, waiting for its manifest. */
export interface HeldAmortised<M> {
  /** sender \n channel \n topic \n epoch */
  readonly stream: string;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly heldAt: number;
  readonly message: M;
}

interface StoredManifest {
  readonly first: number;
  readonly last: number;
  readonly bySeq: Map<number, Uint8Array>;
  readonly until: number;
  readonly id: string;
}

export type Coverage = 'match' | 'mismatch' | 'uncovered';

export const amortisedStreamId = (sender: string, channel: string, topic: string, epoch: number): string => `${sender}\n${channel}\n${topic}\n${epoch}`;

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * Subscriber-side bookkeeping (no cryptography): held messages and recently
 * verified manifests, both bounded in number and time. Only verified
 * manifests may be added; held messages are unauthenticated and never
 * delivered unless a manifest lists their digest.
 */
export class AmortisedReceiver<M> {
  readonly #held = new Map<string, HeldAmortised<M>[]>();
  /** Per stream, how many held messages carry each sequence number: isHeld() scans only when one does. */
  readonly #heldSeqs = new Map<string, Map<number, number>>();
  #heldCount = 0;
  readonly #manifests = new Map<string, StoredManifest[]>();
  /** Per stream, no stored manifest covers a number above this (a message usually arrives before its manifest). */
  readonly #highest = new Map<string, number>();
  #manifestCount = 0;
  readonly #manifestIds = new Set<string>();

  constructor(
    readonly holdMs: number,
    readonly maxHeld: number,
    readonly maxManifests: number,
  ) {}

  get heldCount(): number {
    return this.#heldCount;
  }

  /** What the stored manifests say about (stream, seq, digest). */
  coverage(stream: string, seq: number, digest: Uint8Array): Coverage {
    const top = this.#highest.get(stream);
    if (top === undefined || seq > top) return 'uncovered';
    for (const m of this.#manifests.get(stream) ?? []) {
      if (seq < m.first || seq > m.last) continue;
      const d = m.bySeq.get(seq);
      return d !== undefined && equalBytes(d, digest) ? 'match' : 'mismatch';
    }
    return 'uncovered';
  }

  /** True if a copy with the same digest is held already. */
  isHeld(stream: string, seq: number, digest: Uint8Array): boolean {
    if (!this.#heldSeqs.get(stream)?.has(seq)) return false; // the usual answer, without a scan of the stream's held messages
    return (this.#held.get(stream) ?? []).some((h) => h.seq === seq && equalBytes(h.digest, digest));
  }

  #countSeq(stream: string, seq: number, delta: 1 | -1): void {
    let counts = this.#heldSeqs.get(stream);
    if (counts === undefined) {
      counts = new Map();
      this.#heldSeqs.set(stream, counts);
    }
    const n = (counts.get(seq) ?? 0) + delta;
    if (n > 0) counts.set(seq, n);
    else counts.delete(seq);
    if (counts.size === 0) this.#heldSeqs.delete(stream);
  }

  /** Holds a message; returns those evicted to stay within maxHeld (oldest first). */
  hold(h: HeldAmortised<M>): HeldAmortised<M>[] {
    const list = this.#held.get(h.stream) ?? [];
    list.push(h);
    this.#held.set(h.stream, list);
    this.#heldCount++;
    this.#countSeq(h.stream, h.seq, 1);
    const evicted: HeldAmortised<M>[] = [];
    while (this.#heldCount > this.maxHeld) {
      let oldest: HeldAmortised<M> | undefined;
      for (const l of this.#held.values()) if (l.length && (!oldest || l[0]!.heldAt < oldest.heldAt)) oldest = l[0];
      if (!oldest) break;
      this.#remove(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }

  #remove(h: HeldAmortised<M>): void {
    const list = this.#held.get(h.stream);
    if (!list) return;
    const i = list.indexOf(h);
    if (i < 0) return;
    list.splice(i, 1);
    this.#heldCount--;
    this.#countSeq(h.stream, h.seq, -1);
    if (list.length === 0) this.#held.delete(h.stream);
  }

  /**
   * Adds a verified manifest of `stream` (a redelivered one is ignored) and
   * settles the held messages it covers: `matched` in sequence order
   * (deliver them), `forged` (reject them as BAD_SIGNATURE).
   */
  addManifest(stream: string, entries: readonly ManifestEntry[], signature: Uint8Array, now: number): { matched: HeldAmortised<M>[]; forged: HeldAmortised<M>[] } {
    const id = `${stream}\n${hex(signature)}`;
    if (this.#manifestIds.has(id)) return { matched: [], forged: [] };
    const bySeq = new Map<number, Uint8Array>();
    for (const e of entries) bySeq.set(e.seq, e.digest.slice());
    const m: StoredManifest = { first: entries[0]!.seq, last: entries[entries.length - 1]!.seq, bySeq, until: now + this.holdMs, id };
    const list = this.#manifests.get(stream) ?? [];
    list.push(m);
    this.#manifests.set(stream, list);
    if (!(m.last <= (this.#highest.get(stream) ?? -1))) this.#highest.set(stream, m.last);
    this.#manifestIds.add(id);
    this.#manifestCount++;
    while (this.#manifestCount > this.maxManifests) this.#dropOldestManifest();
    const matched: HeldAmortised<M>[] = [];
    const forged: HeldAmortised<M>[] = [];
    // One pass that keeps what the manifest does not cover (a batch settles up to 1,024 held messages at once:
    // removing them one by one would move the rest of the list each time).
    const held = this.#held.get(stream);
    if (held !== undefined) {
      const kept: HeldAmortised<M>[] = [];
      for (const h of held) {
        if (h.seq < m.first || h.seq > m.last) {
          kept.push(h);
          continue;
        }
        this.#heldCount--;
        this.#countSeq(stream, h.seq, -1);
        const d = bySeq.get(h.seq);
        if (d !== undefined && equalBytes(d, h.digest)) matched.push(h);
        else forged.push(h);
      }
      if (kept.length > 0) this.#held.set(stream, kept);
      else this.#held.delete(stream);
    }
    matched.sort((a, b) => a.seq - b.seq);
    return { matched, forged };
  }

  #dropOldestManifest(): void {
    let oldestKey: string | undefined;
    let oldest: StoredManifest | undefined;
    for (const [k, l] of this.#manifests) if (l.length && (!oldest || l[0]!.until < oldest.until)) [oldestKey, oldest] = [k, l[0]];
    if (!oldest || oldestKey === undefined) return;
    this.#dropManifest(oldestKey, oldest);
  }

  #dropManifest(stream: string, m: StoredManifest): void {
    const l = this.#manifests.get(stream)!;
    l.splice(l.indexOf(m), 1);
    if (l.length === 0) {
      this.#manifests.delete(stream);
      this.#highest.delete(stream);
    }
    this.#manifestIds.delete(m.id);
    this.#manifestCount--;
  }

  /** Forgets manifests older than holdMs; returns held messages older than holdMs (reject them). */
  expire(now: number): HeldAmortised<M>[] {
    for (const [k, l] of [...this.#manifests]) for (const m of [...l]) if (now > m.until) this.#dropManifest(k, m);
    const out: HeldAmortised<M>[] = [];
    for (const l of [...this.#held.values()]) for (const h of [...l]) if (now - h.heldAt >= this.holdMs) out.push(h);
    for (const h of out) this.#remove(h);
    return out;
  }

  /** Drops everything (returns the held messages, to wipe). */
  clear(): HeldAmortised<M>[] {
    const out = [...this.#held.values()].flat();
    this.#held.clear();
    this.#heldSeqs.clear();
    this.#heldCount = 0;
    this.#manifests.clear();
    this.#highest.clear();
    this.#manifestIds.clear();
    this.#manifestCount = 0;
    return out;
  }
}
