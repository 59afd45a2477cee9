// The KeyManager's amortised-mode side (docs/PROTOCOL.md, "Amortised mode"):
// publisher batching and manifest signing, subscriber hold / release. Only
// constructed when a KeyManager is given `amortise` or `acceptAmortised`.

import { aoptInt } from '../../bindings/assert-sdk.js';
import { AE_PARAMS, shake256Public } from '../../bindings/index.js';
import type { Clock } from '../clock.js';
import { SecurityError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { mayPublish } from '../certs/certificate.js';
import { topicMatches } from '../topic/grammar.js';
import {
  AMORTISED_DEFAULTS,
  AmortisedBatcher,
  AmortisedReceiver,
  MAX_MANIFEST_ENTRIES,
  amortisedStreamId,
  decodeAmortised,
  decryptAmortised,
  entryDigest,
  sealManifest,
  sealManifestAsync,
  verifyManifest,
  type ClosedBatch,
  type AmortisedFields,
  type HeldAmortised,
} from './amortised.js';
import { sealAmortisedUnchecked } from './amortised/envelope.js';
import type { AmortisedAcceptOptions, AmortisedDataMessage, AmortisedResult, AmortiseOptions, ManifestToSend } from './amortised/options.js';
import { amortisedLaneId, type Evicted, type HoldBound } from './amortised/receiver.js';
import { groupMessage, type AsyncSigner, type EpochLookup, type GroupEpochKeys, type UnknownEpochInfo } from './group.js';
import { groupStream } from './streams.js';
import { checkFilterArg, checkTopicArg, type CertificateSource, type ReplayCheck } from './envelope.js';

export type { AmortiseOptions, AmortisedAcceptOptions, AmortisedDataMessage, AmortisedResult, ManifestToSend } from './amortised/options.js';

/**
 * A decryption started ahead of openMessage (see prefetch). It carries no
 * verdict: openMessage runs every check in its usual order and only takes the
 * plaintext if its own lookup finds the very keys the prefetch used.
 */
export class AmortisedPrefetch {
  #taken = false;
  constructor(
    readonly bytes: Uint8Array,
    readonly topic: string,
    readonly keys: GroupEpochKeys,
    readonly plaintext: Uint8Array,
    /** `bytes` decoded (decoding is pure: openMessage takes these fields instead of decoding the same bytes again). */
    readonly fields: AmortisedFields,
  ) {}

  /** The plaintext for openMessage (once). */
  take(): Uint8Array {
    this.#taken = true;
    return this.plaintext;
  }

  /** Not used: wipe the plaintext. */
  discard(): void {
    if (this.#taken) return;
    this.#taken = true;
    this.plaintext.fill(0);
  }
}

interface Pending {
  readonly msg: AmortisedDataMessage;
  readonly stream: ReturnType<typeof groupStream>;
}

export interface AmortisedSideOptions {
  readonly identity: Identity;
  readonly trust: CertificateSource;
  readonly clock: Clock;
  /** The live replay policy (the KeyManager's live window). */
  readonly replay: ReplayCheck;
  readonly maxAgeMs: number;
  readonly clockSkewMs: number;
  readonly maxPayloadBytes: number;
  readonly amortise?: AmortiseOptions;
  readonly accept?: AmortisedAcceptOptions;
  readonly lookup: (sender: string, senderKeyEpoch: number, channel: string, epoch: number, seq: number, timestamp: number, now: number) => EpochLookup;
  /** The keys of an installed epoch, without any check or state change (for prefetch). */
  readonly peekKeys: (sender: string, senderKeyEpoch: number, channel: string, epoch: number) => GroupEpochKeys | undefined;
  readonly keyMissing: (info: UnknownEpochInfo, bytes: Uint8Array, topic: string, now: number) => void;
}

/** The cipher's tag: an amortised message's plaintext is its ciphertext less these bytes. */
const AE_TAG_BYTES = AE_PARAMS.lengths.tag;

function toSend(batch: ClosedBatch, bytes: Uint8Array): ManifestToSend {
  return Object.freeze({ topic: batch.topic, channel: batch.channel, epoch: batch.epoch, count: batch.entries.length, bytes });
}

export class AmortisedSide {
  readonly #o: AmortisedSideOptions;
  readonly #channels: ReadonlySet<string> | undefined;
  readonly #batcher: AmortisedBatcher | undefined;
  readonly #receiver: AmortisedReceiver<Pending> | undefined;

  constructor(o: AmortisedSideOptions) {
    this.#o = o;
    if (o.amortise) {
      const a = o.amortise;
      this.#channels = a.channels === undefined ? undefined : new Set(a.channels.map((c) => checkFilterArg(c, 'amortise.channels')));
      this.#batcher = new AmortisedBatcher(
        aoptInt(a.maxBatch, AMORTISED_DEFAULTS.maxBatch, 1, MAX_MANIFEST_ENTRIES, 'amortise.maxBatch'),
        aoptInt(a.maxDelayMs, AMORTISED_DEFAULTS.maxDelayMs, 0, 60_000, 'amortise.maxDelayMs'),
      );
    }
    if (o.accept) {
      const a = o.accept;
      const D = AMORTISED_DEFAULTS;
      const maxHeld = aoptInt(a.maxHeld, D.maxHeld, 1, 1_000_000, 'acceptAmortised.maxHeld');
      const maxHeldPerChannel = aoptInt(a.maxHeldPerChannel, Math.min(D.maxHeldPerChannel, maxHeld), 1, maxHeld, 'acceptAmortised.maxHeldPerChannel');
      const maxHeldBytes = aoptInt(a.maxHeldBytes, D.maxHeldBytes, 1, 2 ** 40, 'acceptAmortised.maxHeldBytes');
      this.#receiver = new AmortisedReceiver(
        aoptInt(a.holdMs, D.holdMs, 1, 10 * 60_000, 'acceptAmortised.holdMs'),
        maxHeld,
        aoptInt(a.maxManifests, D.maxManifests, 1, 100_000, 'acceptAmortised.maxManifests'),
        {
          maxHeldPerChannel,
          maxHeldBytes,
          maxHeldBytesPerChannel: aoptInt(a.maxHeldBytesPerChannel, Math.min(D.maxHeldBytesPerChannel, maxHeldBytes), 1, maxHeldBytes, 'acceptAmortised.maxHeldBytesPerChannel'),
          maxAhead: aoptInt(a.maxAhead, D.maxAhead, 1, 2 ** 48, 'acceptAmortised.maxAhead'),
          maxHeldAhead: aoptInt(a.maxHeldAhead, Math.min(D.maxHeldAhead, maxHeldPerChannel), 0, maxHeldPerChannel, 'acceptAmortised.maxHeldAhead'),
        },
      );
    }
  }

  get accepting(): boolean {
    return this.#receiver !== undefined;
  }

  /** Publisher: the batch delay (for the client's flush timer), undefined if not publishing amortised. */
  get maxDelayMs(): number | undefined {
    return this.#batcher?.maxDelayMs;
  }

  amortises(channel: string): boolean {
    return this.#batcher !== undefined && (this.#channels === undefined || this.#channels.has(channel));
  }

  // ---------------------------------------------------------------- publisher

  /**
   * Seals an amortised envelope; record() it next, in sequence order, before its batch can be taken.
   * The key manager checked topic and payload at its entry; keys, seq and now are its own.
   */
  encrypt(keys: GroupEpochKeys, topic: string, payload: Uint8Array, seq: number, now: number): { bytes: Uint8Array; digest: Uint8Array } {
    return sealAmortisedUnchecked({ sender: this.#o.identity.id, keys, topic, payload, seq, now, maxPayloadBytes: this.#o.maxPayloadBytes });
  }

  /** Adds a sealed envelope's digest to its topic's batch (sequence numbers in increasing order). */
  record(keys: GroupEpochKeys, topic: string, seq: number, digest: Uint8Array, now: number): void {
    this.#batcher!.add(keys.channel, topic, keys.epoch, seq, digest, now);
  }

  takeManifests(all: boolean): ManifestToSend[] {
    const b = this.#batcher;
    if (!b) return [];
    const now = this.#o.clock();
    return b.take(now, all).map((batch) => toSend(batch, sealManifest({ sender: this.#o.identity, channel: batch.channel, epoch: batch.epoch, topic: batch.topic, entries: batch.entries, now })));
  }

  /**
   * takeManifests with signatures made by `sign`: the batches are taken now,
   * in order; the signatures follow. Undefined when no batch is due.
   */
  takeManifestsAsync(all: boolean, sign: AsyncSigner): Promise<ManifestToSend[]> | undefined {
    const b = this.#batcher;
    if (!b) return undefined;
    const now = this.#o.clock();
    const batches = b.take(now, all);
    if (batches.length === 0) return undefined;
    return Promise.all(
      batches.map(async (batch) =>
        toSend(batch, await sealManifestAsync({ sender: this.#o.identity, channel: batch.channel, epoch: batch.epoch, topic: batch.topic, entries: batch.entries, now }, sign)),
      ),
    );
  }

  // --------------------------------------------------------------- subscriber

  /**
   * Decrypts an amortised message as it arrives, before its turn in the
   * client's queue: a message that decrypts can be acknowledged at once (the
   * client's early PUBACK), so mqtt.js hands over the next packets.
   * Pure: no check, no state change, nothing thrown; undefined when the
   * message cannot be decrypted now (malformed, unknown sender or epoch, or a
   * tag that does not verify).
   * openMessage still decides everything.
   */
  prefetch(bytes: Uint8Array, receivedTopic: string): AmortisedPrefetch | undefined {
    try {
      const f = decodeAmortised(bytes, this.#o.maxPayloadBytes);
      const cert = this.#o.trust.get(f.sender, this.#o.clock());
      const keys = this.#o.peekKeys(f.sender, cert.keyEpoch, f.channel, f.epoch);
      if (!keys) return undefined;
      return new AmortisedPrefetch(bytes, receivedTopic, keys, decryptAmortised(keys, f, receivedTopic), f);
    } catch {
      return undefined;
    }
  }

  /**
   * The result itself when nothing has to be awaited (the usual case: the
   * message is held for its manifest), a promise only when a manifest covered
   * it already (its number is then recorded durably first).
   * @throws SecurityError for an immediate rejection (or the promise rejects with it).
   */
  openMessage(bytes: Uint8Array, receivedTopic: string, prefetched?: AmortisedPrefetch): AmortisedResult | Promise<AmortisedResult> {
    // Rejected before decryption: the early plaintext is wiped when it arrives.
    let result: AmortisedResult | Promise<AmortisedResult>;
    try {
      result = this.#openMessage(bytes, receivedTopic, prefetched);
    } catch (err) {
      prefetched?.discard();
      throw err;
    }
    if (result instanceof Promise) return result.finally(() => prefetched?.discard());
    prefetched?.discard();
    return result;
  }

  #openMessage(bytes: Uint8Array, receivedTopic: string, prefetched: AmortisedPrefetch | undefined): AmortisedResult | Promise<AmortisedResult> {
    const r = this.#receiver!;
    const now = this.#o.clock();
    checkTopicArg(receivedTopic, 'receivedTopic');
    const f = prefetched !== undefined && prefetched.bytes === bytes ? prefetched.fields : decodeAmortised(bytes, this.#o.maxPayloadBytes);
    const topic = receivedTopic;
    if (!topicMatches(f.channel, topic)) throw new SecurityError('TOPIC_MISMATCH', { sender: f.sender, topic, detail: `channel ${f.channel} does not match the topic` });
    const cert = this.#o.trust.get(f.sender, now);
    if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) {
      throw new SecurityError('NOT_AUTHORISED', { sender: f.sender, topic, detail: `${f.channel} is not a publish right of the sender` });
    }
    // No signature: an unknown epoch cannot trigger a key request here (a verified manifest does).
    const found = this.#o.lookup(f.sender, cert.keyEpoch, f.channel, f.epoch, f.seq, f.timestamp, now);
    if (!found.ok) throw new SecurityError(found.code, { sender: f.sender, topic, detail: found.detail ?? `epoch ${f.epoch} of ${f.channel}` });
    const stream = groupStream(f.sender, cert.keyEpoch, f.channel, f.epoch);
    const id = amortisedStreamId(f.sender, f.channel, topic, f.epoch);
    const lane = amortisedLaneId(f.sender, cert.keyEpoch, f.channel);
    const digest = entryDigest(topic, bytes);
    const coverage = r.coverage(id, f.seq, digest, lane);
    if (coverage === 'mismatch') throw new SecurityError('BAD_SIGNATURE', { sender: f.sender, topic, detail: `amortised message ${f.seq} is not the one the batch manifest lists` });
    const verdict = this.#o.replay.check(stream, f.seq, f.timestamp);
    if (!verdict.ok) {
      // A copy of an accepted message: DUPLICATE (quiet) unless a manifest shows it was tampered with (handled above).
      throw new SecurityError(verdict.code, { sender: f.sender, topic, ...(verdict.detail === undefined ? {} : { detail: verdict.detail }) });
    }
    if (coverage === 'uncovered' && r.isHeld(id, f.seq, digest)) throw new SecurityError('DUPLICATE', { sender: f.sender, topic, detail: 'already held for its manifest' });
    // Before decryption: a message the hold bounds would reject at once costs nothing more.
    const size = Math.max(0, f.ciphertext.length - AE_TAG_BYTES);
    const refused = coverage === 'uncovered' ? r.refusal(lane, f.seq, size) : undefined;
    if (refused !== undefined) throw new SecurityError('TOO_LARGE', { sender: f.sender, topic, detail: `amortised message ${f.seq}: ${this.#boundDetail(refused, lane, f.sender, f.channel)}; not held` });
    const { keys } = found;
    const early = prefetched !== undefined && prefetched.bytes === bytes && prefetched.topic === topic && prefetched.keys === keys;
    const payload = early ? prefetched.take() : decryptAmortised(keys, f, topic);
    const msg: AmortisedDataMessage = Object.freeze({ ...groupMessage(f, cert, topic, payload), retained: false });
    if (coverage === 'match') {
      return this.#o.replay.accept(stream, f.seq, f.timestamp).then(
        () => ({ released: [msg], rejected: [] }),
        (err: unknown) => {
          payload.fill(0);
          throw err;
        },
      );
    }
    const evicted = r.hold({ stream: id, lane, seq: f.seq, digest, heldAt: now, size, message: { msg, stream } });
    return { released: [], rejected: evicted.map((e) => this.#evict(e)) };
  }

  async acceptManifest(bytes: Uint8Array, receivedTopic: string): Promise<AmortisedResult> {
    const r = this.#receiver!;
    const now = this.#o.clock();
    const m = verifyManifest(bytes, { receivedTopic, trust: this.#o.trust, now, maxAgeMs: this.#o.maxAgeMs, clockSkewMs: this.#o.clockSkewMs });
    const cert = m.senderCertificate;
    const first = m.entries[0]!;
    const found = this.#o.lookup(m.sender, cert.keyEpoch, m.channel, m.epoch, first.seq, m.timestamp, now);
    if (!found.ok && found.code === 'UNKNOWN_EPOCH') {
      // Authentic (signed): ask for the key. Messages of that epoch that came before it were rejected UNKNOWN_EPOCH.
      this.#o.keyMissing({ sender: m.sender, senderKeyEpoch: cert.keyEpoch, channel: m.channel, epoch: m.epoch, seq: first.seq, timestamp: m.timestamp }, bytes, receivedTopic, now);
    }
    const id = amortisedStreamId(m.sender, m.channel, m.topic, m.epoch);
    // De-duplicated on what was signed (the stream id carries the topic), never on the signature's bytes.
    const { matched, forged } = r.addManifest(id, m.entries, shake256Public([m.tbs]), now, amortisedLaneId(m.sender, cert.keyEpoch, m.channel));
    const released: AmortisedDataMessage[] = [];
    const rejected: SecurityError[] = forged.map((h) => this.#reject(h, 'not the message the batch manifest lists for its sequence number'));
    // The batch's numbers are recorded together: the guard writes a stream's
    // window once for all the accepts waiting on it, not once per message.
    // Nothing is released before every accept settled (each is durable then).
    const accepts = matched.map(async (h) => {
      const { msg, stream } = h.message;
      const verdict = this.#o.replay.check(stream, msg.seq, msg.timestamp);
      if (!verdict.ok) throw new SecurityError(verdict.code, { sender: msg.sender, topic: msg.topic, ...(verdict.detail === undefined ? {} : { detail: verdict.detail }) });
      await this.#o.replay.accept(stream, msg.seq, msg.timestamp);
    });
    const settled = await Promise.allSettled(accepts);
    let failure: unknown;
    settled.forEach((outcome, i) => {
      const { msg } = matched[i]!.message;
      if (outcome.status === 'fulfilled') {
        released.push(msg);
        return;
      }
      msg.payload.fill(0);
      if (outcome.reason instanceof SecurityError) rejected.push(outcome.reason);
      else failure ??= outcome.reason;
    });
    if (failure !== undefined) {
      for (const msg of released) msg.payload.fill(0);
      throw failure;
    }
    return { released, rejected };
  }

  expire(): AmortisedResult {
    const r = this.#receiver;
    if (!r) return { released: [], rejected: [] };
    return { released: [], rejected: r.expire(this.#o.clock()).map((h) => this.#reject(h, `no batch manifest covered it within ${r.holdMs} ms`)) };
  }

  #reject(h: HeldAmortised<Pending>, detail: string, code: 'BAD_SIGNATURE' | 'TOO_LARGE' = 'BAD_SIGNATURE'): SecurityError {
    const { msg } = h.message;
    msg.payload.fill(0);
    return new SecurityError(code, { sender: msg.sender, topic: msg.topic, detail: `amortised message ${msg.seq}: ${detail}` });
  }

  /** A held message the hold bounds rejected (or the one just held, when it is the first to go). */
  #evict(e: Evicted<Pending>): SecurityError {
    const { msg } = e.held.message;
    return this.#reject(e.held, `${this.#boundDetail(e.bound, e.held.lane ?? e.held.stream, msg.sender, msg.channel)}; dropped before its manifest arrived`, 'TOO_LARGE');
  }

  #boundDetail(bound: HoldBound, lane: string, sender: string, channel: string): string {
    const r = this.#receiver!;
    const b = r.bounds;
    const of = `${sender} on ${channel}`;
    switch (bound) {
      case 'ahead':
        return `numbered more than maxAhead (${b.maxAhead}) above the last number a batch manifest of ${of} listed (${r.base(lane)}), with maxHeldAhead (${b.maxHeldAhead}) such messages held, this one the farthest ahead`;
      case 'lane':
        return `the hold buffer's share of ${of} is full (maxHeldPerChannel ${b.maxHeldPerChannel}), this message the farthest ahead`;
      case 'lane-bytes':
        return `the hold buffer's share of ${of} is full (maxHeldBytesPerChannel ${b.maxHeldBytesPerChannel} bytes), this message the farthest ahead`;
      case 'held':
        return `the hold buffer is full (maxHeld ${r.maxHeld}), ${of} holds the most, this message its farthest ahead`;
      case 'held-bytes':
        return `the hold buffer is full (maxHeldBytes ${b.maxHeldBytes} bytes), ${of} holds the most, this message its farthest ahead`;
      case 'size':
        return `larger than the hold buffer's share of a sender and channel (maxHeldBytesPerChannel ${b.maxHeldBytesPerChannel} bytes)`;
    }
  }

  close(): void {
    this.#batcher?.clear();
    for (const h of this.#receiver?.clear() ?? []) h.message.msg.payload.fill(0);
  }
}
