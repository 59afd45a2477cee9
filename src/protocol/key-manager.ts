// KeyManager: the group-key life cycle of one identity, as publisher and as
// subscriber. No MQTT here: it produces and consumes bytes, and tells the
// client (events) when grants must be sent or a key must be requested.
// Policy details: docs/PROTOCOL.md, "Rotation, grace, revocation" and
// "Retained messages".
//
// Publisher, per channel (one of its certificate's publish filters):
//   - an epoch: number (u32, write-ahead persisted, never reused, a restart
//     starts a new one), a fresh 32-byte key, its first sequence number and
//     its end (notAfter);
//   - a SequenceAllocator (crash-safe, unique per (publisher, channel) for
//     ever, across epochs): the AES-GCM nonce comes from it;
//   - the authorised subscribers (from key requests and grantsFor), persisted
//     so a restarted publisher re-grants at once;
//   - rotation after `rotateAfterMessages`, after `rotateAfterMs`, and at once
//     when a subscriber is revoked or loses its right (it gets no grant);
//   - the previous epochs' keys, for `graceMs` after each ended: a key request
//     that arrives just after a rotation also gets them (the requester may
//     hold messages of them), except a subscriber removed from the channel
//     before such an epoch ended and not re-admitted since.
// Subscriber, per (publisher, channel): the granted epochs' derived keys; older
// epochs stay usable for `graceMs` after a newer one arrives, then are wiped.
// An older epoch's grant arriving after a newer one is accepted within that
// grace period (never for an epoch older than one already wiped).

import { maySubscribe, type Certificate } from '../certs/certificate.js';
import { systemClock, type Clock } from '../clock.js';
import { systemRandom, type RandomSource } from '../crypto/random.js';
import { ConfigError, SecurityError, StorageError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { ReplayGuard, type ReplayVerdict, type StreamKey } from '../replay/guard.js';
import { streamId } from '../replay/stream-id.js';
import { SequenceAllocator } from '../storage/sequence.js';
import type { Storage } from '../storage/types.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter } from '../wire/codec.js';
import { channelFor, filtersOverlap } from './channels.js';
import { openDirect, sealDirect, type DirectMessage } from './direct.js';
import { MAX_GRANT_PAYLOAD_BYTES, NonceCache, openGrant, openKeyRequest, sealGrant, sealKeyRequest } from './grant.js';
import {
  EPOCH_KEY_BYTES,
  MAX_EPOCH,
  deriveGroupKeys,
  retireGroupKeys,
  openGroup,
  sameEpochKeys,
  sealGroup,
  type EpochLookup,
  type GroupEpochKeys,
  type GroupMessage,
  type UnknownEpochInfo,
} from './group.js';
import type { AsyncSigner } from './group.js';
import { groupStreamChannel, keySegment } from './streams.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, checkFilterArg, checkSubjectArg, checkTopicArg, type CertificateSource, type ReplayCheck } from './envelope.js';
import { AmortisedSide, type AmortisedPrefetch, type AmortiseOptions, type AmortisedAcceptOptions, type AmortisedResult, type ManifestToSend } from './amortised-manager.js';

/** Default topics for the key-management messages (the client may choose others). */
export const PROTOCOL_TOPICS = Object.freeze({
  /** Where a publisher sends grants for `subscriber`. */
  grant: (subscriber: string): string => `pqc-iiot/v1/grants/${checkSubjectArg(subscriber, 'subscriber')}`,
  /** Where a subscriber sends key requests for `publisher`. */
  keyRequest: (publisher: string): string => `pqc-iiot/v1/key-requests/${checkSubjectArg(publisher, 'publisher')}`,
});

export const KEY_MANAGER_DEFAULTS = Object.freeze({
  maxAgeMs: 5 * 60_000,
  clockSkewMs: 30_000,
  rotateAfterMessages: 100_000,
  rotateAfterMs: 60 * 60_000,
  graceMs: 30_000,
  retainedMaxAgeMs: 24 * 60 * 60_000,
  sequenceBlockSize: 1000,
  regrantIntervalMs: 1000,
  keyRequestRetryMs: 5000,
  maxHeldPerStream: 32,
  maxRetainedSeen: 10_000,
});

export interface KeyManagerOptions {
  readonly identity: Identity;
  /** This identity's own certificate: its publish filters are the channels. */
  readonly certificate: Certificate;
  /** Certificates of everyone else (a TrustStore). */
  readonly trust: CertificateSource;
  /** Epoch counters, sequence high-water marks, subscriber sets (and the default replay guard's windows). */
  readonly storage: Storage;
  /** Default: ReplayGuard.open({ storage, clock, maxAgeMs, clockSkewMs }). Give it the same clock. */
  readonly replay?: ReplayCheck & {
    forgetEpoch?(sender: string, channel: string, epochBelow: number): Promise<void>;
    /** Epochs below this were forgotten and must never be reopened (ReplayGuard persists it). */
    epochFloor?(sender: string, channel: string): number;
  };
  readonly clock?: Clock;
  /** Oldest acceptable live message / key request. Default 5 min. */
  readonly maxAgeMs?: number;
  /** How far ahead of our clock a timestamp may be. Default 30 s. */
  readonly clockSkewMs?: number;
  /** A channel gets a new epoch after this many messages. Default 100,000. */
  readonly rotateAfterMessages?: number;
  /** ... or this long after the epoch started. Default 1 h. Also the epoch's notAfter. */
  readonly rotateAfterMs?: number;
  /**
   * Subscriber: how long an old epoch's key stays usable after a newer one
   * arrived. Publisher: how long a previous epoch's key is kept after its end,
   * for key requests that arrive late. Default 30 s.
   */
  readonly graceMs?: number;
  /** Oldest acceptable retained message. Default 24 h. */
  readonly retainedMaxAgeMs?: number;
  /** SequenceAllocator block size. Default 1000. */
  readonly sequenceBlockSize?: number;
  /** A subscriber asking again for an epoch it was granted less than this ago gets no new grant. Default 1 s. */
  readonly regrantIntervalMs?: number;
  /** keyNeeded is signalled again for the same (publisher, channel, epoch) after this long. Default 5 s. */
  readonly keyRequestRetryMs?: number;
  /** Authentic messages held per (publisher, channel) while their key is requested. Default 32 (0 disables). */
  readonly maxHeldPerStream?: number;
  readonly maxPayloadBytes?: number;
  /**
   * Publisher: seal the given channels' messages in amortised mode (no per-message signature; one signed batch
   * manifest per batch, see takeManifests). Off by default. docs/PROTOCOL.md, "Amortised mode".
   */
  readonly amortise?: AmortiseOptions;
  /** Subscriber: accept amortised messages and batch manifests (openAmortised, acceptManifest). Off by default. */
  readonly acceptAmortised?: AmortisedAcceptOptions | boolean;
  /** The topic a grant for `subscriber` is sealed for. Default PROTOCOL_TOPICS.grant. */
  readonly grantTopic?: (subscriber: string) => string;
  /** Known-answer tests only: epoch keys, KEM and signing randomness. */
  readonly random?: RandomSource;
  /**
   * Signs data envelopes and batch manifests off this thread (WorkerSigner.sign): a Falcon-512 signature of
   * the message by `identity`. Default: identity.sign, here. Not used with `random` (known answers).
   */
  readonly signer?: AsyncSigner;
  /** Storage key prefix. Default 'pqc-iiot/km/v1/'. */
  readonly storagePrefix?: string;
}

/** A grant to send: publish `bytes` on `topic` (the subscriber opens it with acceptGrant). */
export interface KeyGrant {
  readonly subscriber: string;
  readonly channel: string;
  readonly epoch: number;
  readonly topic: string;
  readonly bytes: Uint8Array;
}

export type RotationReason = 'start' | 'messages' | 'time' | 'revoked' | 'right-lost' | 'manual';

export interface RotationEvent {
  readonly channel: string;
  readonly epoch: number;
  readonly previousEpoch: number | undefined;
  readonly reason: RotationReason;
  /** One grant per remaining authorised subscriber: send them all. */
  readonly grants: readonly KeyGrant[];
  /** Subscribers dropped before this epoch (revoked, expired, or without the right any more). */
  readonly removed: readonly string[];
}

export interface KeyNeededEvent {
  readonly publisher: string;
  readonly channel: string;
  readonly epoch: number;
}

export type KeyManagerEvents = {
  /** A channel has a new epoch: publish every grant (before the data that follows, where the transport allows). */
  rotated: [RotationEvent];
  /** An authentic message came under an epoch we have no key for: send keyRequest(publisher, channel). */
  keyNeeded: [KeyNeededEvent];
};

/** A verified group message as the application sees it. */
export interface DataMessage extends GroupMessage {
  readonly retained: boolean;
}

export interface OpenDataOptions {
  /** The MQTT retain flag of the delivery: see the retained-message policy. */
  readonly retained?: boolean;
}

export interface AcceptedGrant {
  readonly publisher: string;
  readonly channel: string;
  readonly epoch: number;
  /** Held messages of this epoch, now opened (in arrival order). */
  readonly released: readonly DataMessage[];
}

// ------------------------------------------------------------------ internals

/** What a grant carries about one epoch of a channel. */
interface GrantableEpoch {
  readonly epoch: number;
  /** The raw 32-byte epoch key (a secret: wiped when the epoch is retired). */
  readonly epochKey: Uint8Array;
  readonly firstSeq: number;
  readonly notAfter: number;
}

/** A publisher's previous epoch, kept for late key requests until its grace period ends. */
interface RetainedEpoch extends GrantableEpoch {
  /** Granted (and then wiped) up to this time: min(end of the epoch, notAfter) + graceMs. */
  readonly until: number;
  /** Subscribers removed from the channel before this epoch ended, not re-admitted: never granted it. */
  readonly excluded: ReadonlySet<string>;
  /** When each subscriber was last granted this epoch (rate limit). */
  readonly granted: Map<string, number | undefined>;
}

interface PublisherChannel {
  readonly channel: string;
  readonly seq: SequenceAllocator;
  epoch: number;
  epochKey: Uint8Array;
  keys: GroupEpochKeys | undefined;
  startedAt: number;
  notAfter: number;
  firstSeq: number;
  firstSeqUsed: boolean;
  messages: number;
  /** Authorised subscribers and when each was last granted the current epoch. */
  readonly subscribers: Map<string, number | undefined>;
  /** Previous epochs still within their grace period, oldest first (memory only). */
  retained: RetainedEpoch[];
  /**
   * Subscribers removed from the channel (revoked, expired, right lost) and not
   * re-admitted since. Never mutated in place: retained epochs share it.
   */
  excluded: ReadonlySet<string>;
  queue: Promise<unknown>;
  /** Tasks queued or running in #exclusive. */
  busy: number;
  /** The last seal started: seals finish in the order they were started (see sealData). */
  sealTail: Promise<unknown>;
  /** Seals started and not finished. */
  sealing: number;
  closed: boolean;
}

/** At most this many previous epochs per channel are kept (rotation is the publisher's own doing: a sanity bound). */
const MAX_RETAINED_EPOCHS = 16;

interface SubscriberEpoch {
  readonly keys: GroupEpochKeys;
  readonly firstSeq: number;
  readonly notAfter: number;
  /** When its grant was accepted: an older epoch's grace period starts when a newer one is installed. */
  readonly installedAt: number;
  /** Wiped after this (Infinity while it is the newest epoch). */
  expiresAt: number;
}

interface HeldMessage {
  readonly bytes: Uint8Array;
  readonly topic: string;
  readonly retained: boolean;
  readonly epoch: number;
}

interface SubscriberStream {
  readonly sender: string;
  readonly channel: string;
  senderKeyEpoch: number;
  latest: number;
  /** Epochs below this are over for good (a newer epoch's grace period ended): never installed again. */
  floor: number;
  readonly epochs: Map<number, SubscriberEpoch>;
  held: HeldMessage[];
}

interface Needed {
  readonly publisher: string;
  readonly channel: string;
  /** The newest epoch needed (held messages' epochs, or the last one signalled). */
  epoch: number;
  readonly senderKeyEpoch: number;
  signalledAt: number;
  /** When the last authentic message needing it arrived: the need lapses maxAgeMs later. */
  lastSeenAt: number;
}

const streamKeyOf = (sender: string, channel: string): string => `${sender}\n${channel}`;

function positive(value: number | undefined, fallback: number, what: string, min = 0): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new RangeError(`${what} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function encodeU32(value: number): Uint8Array {
  return new ByteWriter(4).u32(value).finish();
}

function encodeSubscribers(ids: Iterable<string>): Uint8Array {
  const list = [...ids].sort();
  const w = new ByteWriter(64).u32(list.length);
  for (const id of list) w.string16(id);
  return w.finish();
}

function decodeSubscribers(bytes: Uint8Array, key: string): string[] {
  try {
    const r = new ByteReader(bytes);
    const n = r.u32('count');
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(checkSubjectArg(r.string16(128, 'subscriber'), 'subscriber'));
    r.end('subscribers');
    return out;
  } catch (err) {
    throw new StorageError('CORRUPT', `key manager: ${key} is unreadable`, { cause: err });
  }
}

/**
 * The retained-message replay policy: a retained message is accepted once per
 * session (this KeyManager's life, or until resetRetainedSession) if its age is
 * within retainedMaxAgeMs. It never moves the live window. Nothing is taken
 * twice: a retained copy of a message the live window accepted is DUPLICATE
 * (REPLAY if it is below the live window, which may have accepted it), and a
 * live copy of a message accepted as retained in this session is DUPLICATE
 * (`live()` wraps the live window with that second rule).
 */
class RetainedSession implements ReplayCheck {
  readonly #seen = new Set<string>();

  constructor(
    private readonly window: ReplayCheck,
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
    private readonly skewMs: number,
    private readonly maxEntries: number,
  ) {}

  #id(key: StreamKey, seq: number): string {
    return `${streamId(key)}#${seq}`;
  }

  check(key: StreamKey, seq: number, timestampMs: number): ReplayVerdict {
    // The live window's sequence verdict counts (a message it accepted, or one
    // below it that it may have accepted, is not taken again); its time verdict
    // does not (retained messages are old by nature).
    const live = this.window.check(key, seq, timestampMs);
    if (!live.ok && (live.code === 'DUPLICATE' || live.code === 'REPLAY')) return live;
    const now = this.clock();
    if (timestampMs > now + this.skewMs) return { ok: false, code: 'FROM_FUTURE' };
    if (timestampMs < now - this.maxAgeMs) return { ok: false, code: 'TOO_OLD' };
    if (this.#seen.has(this.#id(key, seq))) return { ok: false, code: 'DUPLICATE' };
    return { ok: true };
  }

  async accept(key: StreamKey, seq: number): Promise<void> {
    const id = this.#id(key, seq);
    if (this.#seen.has(id)) throw new SecurityError('DUPLICATE', { sender: key.sender, detail: 'retained message already accepted this session' });
    if (this.#seen.size >= this.maxEntries) this.#seen.delete(this.#seen.values().next().value as string);
    this.#seen.add(id);
  }

  /** The live window, plus: a message accepted as retained in this session is a DUPLICATE live. */
  live(): ReplayCheck {
    return {
      check: (key, seq, timestampMs) =>
        // No retained message accepted yet (the usual case): no id to build per live message.
        this.#seen.size > 0 && this.#seen.has(this.#id(key, seq)) ? { ok: false, code: 'DUPLICATE' } : this.window.check(key, seq, timestampMs),
      accept: async (key, seq, timestampMs) => {
        if (this.#seen.size > 0 && this.#seen.has(this.#id(key, seq))) throw new SecurityError('DUPLICATE', { sender: key.sender });
        await this.window.accept(key, seq, timestampMs);
      },
    };
  }

  reset(): void {
    this.#seen.clear();
  }
}

/**
 * Group keys of one identity, both roles. Open with `await KeyManager.open(...)`.
 *
 * Publisher flow: `sealData(topic, payload)` -> publish the bytes on `topic`;
 * `handleKeyRequest(bytes)` -> publish each returned grant on `grant.topic`;
 * on 'rotated', publish every grant of the event; call `maintain()`
 * periodically and after trust changes, `handleRevoked(ids)` after a
 * revocation list. Subscriber flow: `openData(bytes, topic, { retained })` for
 * every message on a data topic; on 'keyNeeded', publish
 * `keyRequest(publisher, channel)` on PROTOCOL_TOPICS.keyRequest(publisher);
 * `acceptGrant(bytes, topic)` for every message on its grant topic.
 */
export class KeyManager extends TypedEmitter<KeyManagerEvents> {
  readonly identity: Identity;
  #cert: Certificate;
  readonly #trust: CertificateSource;
  readonly #storage: Storage;
  readonly #replay: NonNullable<KeyManagerOptions['replay']>;
  readonly #retained: RetainedSession;
  readonly #liveData: ReplayCheck;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #deterministic: RandomSource | undefined;
  readonly #signer: AsyncSigner | undefined;
  readonly #prefix: string;
  readonly #grantTopic: (subscriber: string) => string;
  readonly #o: {
    maxAgeMs: number;
    clockSkewMs: number;
    rotateAfterMessages: number;
    rotateAfterMs: number;
    graceMs: number;
    regrantIntervalMs: number;
    keyRequestRetryMs: number;
    maxHeldPerStream: number;
    maxPayloadBytes: number;
  };
  readonly #direct: SequenceAllocator;
  readonly #channels = new Map<string, Promise<PublisherChannel>>();
  /** The channels of #channels that finished starting (for sealData's synchronous path). */
  readonly #startedChannels = new Map<string, PublisherChannel>();
  /** sealData calls per channel on the queued path, not finished yet. */
  readonly #queuedSeals = new Map<string, number>();
  readonly #streams = new Map<string, SubscriberStream>();
  readonly #needed = new Map<string, Needed>();
  readonly #nonces = new NonceCache();
  #closed = false;
  /** Amortised mode (both roles); undefined unless configured. */
  #amortised: AmortisedSide | undefined;

  private constructor(opts: KeyManagerOptions, replay: NonNullable<KeyManagerOptions['replay']>, direct: SequenceAllocator, prefix: string) {
    super();
    this.identity = opts.identity;
    this.#cert = opts.certificate;
    this.#trust = opts.trust;
    this.#storage = opts.storage;
    this.#replay = replay;
    this.#direct = direct;
    this.#clock = opts.clock ?? systemClock;
    this.#deterministic = opts.random;
    this.#random = opts.random ?? systemRandom;
    this.#signer = opts.random === undefined ? opts.signer : undefined;
    this.#prefix = prefix;
    this.#grantTopic = opts.grantTopic ?? PROTOCOL_TOPICS.grant;
    const D = KEY_MANAGER_DEFAULTS;
    this.#o = {
      maxAgeMs: positive(opts.maxAgeMs, D.maxAgeMs, 'maxAgeMs'),
      clockSkewMs: positive(opts.clockSkewMs, D.clockSkewMs, 'clockSkewMs'),
      rotateAfterMessages: positive(opts.rotateAfterMessages, D.rotateAfterMessages, 'rotateAfterMessages', 1),
      rotateAfterMs: positive(opts.rotateAfterMs, D.rotateAfterMs, 'rotateAfterMs', 1),
      graceMs: positive(opts.graceMs, D.graceMs, 'graceMs'),
      regrantIntervalMs: positive(opts.regrantIntervalMs, D.regrantIntervalMs, 'regrantIntervalMs'),
      keyRequestRetryMs: positive(opts.keyRequestRetryMs, D.keyRequestRetryMs, 'keyRequestRetryMs'),
      maxHeldPerStream: positive(opts.maxHeldPerStream, D.maxHeldPerStream, 'maxHeldPerStream'),
      maxPayloadBytes: positive(opts.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES, 'maxPayloadBytes'),
    };
    this.#retained = new RetainedSession(
      replay,
      this.#clock,
      positive(opts.retainedMaxAgeMs, D.retainedMaxAgeMs, 'retainedMaxAgeMs'),
      this.#o.clockSkewMs,
      D.maxRetainedSeen,
    );
    this.#liveData = this.#retained.live();
    if (opts.amortise !== undefined || (opts.acceptAmortised !== undefined && opts.acceptAmortised !== false)) {
      this.#amortised = new AmortisedSide({
        identity: this.identity,
        trust: this.#trust,
        clock: this.#clock,
        replay: this.#liveData,
        maxAgeMs: this.#o.maxAgeMs,
        clockSkewMs: this.#o.clockSkewMs,
        maxPayloadBytes: this.#o.maxPayloadBytes,
        ...(opts.amortise !== undefined && { amortise: opts.amortise }),
        ...(opts.acceptAmortised !== undefined && opts.acceptAmortised !== false && { accept: opts.acceptAmortised === true ? {} : opts.acceptAmortised }),
        lookup: (sender, senderKeyEpoch, channel, epoch, seq, timestamp, now) => this.#lookup(sender, senderKeyEpoch, channel, epoch, seq, timestamp, now),
        peekKeys: (sender, senderKeyEpoch, channel, epoch) => {
          const s = this.#streams.get(streamKeyOf(sender, channel));
          return s && s.senderKeyEpoch === senderKeyEpoch ? s.epochs.get(epoch)?.keys : undefined;
        },
        keyMissing: (info, bytes, topic, now) => this.#keyMissing(info, bytes, topic, false, now),
      });
    }
  }

  /**
   * Opens the key manager of `identity`. Nothing is sealed or granted yet: a
   * channel's first epoch starts on first use (and always as a NEW epoch).
   * @throws RangeError if the certificate is not the identity's; ConfigError IN_USE
   *   if another KeyManager of this identity is open on the same storage.
   */
  static async open(opts: KeyManagerOptions): Promise<KeyManager> {
    const { identity, certificate } = opts;
    if (certificate.subject !== identity.id || !equalBytes(certificate.publicKeys.falcon, identity.publicKeys.falcon)) {
      throw new RangeError(`certificate is not the certificate of identity ${identity.id}`);
    }
    if (opts.clock !== undefined && typeof opts.clock !== 'function') throw new TypeError('clock must be a function');
    const prefix = `${opts.storagePrefix ?? 'pqc-iiot/km/v1/'}${keySegment(identity.id)}/`;
    const replay =
      opts.replay ??
      (await ReplayGuard.open({
        storage: opts.storage,
        ...(opts.clock ? { clock: opts.clock } : {}),
        maxAgeMs: opts.maxAgeMs ?? KEY_MANAGER_DEFAULTS.maxAgeMs,
        clockSkewMs: opts.clockSkewMs ?? KEY_MANAGER_DEFAULTS.clockSkewMs,
      }));
    const direct = await SequenceAllocator.open(opts.storage, `${prefix}seq/direct`, {
      blockSize: opts.sequenceBlockSize ?? KEY_MANAGER_DEFAULTS.sequenceBlockSize,
    });
    try {
      return new KeyManager(opts, replay, direct, prefix);
    } catch (err) {
      direct.close();
      throw err;
    }
  }

  get certificate(): Certificate {
    return this.#cert;
  }

  #live(): void {
    if (this.#closed) throw new ConfigError('CLOSED', 'the key manager is closed');
  }

  // ================================================================ publisher

  /** The channel `topic` is published under: the most specific publish filter matching it (see channelFor). */
  channelFor(topic: string): string | undefined {
    checkTopicArg(topic);
    return channelFor(this.#cert.publish, topic);
  }

  /** The current epoch of `channel`, if it has started. */
  async currentEpoch(channel: string): Promise<number | undefined> {
    const pending = this.#channels.get(channel);
    return pending ? (await pending).epoch : undefined;
  }

  /** The authorised subscribers of `channel` (those who will get the next epoch's grant). */
  async subscribersOf(channel: string): Promise<string[]> {
    const pending = this.#channels.get(channel);
    return pending ? [...(await pending).subscribers.keys()].sort() : [];
  }

  /**
   * Encrypts and signs `payload` for `topic` under the current epoch of its
   * channel, rotating first when the epoch is used up (count or time).
   * @throws SecurityError NOT_AUTHORISED if no publish filter of ours matches `topic`.
   */
  async sealData(topic: string, payload: Uint8Array, options: { readonly signed?: boolean } = {}): Promise<Uint8Array> {
    this.#live();
    checkTopicArg(topic);
    const channel = channelFor(this.#cert.publish, topic);
    if (channel === undefined) {
      throw new SecurityError('NOT_AUTHORISED', { topic, sender: this.identity.id, detail: 'no publish right of ours matches this topic' });
    }
    const fast = this.#sealAmortisedNow(channel, topic, payload, options);
    if (fast !== undefined) return fast;
    // Counted from this call on, before any await, so that a later call cannot
    // take the synchronous path and be numbered ahead of this one.
    this.#queuedSeals.set(channel, (this.#queuedSeals.get(channel) ?? 0) + 1);
    try {
      return await this.#sealQueued(channel, topic, payload, options);
    } finally {
      const left = (this.#queuedSeals.get(channel) ?? 1) - 1;
      if (left > 0) this.#queuedSeals.set(channel, left);
      else this.#queuedSeals.delete(channel);
    }
  }

  async #sealQueued(channel: string, topic: string, payload: Uint8Array, options: { readonly signed?: boolean }): Promise<Uint8Array> {
    const ch = await this.#channel(channel);
    // The exclusive section only rotates and numbers; a signed seal's
    // WebCrypto call and signature run outside it, so the seals of messages
    // sealed back to back overlap (one WebCrypto call at a time costs about
    // twice the CPU per call: each wakes a thread-pool thread). Seals still
    // finish in the order they were numbered, so a caller that publishes on
    // completion publishes in sequence order, and a batch's entries stay in
    // order. (An amortised seal is synchronous: see #sealAmortisedNow.)
    const started = await this.#exclusive(ch, async () => {
      const now = this.#clock();
      if (ch.messages >= this.#o.rotateAfterMessages) await this.#rotate(ch, 'messages', []);
      else if (now >= ch.notAfter) await this.#rotate(ch, 'time', []);
      const seq = ch.firstSeqUsed ? await ch.seq.next() : ch.firstSeq;
      ch.firstSeqUsed = true;
      ch.messages++;
      const keys = ch.keys!;
      const amortised = this.#amortised;
      let sealing: Promise<Uint8Array>;
      if (amortised && options.signed !== true && amortised.amortises(channel)) {
        // Synchronous (the wasm cipher): sealed and recorded here, in sequence
        // order. Its result, a failure included, is handed out in turn.
        let sealed: Uint8Array | undefined;
        let failure: unknown;
        try {
          const { bytes, digest } = amortised.encrypt(keys, topic, payload, seq, now);
          amortised.record(keys, topic, seq, digest, now);
          sealed = bytes;
        } catch (err) {
          failure = err;
        }
        sealing = ch.sealTail.then(() => {
          if (sealed === undefined) throw failure;
          return sealed;
        });
      } else {
        const signed = sealGroup({ sender: this.identity, keys, topic, payload, seq, now, maxPayloadBytes: this.#o.maxPayloadBytes, ...this.#det(), ...(this.#signer && { sign: this.#signer }) });
        signed.catch(() => undefined); // its failure reaches the caller through `sealing`, in turn
        sealing = ch.sealTail.then(() => signed);
      }
      ch.sealing++;
      ch.sealTail = sealing.then(
        () => void ch.sealing--,
        () => void ch.sealing--,
      );
      return { sealing };
    });
    return started.sealing;
  }

  /**
   * Verifies a key request addressed to us and grants the subscriber every
   * channel of ours that overlaps the requested filter and that its subscribe
   * rights cover entirely; it joins those channels' authorised subscribers.
   * Per channel: the previous epochs still within their grace period (oldest
   * first: the subscriber may hold messages of them, sealed before its
   * request was handled), except to a subscriber removed from the channel
   * before such an epoch ended and not re-admitted since; then the current
   * epoch. A repeat within regrantIntervalMs of the same epoch's grant yields
   * nothing for that epoch.
   * @returns grants to publish, in this order (empty if no channel of ours overlaps the filter).
   * @throws SecurityError from openKeyRequest; NOT_AUTHORISED if channels overlap but none is covered.
   */
  async handleKeyRequest(bytes: Uint8Array): Promise<KeyGrant[]> {
    this.#live();
    const now = this.#clock();
    const req = openKeyRequest(bytes, {
      publisher: this.identity.id,
      trust: this.#trust,
      now,
      maxAgeMs: this.#o.maxAgeMs,
      clockSkewMs: this.#o.clockSkewMs,
      nonces: this.#nonces,
    });
    const overlapping = this.#cert.publish.filter((c) => filtersOverlap(req.filter, c));
    if (overlapping.length === 0) return [];
    const covered = overlapping.filter((c) => maySubscribe(req.subscriberCertificate, c));
    if (covered.length === 0) {
      throw new SecurityError('NOT_AUTHORISED', {
        sender: req.subscriber,
        detail: `its rights cover none of the channels ${overlapping.join(', ')} entirely`,
      });
    }
    return this.#grantChannels(req.subscriberCertificate, covered, true);
  }

  /**
   * Grants `subscriber` (checked against the trust store now) every channel of
   * ours its rights cover, and adds it to those channels' authorised
   * subscribers: for provisioning known subscribers without a key request.
   * @throws SecurityError UNKNOWN_SENDER/REVOKED/EXPIRED for the subscriber.
   */
  async grantsFor(subscriber: Certificate): Promise<KeyGrant[]> {
    this.#live();
    const cert = this.#trust.get(subscriber.subject, this.#clock());
    return this.#grantChannels(
      cert,
      this.#cert.publish.filter((c) => maySubscribe(cert, c)),
      false,
    );
  }

  /**
   * `cert` is valid now and covers every channel in `channels`. A key request
   * (`request`) is rate-limited per epoch and also gets the retained previous
   * epochs; grantsFor gets the current epochs only.
   */
  async #grantChannels(cert: Certificate, channels: readonly string[], request: boolean): Promise<KeyGrant[]> {
    const grants: KeyGrant[] = [];
    const id = cert.subject;
    for (const channel of channels) {
      const ch = await this.#channel(channel);
      const sealed = await this.#exclusive(ch, async () => {
        const now = this.#clock();
        const recent = (last: number | undefined): boolean => request && last !== undefined && now - last < this.#o.regrantIntervalMs;
        const out: KeyGrant[] = [];
        if (request) {
          this.#pruneRetained(ch, now);
          for (const r of ch.retained) {
            if (r.excluded.has(id) || recent(r.granted.get(id))) continue;
            out.push(await this.#seal(ch.channel, r, cert, now));
            r.granted.set(id, now);
          }
        }
        if (!recent(ch.subscribers.get(id))) {
          const known = ch.subscribers.has(id);
          out.push(await this.#seal(ch.channel, ch, cert, now));
          ch.subscribers.set(id, now);
          if (ch.excluded.has(id)) ch.excluded = new Set([...ch.excluded].filter((x) => x !== id)); // re-admitted from this epoch on
          if (!known) await this.#saveSubscribers(ch);
        }
        return out;
      });
      grants.push(...sealed);
    }
    return grants;
  }

  /**
   * Removes `subjects` from every channel's subscribers and rotates each
   * channel that had one of them, so they get no key for anything published
   * from now on. Also drops keys we hold from them as publishers. Call it
   * with TrustStore.applyRevocationList's `newlyRevoked`.
   */
  async handleRevoked(subjects: Iterable<string>): Promise<RotationEvent[]> {
    this.#live();
    const gone = new Set(subjects);
    for (const s of [...this.#streams.values()]) if (gone.has(s.sender)) this.#dropStream(s);
    const events: RotationEvent[] = [];
    for (const pending of [...this.#channels.values()]) {
      const ch = await pending;
      const event = await this.#exclusive(ch, async () => {
        const removed = [...ch.subscribers.keys()].filter((id) => gone.has(id));
        if (removed.length === 0) return undefined;
        for (const id of removed) ch.subscribers.delete(id);
        await this.#saveSubscribers(ch);
        return this.#rotate(ch, 'revoked', removed);
      });
      if (event) events.push(event);
    }
    return events;
  }

  /** Starts a new epoch of `channel` now (e.g. on an operator's request). */
  async rotate(channel: string): Promise<RotationEvent> {
    this.#live();
    const ch = await this.#channel(checkFilterArg(channel));
    return this.#exclusive(ch, () => this.#rotate(ch, 'manual', []));
  }

  /**
   * Periodic upkeep (call every few seconds and after any trust change):
   * re-checks every authorised subscriber against the trust store (revoked,
   * expired, or a renewed certificate without the right: removed, and the
   * channel rotates with reason 'revoked' or 'right-lost'); rotates epochs whose
   * time is up; wipes previous epochs' keys (publisher) and subscriber keys
   * whose grace period ended, and held messages that can no longer be opened;
   * signals keyNeeded again for keys still missing.
   */
  async maintain(): Promise<RotationEvent[]> {
    this.#live();
    const events: RotationEvent[] = [];
    for (const pending of [...this.#channels.values()]) {
      const ch = await pending;
      const event = await this.#exclusive(ch, async () => {
        const now = this.#clock();
        const removed: string[] = [];
        let reason: RotationReason | undefined;
        for (const id of [...ch.subscribers.keys()]) {
          let cert: Certificate;
          try {
            cert = this.#trust.get(id, now);
          } catch (err) {
            if (!(err instanceof SecurityError)) throw err;
            removed.push(id);
            reason = 'revoked';
            continue;
          }
          if (!maySubscribe(cert, ch.channel)) {
            removed.push(id);
            reason ??= 'right-lost';
          }
        }
        this.#pruneRetained(ch, now);
        if (removed.length > 0) {
          for (const id of removed) ch.subscribers.delete(id);
          await this.#saveSubscribers(ch);
          return this.#rotate(ch, reason!, removed);
        }
        if (now >= ch.notAfter) return this.#rotate(ch, 'time', []);
        return undefined;
      });
      if (event) events.push(event);
    }
    const now = this.#clock();
    for (const s of [...this.#streams.values()]) this.#purge(s, now);
    for (const [id, n] of [...this.#needed]) {
      if (now - n.lastSeenAt > this.#o.maxAgeMs) {
        this.#needed.delete(id); // nothing needing it arrived for a while: stop asking
        continue;
      }
      if (now - n.signalledAt >= this.#o.keyRequestRetryMs) {
        n.signalledAt = now;
        this.emit('keyNeeded', { publisher: n.publisher, channel: n.channel, epoch: n.epoch });
      }
    }
    return events;
  }

  /**
   * Replaces our own certificate (renewal). Channels no longer among its
   * publish filters are closed and their keys wiped.
   * @throws RangeError if it is not a certificate of this identity's keys.
   */
  async setCertificate(cert: Certificate): Promise<void> {
    if (cert.subject !== this.identity.id || !equalBytes(cert.publicKeys.falcon, this.identity.publicKeys.falcon)) {
      throw new RangeError(`certificate is not the certificate of identity ${this.identity.id}`);
    }
    this.#cert = cert;
    for (const [channel, pending] of [...this.#channels]) {
      if (cert.publish.includes(channel)) continue;
      this.#channels.delete(channel);
      const ch = await pending;
      await this.#exclusive(ch, async () => this.#closeChannel(ch));
    }
  }

  /** Seals a command for one recipient with our direct sequence numbers (shared with grants). */
  async sealDirect(recipient: Certificate, topic: string, payload: Uint8Array): Promise<Uint8Array> {
    this.#live();
    return sealDirect({
      sender: this.identity,
      senderCert: this.#cert,
      recipient,
      topic,
      payload,
      seq: await this.#direct.next(),
      now: this.#clock(),
      maxPayloadBytes: this.#o.maxPayloadBytes,
      ...this.#det(),
    });
  }

  /** Opens a direct envelope addressed to us (see openDirect). */
  async openDirect(bytes: Uint8Array, receivedTopic: string): Promise<DirectMessage> {
    this.#live();
    return openDirect(bytes, {
      recipient: this.identity,
      recipientKeyEpoch: this.#cert.keyEpoch,
      receivedTopic,
      trust: this.#trust,
      now: this.#clock(),
      replay: this.#replay,
      maxPayloadBytes: this.#o.maxPayloadBytes,
    });
  }

  #det(): { random?: RandomSource } {
    return this.#deterministic ? { random: this.#deterministic } : {};
  }

  /** Runs `task` after every earlier task of the channel (epoch changes and sequence order). */
  #exclusive<T>(ch: PublisherChannel, task: () => Promise<T>): Promise<T> {
    ch.busy++;
    const run = ch.queue.then(() => {
      if (ch.closed) throw new ConfigError('CLOSED', `channel ${ch.channel} is closed`);
      return task();
    });
    ch.queue = run.then(
      () => void ch.busy--,
      () => void ch.busy--,
    );
    return run;
  }

  /**
   * sealData's steady state in amortised mode, without a turn of the event
   * loop: the channel is started, no earlier call is queued, numbering or
   * sealing on it (so call order is kept), no rotation is due and the current block of
   * sequence numbers has one left. Undefined when any of that does not hold:
   * then the queued path runs, with the same result.
   */
  #sealAmortisedNow(channel: string, topic: string, payload: Uint8Array, options: { readonly signed?: boolean }): Uint8Array | undefined {
    const ch = this.#startedChannels.get(channel);
    const amortised = this.#amortised;
    if (!ch || ch.closed || ch.busy > 0 || ch.sealing > 0 || this.#queuedSeals.has(channel) || !ch.keys || options.signed === true || !amortised?.amortises(channel)) {
      return undefined;
    }
    const now = this.#clock();
    if (ch.messages >= this.#o.rotateAfterMessages || now >= ch.notAfter) return undefined;
    const seq = ch.firstSeqUsed ? ch.seq.tryNextSync() : ch.firstSeq;
    if (seq === undefined) return undefined;
    ch.firstSeqUsed = true;
    ch.messages++;
    const { bytes, digest } = amortised.encrypt(ch.keys, topic, payload, seq, now);
    amortised.record(ch.keys, topic, seq, digest, now);
    return bytes;
  }

  #channel(channel: string): Promise<PublisherChannel> {
    let pending = this.#channels.get(channel);
    if (!pending) {
      if (!this.#cert.publish.includes(channel)) {
        return Promise.reject(new SecurityError('NOT_AUTHORISED', { sender: this.identity.id, detail: `${channel} is not a publish right of ours` }));
      }
      pending = this.#startChannel(channel);
      this.#channels.set(channel, pending);
      pending.catch(() => {
        if (this.#channels.get(channel) === pending) this.#channels.delete(channel);
      });
    }
    return pending;
  }

  async #startChannel(channel: string): Promise<PublisherChannel> {
    const seq = await SequenceAllocator.open(this.#storage, `${this.#prefix}seq/g/${keySegment(channel)}`, {
      blockSize: this.#direct.blockSize,
    });
    const ch: PublisherChannel = {
      channel,
      seq,
      epoch: 0,
      epochKey: new Uint8Array(0),
      keys: undefined,
      startedAt: 0,
      notAfter: 0,
      firstSeq: 0,
      firstSeqUsed: true,
      messages: 0,
      subscribers: new Map(),
      retained: [],
      excluded: new Set(),
      queue: Promise.resolve(),
      busy: 0,
      sealTail: Promise.resolve(),
      sealing: 0,
      closed: false,
    };
    try {
      const saved = await this.#storage.get(this.#subscribersKey(channel));
      if (saved) for (const id of decodeSubscribers(saved, this.#subscribersKey(channel))) ch.subscribers.set(id, undefined);
      // Re-validated (and re-granted) as the first epoch starts.
      const removed = this.#revalidate(ch, this.#clock());
      if (removed.length > 0) await this.#saveSubscribers(ch);
      await this.#exclusive(ch, () => this.#rotate(ch, 'start', removed));
      this.#startedChannels.set(channel, ch);
      return ch;
    } catch (err) {
      seq.close();
      throw err;
    }
  }

  #revalidate(ch: PublisherChannel, now: number): string[] {
    const removed: string[] = [];
    for (const id of [...ch.subscribers.keys()]) {
      try {
        if (maySubscribe(this.#trust.get(id, now), ch.channel)) continue;
      } catch (err) {
        if (!(err instanceof SecurityError)) throw err;
      }
      ch.subscribers.delete(id);
      removed.push(id);
    }
    return removed;
  }

  #epochKey(channel: string): string {
    return `${this.#prefix}epoch/${keySegment(channel)}`;
  }

  #subscribersKey(channel: string): string {
    return `${this.#prefix}subscribers/${keySegment(channel)}`;
  }

  async #saveSubscribers(ch: PublisherChannel): Promise<void> {
    await this.#storage.set(this.#subscribersKey(ch.channel), encodeSubscribers(ch.subscribers.keys()));
  }

  /**
   * A new epoch: reserve its number durably first (write-ahead: a number is
   * never used before it is stored, so no restart can reuse it with another
   * key), then its first sequence number, then a fresh key. Must run inside
   * #exclusive. The old epoch's raw key is retained for graceMs (late key
   * requests); subscribers removed now are excluded from the new epoch and,
   * until re-admitted, from every later one retained. Emits 'rotated' with a
   * grant for every remaining subscriber.
   */
  async #rotate(ch: PublisherChannel, reason: RotationReason, removed: string[]): Promise<RotationEvent> {
    const key = this.#epochKey(ch.channel);
    const stored = await this.#storage.get(key);
    let last = ch.epoch;
    if (stored !== undefined) {
      if (stored.length !== 4) throw new StorageError('CORRUPT', `key manager: ${key} is not a u32`);
      last = Math.max(last, new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0));
    }
    if (last >= MAX_EPOCH) throw new ConfigError('EXHAUSTED', `channel ${ch.channel} has used every epoch number`);
    const epoch = last + 1;
    await this.#storage.set(key, encodeU32(epoch));
    const firstSeq = await ch.seq.next();
    const epochKey = this.#random(EPOCH_KEY_BYTES);
    let keys: GroupEpochKeys;
    try {
      keys = await deriveGroupKeys(epochKey, this.identity.id, ch.channel, epoch);
    } catch (err) {
      epochKey.fill(0);
      throw err;
    }
    const previousEpoch = ch.epoch === 0 ? undefined : ch.epoch;
    const now = this.#clock();
    // The publisher never seals under the old epoch again: its derived keys go
    // now. Its raw key is kept for graceMs, for subscribers whose key request
    // arrives just after this rotation (they may hold messages of it).
    retireGroupKeys(ch.keys);
    if (ch.keys && this.#o.graceMs > 0) {
      ch.retained.push({
        epoch: ch.epoch,
        epochKey: ch.epochKey,
        firstSeq: ch.firstSeq,
        notAfter: ch.notAfter,
        until: Math.min(now, ch.notAfter) + this.#o.graceMs,
        excluded: ch.excluded,
        granted: new Map(ch.subscribers),
      });
    } else {
      ch.epochKey.fill(0);
    }
    ch.epoch = epoch;
    ch.epochKey = epochKey;
    ch.keys = keys;
    ch.startedAt = now;
    ch.notAfter = Math.min(now + this.#o.rotateAfterMs, Number.MAX_SAFE_INTEGER);
    ch.firstSeq = firstSeq;
    ch.firstSeqUsed = false;
    ch.messages = 0;

    const grants: KeyGrant[] = [];
    for (const id of [...ch.subscribers.keys()]) {
      let cert: Certificate;
      try {
        cert = this.#trust.get(id, now);
      } catch (err) {
        if (!(err instanceof SecurityError)) throw err;
        ch.subscribers.delete(id);
        removed.push(id);
        continue;
      }
      if (!maySubscribe(cert, ch.channel)) {
        ch.subscribers.delete(id);
        removed.push(id);
        continue;
      }
      grants.push(await this.#seal(ch.channel, ch, cert, now));
      ch.subscribers.set(id, now);
    }
    if (removed.length > 0) ch.excluded = new Set([...ch.excluded, ...removed]);
    this.#pruneRetained(ch, now);
    const event: RotationEvent = Object.freeze({
      channel: ch.channel,
      epoch,
      previousEpoch,
      reason,
      grants: Object.freeze(grants),
      removed: Object.freeze([...removed]),
    });
    this.emit('rotated', event);
    return event;
  }

  async #seal(channel: string, e: GrantableEpoch, subscriber: Certificate, now: number): Promise<KeyGrant> {
    const topic = this.#grantTopic(subscriber.subject);
    const bytes = await sealGrant({
      publisher: this.identity,
      subscriber,
      topic,
      grant: { channel, epoch: e.epoch, epochKey: e.epochKey, firstSeq: e.firstSeq, notAfter: e.notAfter },
      seq: await this.#direct.next(),
      now,
      ...this.#det(),
    });
    return Object.freeze({ subscriber: subscriber.subject, channel, epoch: e.epoch, topic, bytes });
  }

  /** Wipes the retained previous epochs whose grace period is over (and any beyond MAX_RETAINED_EPOCHS, oldest first). */
  #pruneRetained(ch: PublisherChannel, now: number): void {
    const keep: RetainedEpoch[] = [];
    for (const r of ch.retained) {
      if (now > r.until) r.epochKey.fill(0);
      else keep.push(r);
    }
    while (keep.length > MAX_RETAINED_EPOCHS) keep.shift()!.epochKey.fill(0);
    ch.retained = keep;
  }

  #closeChannel(ch: PublisherChannel): void {
    ch.closed = true;
    if (this.#startedChannels.get(ch.channel) === ch) this.#startedChannels.delete(ch.channel);
    ch.epochKey.fill(0);
    retireGroupKeys(ch.keys);
    ch.keys = undefined;
    for (const r of ch.retained) r.epochKey.fill(0);
    ch.retained = [];
    ch.seq.close();
  }

  // =============================================================== subscriber

  /**
   * Verifies and decrypts a group message received on `receivedTopic` (see
   * openGroup for the check order). With `{ retained: true }` the
   * retained-message policy applies instead of the live replay window. An
   * authentic message whose epoch key we lack is held (bounded) and
   * 'keyNeeded' is signalled; acceptGrant releases it.
   * @throws SecurityError with the first failed check's code.
   */
  async openData(bytes: Uint8Array, receivedTopic: string, options: OpenDataOptions = {}): Promise<DataMessage> {
    this.#live();
    const retained = options.retained === true;
    const now = this.#clock();
    let unknown: UnknownEpochInfo | undefined;
    try {
      const msg = await openGroup(bytes, {
        receivedTopic,
        trust: this.#trust,
        now,
        replay: retained ? this.#retained : this.#liveData,
        lookup: (sender, senderKeyEpoch, channel, epoch, seq, timestamp) => this.#lookup(sender, senderKeyEpoch, channel, epoch, seq, timestamp, now),
        onUnknownEpoch: (info) => {
          unknown = info;
        },
        maxPayloadBytes: this.#o.maxPayloadBytes,
      });
      return Object.freeze({ ...msg, retained });
    } catch (err) {
      if (unknown && err instanceof SecurityError && err.code === 'UNKNOWN_EPOCH') {
        this.#keyMissing(unknown, bytes, receivedTopic, retained, now);
        throw new SecurityError('UNKNOWN_EPOCH', { sender: err.sender, topic: err.topic ?? receivedTopic, detail: `epoch ${unknown.epoch} of ${unknown.channel}: held until its key arrives`, awaitingKey: true });
      }
      throw err;
    }
  }

  /**
   * Opens a grant addressed to us, received on `receivedTopic`, and installs
   * the epoch key. Rules beyond the direct envelope's: the channel is a
   * publish filter of the granting publisher (NOT_AUTHORISED); a grant past
   * its notAfter + graceMs is STALE_EPOCH; so is a grant for an epoch older
   * than the newest we hold and not held itself, unless it is still within
   * its grace period (graceMs after the first newer epoch's key arrived) and
   * not older than an epoch already wiped; a different key for an epoch we
   * hold is ROLLBACK (an epoch number is never reused). An older epoch
   * installed late expires at that same grace end. Returns held messages of
   * that epoch, now opened.
   */
  async acceptGrant(bytes: Uint8Array, receivedTopic: string): Promise<AcceptedGrant> {
    this.#live();
    const now = this.#clock();
    let derived: GroupEpochKeys | undefined;
    const { message, grant } = await openGrant(
      bytes,
      {
        recipient: this.identity,
        recipientKeyEpoch: this.#cert.keyEpoch,
        receivedTopic,
        trust: this.#trust,
        now,
        replay: this.#replay,
        maxPayloadBytes: MAX_GRANT_PAYLOAD_BYTES,
      },
      async (g, cert) => {
        const where = { sender: cert.subject, detail: `epoch ${g.epoch} of ${g.channel}` };
        if (g.notAfter + this.#o.graceMs < now) throw new SecurityError('STALE_EPOCH', { ...where, detail: `${where.detail}: the grant has expired` });
        if (g.epoch < (this.#replay.epochFloor?.(cert.subject, groupStreamChannel(cert.keyEpoch, g.channel)) ?? 0)) {
          // Its replay windows are gone (possibly before a restart): reopening it would readmit replays.
          throw new SecurityError('STALE_EPOCH', { ...where, detail: `${where.detail}: its replay state was already retired` });
        }
        const s = this.#streams.get(streamKeyOf(cert.subject, g.channel));
        const held = s && s.senderKeyEpoch === cert.keyEpoch ? s.epochs.get(g.epoch) : undefined;
        if (s && s.senderKeyEpoch > cert.keyEpoch) throw new SecurityError('STALE_EPOCH', where);
        if (s && s.senderKeyEpoch === cert.keyEpoch && !held && now > this.#graceEnd(s, g.epoch)) {
          throw new SecurityError('STALE_EPOCH', { ...where, detail: `${where.detail}: older than epoch ${s.latest}, and its grace period is over` });
        }
        const keys = await deriveGroupKeys(g.epochKey, cert.subject, g.channel, g.epoch);
        if (held && !sameEpochKeys(held.keys, keys)) {
          retireGroupKeys(keys);
          throw new SecurityError('ROLLBACK', { ...where, detail: `${where.detail}: a different key for an epoch already held` });
        }
        derived = keys;
      },
    );
    grant.epochKey.fill(0); // derived; the raw key is not kept by subscribers
    const sender = message.sender;
    const s = this.#install(sender, message.senderCertificate.keyEpoch, grant.channel, grant.epoch, derived!, grant.firstSeq, grant.notAfter, now);
    const waiting = s.held.filter((h) => h.epoch === grant.epoch);
    s.held = s.held.filter((h) => h.epoch !== grant.epoch);
    // Messages still held (other epochs, e.g. an older one whose grant follows) keep the need alive.
    this.#settleHeld(s, now);
    const released: DataMessage[] = [];
    for (const h of waiting) {
      try {
        released.push(await this.openData(h.bytes, h.topic, { retained: h.retained }));
      } catch {
        // Too old by now, or a duplicate of one that arrived meanwhile: dropped.
      }
    }
    return Object.freeze({ publisher: sender, channel: grant.channel, epoch: grant.epoch, released: Object.freeze(released) });
  }

  /** A signed key request to `publisher` for `filter` (a channel from keyNeeded, or a subscription filter). */
  keyRequest(publisher: string, filter: string): Uint8Array {
    this.#live();
    return sealKeyRequest({ subscriber: this.identity, publisher, filter, now: this.#clock(), ...this.#det() });
  }

  /** Keys we are waiting for (authentic messages arrived under them). */
  needsKey(): KeyNeededEvent[] {
    return [...this.#needed.values()].map((n) => ({ publisher: n.publisher, channel: n.channel, epoch: n.epoch }));
  }

  /** Epochs of (publisher, channel) whose keys we hold, ascending. */
  heldEpochs(publisher: string, channel: string): number[] {
    const s = this.#streams.get(streamKeyOf(publisher, channel));
    return s ? [...s.epochs.keys()].sort((a, b) => a - b) : [];
  }

  /** Starts a new retained-message session: each retained message may be accepted once more. */
  resetRetainedSession(): void {
    this.#retained.reset();
  }

  #lookup(sender: string, senderKeyEpoch: number, channel: string, epoch: number, seq: number, timestamp: number, now: number): EpochLookup {
    const s = this.#streams.get(streamKeyOf(sender, channel));
    if (!s || s.senderKeyEpoch < senderKeyEpoch) return { ok: false, code: 'UNKNOWN_EPOCH' };
    if (s.senderKeyEpoch > senderKeyEpoch) return { ok: false, code: 'STALE_EPOCH', detail: 'an older key epoch of the sender' };
    const e = s.epochs.get(epoch);
    // Not held: unknown while its grant may still come (newer, or older within its grace period), else over.
    if (!e) return now <= this.#graceEnd(s, epoch) ? { ok: false, code: 'UNKNOWN_EPOCH' } : { ok: false, code: 'STALE_EPOCH' };
    if (now > e.expiresAt || now > e.notAfter + this.#o.graceMs) {
      this.#purge(s, now);
      return { ok: false, code: 'STALE_EPOCH', detail: `epoch ${epoch} of ${channel}: its grace period ended` };
    }
    if (seq < e.firstSeq) return { ok: false, code: 'REPLAY', detail: `sequence number ${seq} precedes epoch ${epoch}` };
    if (timestamp > e.notAfter) return { ok: false, code: 'STALE_EPOCH', detail: `timestamped after epoch ${epoch} ended` };
    return { ok: true, keys: e.keys };
  }

  #install(
    sender: string,
    senderKeyEpoch: number,
    channel: string,
    epoch: number,
    keys: GroupEpochKeys,
    firstSeq: number,
    notAfter: number,
    now: number,
  ): SubscriberStream {
    const id = streamKeyOf(sender, channel);
    let s = this.#streams.get(id);
    if (s && s.senderKeyEpoch < senderKeyEpoch) {
      this.#dropStream(s); // the publisher was re-keyed: its old epochs are gone
      s = undefined;
    }
    if (!s) {
      s = { sender, channel, senderKeyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
      this.#streams.set(id, s);
    }
    const existing = s.epochs.get(epoch);
    if (existing) {
      retireGroupKeys(keys); // same key (checked): keep the installed one
      return s;
    }
    if (epoch > s.latest) {
      for (const e of s.epochs.values()) e.expiresAt = Math.min(e.expiresAt, now + this.#o.graceMs);
      s.latest = epoch;
    }
    // An older epoch arriving late gets the grace period it would have had: graceMs after a newer one arrived.
    s.epochs.set(epoch, { keys, firstSeq, notAfter, installedAt: now, expiresAt: epoch < s.latest ? this.#graceEnd(s, epoch) : Infinity });
    return s;
  }

  /**
   * Until when the key of `epoch`, not held, may still be installed: always
   * for an epoch newer than any held (Infinity); for an older one, graceMs
   * after the first newer epoch's key arrived, and never once an epoch at or
   * above it was wiped (-Infinity).
   */
  #graceEnd(s: SubscriberStream, epoch: number): number {
    if (epoch > s.latest) return Infinity;
    if (epoch < s.floor) return -Infinity;
    let superseded = Infinity;
    for (const [n, e] of s.epochs) if (n > epoch && e.installedAt < superseded) superseded = e.installedAt;
    return superseded === Infinity ? -Infinity : superseded + this.#o.graceMs;
  }

  /**
   * Drops held messages whose key can no longer be installed, and ends the
   * need for keys once nothing waits for them (a need for an epoch newer than
   * any held stays until its grant arrives or it lapses).
   */
  #settleHeld(s: SubscriberStream, now: number): void {
    s.held = s.held.filter((h) => !s.epochs.has(h.epoch) && now <= this.#graceEnd(s, h.epoch));
    const id = streamKeyOf(s.sender, s.channel);
    const n = this.#needed.get(id);
    if (!n || n.senderKeyEpoch > s.senderKeyEpoch) return;
    if (n.senderKeyEpoch < s.senderKeyEpoch || (s.held.length === 0 && n.epoch <= s.latest)) this.#needed.delete(id);
    else if (s.held.length > 0) n.epoch = Math.max(...s.held.map((h) => h.epoch));
  }

  /** Wipes epochs whose grace period is over; tells the replay guard to forget them; drops held messages they doom. */
  #purge(s: SubscriberStream, now: number): void {
    let below = 0;
    for (const [epoch, e] of [...s.epochs]) {
      if (now > e.expiresAt || now > e.notAfter + this.#o.graceMs) {
        retireGroupKeys(e.keys);
        s.epochs.delete(epoch);
        below = Math.max(below, epoch + 1);
      }
    }
    // An epoch older than one whose grace period ended is over too: never installed again.
    s.floor = Math.max(s.floor, below);
    // Only epochs below every epoch still held: lookup rejects those as STALE_EPOCH before the guard is asked.
    const lowestHeld = Math.min(...s.epochs.keys(), s.latest + 1);
    const forgetBelow = Math.min(below, lowestHeld);
    if (forgetBelow > 0 && this.#replay.forgetEpoch) {
      this.#replay.forgetEpoch(s.sender, groupStreamChannel(s.senderKeyEpoch, s.channel), forgetBelow).catch(() => undefined);
    }
    this.#settleHeld(s, now);
  }

  #dropStream(s: SubscriberStream): void {
    for (const e of s.epochs.values()) retireGroupKeys(e.keys);
    s.epochs.clear();
    s.held = [];
    this.#streams.delete(streamKeyOf(s.sender, s.channel));
    this.#needed.delete(streamKeyOf(s.sender, s.channel));
  }

  #keyMissing(info: UnknownEpochInfo, bytes: Uint8Array, topic: string, retained: boolean, now: number): void {
    const id = streamKeyOf(info.sender, info.channel);
    if (this.#o.maxHeldPerStream > 0) {
      let s = this.#streams.get(id);
      if (!s || s.senderKeyEpoch < info.senderKeyEpoch) {
        if (s) this.#dropStream(s);
        s = { sender: info.sender, channel: info.channel, senderKeyEpoch: info.senderKeyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
        this.#streams.set(id, s);
      }
      s.held.push({ bytes: bytes.slice(), topic, retained, epoch: info.epoch });
      if (s.held.length > this.#o.maxHeldPerStream) s.held.shift();
    }
    const n = this.#needed.get(id);
    if (n && n.epoch >= info.epoch && n.senderKeyEpoch === info.senderKeyEpoch && now - n.signalledAt < this.#o.keyRequestRetryMs) {
      n.lastSeenAt = now;
      return;
    }
    this.#needed.set(id, {
      publisher: info.sender,
      channel: info.channel,
      epoch: Math.max(info.epoch, n && n.senderKeyEpoch === info.senderKeyEpoch ? n.epoch : 0),
      senderKeyEpoch: info.senderKeyEpoch,
      signalledAt: now,
      lastSeenAt: now,
    });
    this.emit('keyNeeded', { publisher: info.sender, channel: info.channel, epoch: info.epoch });
  }

  // ================================================================ amortised

  /** True if amortised mode is configured for publishing on `channel`. */
  amortises(channel: string): boolean {
    return this.#amortised?.amortises(channel) ?? false;
  }

  /** True if this KeyManager accepts amortised messages and manifests. */
  get acceptsAmortised(): boolean {
    return this.#amortised?.accepting ?? false;
  }

  /**
   * Publisher: signs the manifests of the batches that are full or at least
   * maxDelayMs old (every pending batch with `all`). Publish each on its
   * topic, after the messages it covers where the transport allows.
   */
  takeManifests(all = false): ManifestToSend[] {
    this.#live();
    return this.#amortised?.takeManifests(all) ?? [];
  }

  /** True if signatures are made by an async `signer` (then publishers use takeManifestsAsync). */
  get signsAsync(): boolean {
    return this.#signer !== undefined;
  }

  /**
   * takeManifests with the `signer` (identity.sign without one): the batches
   * due are taken at once, in order, and signed concurrently. Undefined when
   * no batch is due (no promise for the usual answer).
   */
  takeManifestsAsync(all = false): Promise<ManifestToSend[]> | undefined {
    this.#live();
    const signer = this.#signer ?? ((m: Uint8Array) => Promise.resolve(this.identity.sign(m)));
    return this.#amortised?.takeManifestsAsync(all, signer);
  }

  /**
   * Subscriber: an amortised message received on `receivedTopic`: checked,
   * decrypted and held until a manifest covers it (`released` then, or at once
   * if a manifest already did). @throws SecurityError for an immediate rejection.
   */
  async openAmortised(bytes: Uint8Array, receivedTopic: string, prefetched?: AmortisedPrefetch): Promise<AmortisedResult> {
    return this.openAmortisedNow(bytes, receivedTopic, prefetched);
  }

  /**
   * openAmortised without a turn of the event loop when none is needed: the
   * result itself for a message held for its manifest (the usual case), a
   * promise when a manifest covered it already. Same checks, same order.
   * @throws SecurityError synchronously for an immediate rejection.
   */
  openAmortisedNow(bytes: Uint8Array, receivedTopic: string, prefetched?: AmortisedPrefetch): AmortisedResult | Promise<AmortisedResult> {
    this.#live();
    return this.#requireAmortised().openMessage(bytes, receivedTopic, prefetched);
  }

  /**
   * Subscriber: starts decrypting an amortised message ahead of its
   * openAmortised call (pass the result there). Changes nothing and never
   * throws; undefined if not applicable (not accepting amortised messages,
   * malformed, sender or epoch unknown).
   */
  prefetchAmortised(bytes: Uint8Array, receivedTopic: string): AmortisedPrefetch | undefined {
    if (this.#closed || !this.#amortised?.accepting) return undefined;
    return this.#amortised.prefetch(bytes, receivedTopic);
  }

  /** Subscriber: a batch manifest received on `receivedTopic`: verified, then the messages it covers are released or rejected. */
  async acceptManifest(bytes: Uint8Array, receivedTopic: string): Promise<AmortisedResult> {
    this.#live();
    return this.#requireAmortised().acceptManifest(bytes, receivedTopic);
  }

  /** Subscriber: rejects (BAD_SIGNATURE) held amortised messages no manifest covered within holdMs. Call it periodically. */
  expireAmortised(): AmortisedResult {
    this.#live();
    return this.#amortised?.expire() ?? { released: [], rejected: [] };
  }

  #requireAmortised(): AmortisedSide {
    const a = this.#amortised;
    if (!a || !a.accepting) throw new SecurityError('UNSUPPORTED_VERSION', { detail: 'amortised authentication is not enabled (acceptAmortised)' });
    return a;
  }

  // ==================================================================== close

  /** Wipes every key, releases the sequence counters. The storage keeps the counters. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of [...this.#channels.values()]) {
      try {
        const ch = await pending;
        await ch.queue;
        this.#closeChannel(ch);
      } catch {
        // a channel that failed to start holds nothing
      }
    }
    this.#channels.clear();
    this.#startedChannels.clear();
    for (const s of [...this.#streams.values()]) this.#dropStream(s);
    this.#amortised?.close();
    this.#direct.close();
  }
}
