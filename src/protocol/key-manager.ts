// KeyManager: the group-key life cycle of one identity, as publisher and as
// subscriber. No MQTT here: it produces and consumes bytes, and tells the
// client (events) when grants must be sent or a key must be requested.
// Policy details: docs/PROTOCOL.md, "Rotation, grace, revocation" and
// "Retained messages".
//
// Publisher, per channel (one of its certificate's publish filters): an epoch
// (number write-ahead persisted, never reused; a fresh key), a crash-safe
// SequenceAllocator, the authorised subscribers (persisted), rotation (by
// count, time, revocation, and before a newcomer joins an epoch older than
// `joinWindowMs`), previous epochs kept `graceMs` for late key requests, and
// in-memory key-request nonces (requests older than its opening are refused).
// Subscriber, per (publisher, channel): the granted epochs' keys, older ones
// usable for `graceMs` after a newer one arrives. Replay: the default
// ReplayGuard shares `storage` (memory only: the restart rule). Nothing is
// opened or granted while the revocation list is stale (`revocation`).
//
// This file is the facade: the KeyManager's API, each method handed to the
// room of key-manager/ that holds its job: options.ts (defaults, options,
// settings), types.ts (what it hands out), context.ts (what the roles share),
// publisher.ts, publisher-channel.ts, rotation.ts and grants.ts (the publisher
// role), subscriber.ts, subscriber-streams.ts and retained-session.ts (the
// subscriber role), direct-messages.ts (commands) and amortised-mode.ts
// (amortised mode's wiring). The roles share state only through the context.

import { atype } from '../../bindings/assert-sdk.js';
import type { Certificate } from '../certs/certificate.js';
import { systemClock } from '../clock.js';
import { systemRandom } from '../crypto/random.js';
import type { Identity } from '../identity/identity.js';
import { ReplayGuard } from '../replay/guard.js';
import { SequenceAllocator } from '../storage/sequence.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { AmortisedPrefetch, AmortisedResult, AmortisedSide, ManifestToSend } from './amortised-manager.js';
import type { DirectMessage } from './direct.js';
import { keySegment } from './streams.js';
import { acceptingSide, amortisedSideOf } from './key-manager/amortised-mode.js';
import { assertOpen, assertOwnCertificate, assertRevocationFresh, type KeyManagerContext } from './key-manager/context.js';
import { openDirectAs, sealDirectAs } from './key-manager/direct-messages.js';
import { Grants } from './key-manager/grants.js';
import { KEY_MANAGER_DEFAULTS, PROTOCOL_TOPICS, settingsOf, type KeyManagerOptions, type KeyManagerReplay } from './key-manager/options.js';
import { Publisher } from './key-manager/publisher.js';
import { Subscriber } from './key-manager/subscriber.js';
import { SubscriberStreams } from './key-manager/subscriber-streams.js';
import type { AcceptedGrant, DataMessage, KeyGrant, KeyManagerEvents, KeyNeededEvent, OpenDataOptions, RotationEvent } from './key-manager/types.js';

export { KEY_MANAGER_DEFAULTS, PROTOCOL_TOPICS, type KeyManagerOptions } from './key-manager/options.js';
export type { AcceptedGrant, DataMessage, KeyGrant, KeyManagerEvents, KeyNeededEvent, OpenDataOptions, RotationEvent, RotationReason } from './key-manager/types.js';

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
  readonly #ctx: KeyManagerContext;
  readonly #publisher: Publisher;
  readonly #grants: Grants;
  readonly #streams: SubscriberStreams;
  readonly #subscriber: Subscriber;
  /** Amortised mode (both roles); undefined unless configured. */
  readonly #amortised: AmortisedSide | undefined;

  private constructor(opts: KeyManagerOptions, replay: KeyManagerReplay, direct: SequenceAllocator, prefix: string) {
    super();
    this.identity = opts.identity;
    const ctx: KeyManagerContext = {
      identity: opts.identity,
      cert: opts.certificate,
      trust: opts.trust,
      storage: opts.storage,
      replay,
      clock: opts.clock ?? systemClock,
      random: opts.random ?? systemRandom,
      det: opts.random ? { random: opts.random } : {},
      signer: opts.random === undefined ? opts.signer : undefined,
      prefix,
      grantTopic: opts.grantTopic ?? PROTOCOL_TOPICS.grant,
      o: settingsOf(opts),
      direct,
      closed: false,
      emitRotated: (event) => this.emit('rotated', event),
      emitKeyNeeded: (event) => this.emit('keyNeeded', event),
    };
    this.#ctx = ctx;
    this.#streams = new SubscriberStreams(ctx);
    this.#subscriber = new Subscriber(ctx, this.#streams);
    this.#amortised = amortisedSideOf(opts, ctx, this.#streams, this.#subscriber.liveData);
    const publisher = new Publisher(ctx, this.#amortised);
    this.#publisher = publisher;
    this.#grants = new Grants(
      ctx,
      (channel) => publisher.channel(channel),
      (ch) => publisher.rotateForJoin(ch),
    );
  }

  /**
   * Opens the key manager of `identity`. Nothing is sealed or granted yet: a
   * channel's first epoch starts on first use (and always as a NEW epoch).
   * @throws RangeError if the certificate is not the identity's; ConfigError IN_USE
   *   if another KeyManager of this identity is open on the same storage.
   */
  static async open(opts: KeyManagerOptions): Promise<KeyManager> {
    const { identity, certificate } = opts;
    assertOwnCertificate(identity, certificate);
    if (opts.clock !== undefined) atype(opts.clock, 'function', 'clock');
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
    return this.#ctx.cert;
  }

  // ================================================================ publisher

  /** The channel `topic` is published under: the most specific publish filter matching it (see channelFor). */
  channelFor(topic: string): string | undefined {
    return this.#publisher.channelFor(topic);
  }

  /** The current epoch of `channel`, if it has started. */
  currentEpoch(channel: string): Promise<number | undefined> {
    return this.#publisher.currentEpoch(channel);
  }

  /** The authorised subscribers of `channel` (those who will get the next epoch's grant). */
  subscribersOf(channel: string): Promise<string[]> {
    return this.#publisher.subscribersOf(channel);
  }

  /**
   * Encrypts and signs `payload` for `topic` under the current epoch of its
   * channel, rotating first when the epoch is used up (count or time).
   * @throws SecurityError NOT_AUTHORISED if no publish filter of ours matches `topic`.
   */
  sealData(topic: string, payload: Uint8Array, options: { readonly signed?: boolean } = {}): Promise<Uint8Array> {
    return this.#publisher.sealData(topic, payload, options);
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
   * nothing for that epoch. A subscriber not authorised for the channel now
   * (new, or re-admitted) is never granted an epoch whose first message was
   * sealed more than joinWindowMs before: the channel rotates first
   * ('rotated', reason 'join'), and such previous epochs are not granted.
   * Requests timestamped before this KeyManager opened (less clockSkewMs) are
   * TOO_OLD: their nonces may have been seen by a previous process.
   * @returns grants to publish, in this order (empty if no channel of ours overlaps the filter).
   * @throws SecurityError from openKeyRequest; NOT_AUTHORISED if channels overlap but none is covered.
   */
  handleKeyRequest(bytes: Uint8Array): Promise<KeyGrant[]> {
    return this.#grants.handleKeyRequest(bytes);
  }

  /**
   * Grants `subscriber` (checked against the trust store now) every channel of
   * ours its rights cover, and adds it to those channels' authorised
   * subscribers: for provisioning known subscribers without a key request.
   * A join rotates first as for handleKeyRequest.
   * @throws SecurityError UNKNOWN_SENDER/REVOKED/EXPIRED for the subscriber.
   */
  grantsFor(subscriber: Certificate): Promise<KeyGrant[]> {
    return this.#grants.grantsFor(subscriber);
  }

  /**
   * Removes `subjects` from every channel's subscribers and rotates each
   * channel that had one of them, so they get no key for anything published
   * from now on. Also drops keys we hold from them as publishers. Call it
   * with TrustStore.applyRevocationList's `newlyRevoked`.
   */
  async handleRevoked(subjects: Iterable<string>): Promise<RotationEvent[]> {
    assertOpen(this.#ctx);
    const gone = new Set(subjects);
    this.#streams.dropSenders(gone);
    return this.#publisher.revoke(gone);
  }

  /** Starts a new epoch of `channel` now (e.g. on an operator's request). */
  rotate(channel: string): Promise<RotationEvent> {
    return this.#publisher.rotate(channel);
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
    assertOpen(this.#ctx);
    const events = await this.#publisher.maintain();
    this.#streams.maintain();
    return events;
  }

  /**
   * Replaces our own certificate (renewal). Channels no longer among its
   * publish filters are closed and their keys wiped.
   * @throws RangeError if it is not a certificate of this identity's keys.
   */
  async setCertificate(cert: Certificate): Promise<void> {
    assertOwnCertificate(this.identity, cert);
    this.#ctx.cert = cert;
    await this.#publisher.dropChannelsOutside(cert);
  }

  /** Seals a command for one recipient with our direct sequence numbers (shared with grants). */
  sealDirect(recipient: Certificate, topic: string, payload: Uint8Array): Promise<Uint8Array> {
    return sealDirectAs(this.#ctx, recipient, topic, payload);
  }

  /** Opens a direct envelope addressed to us (see openDirect). */
  openDirect(bytes: Uint8Array, receivedTopic: string): Promise<DirectMessage> {
    return openDirectAs(this.#ctx, bytes, receivedTopic);
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
  openData(bytes: Uint8Array, receivedTopic: string, options: OpenDataOptions = {}): Promise<DataMessage> {
    return this.#subscriber.openData(bytes, receivedTopic, options);
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
  acceptGrant(bytes: Uint8Array, receivedTopic: string): Promise<AcceptedGrant> {
    return this.#subscriber.acceptGrant(bytes, receivedTopic);
  }

  /** A signed key request to `publisher` for `filter` (a channel from keyNeeded, or a subscription filter). */
  keyRequest(publisher: string, filter: string): Uint8Array {
    return this.#subscriber.keyRequest(publisher, filter);
  }

  /** Keys we are waiting for (authentic messages arrived under them). */
  needsKey(): KeyNeededEvent[] {
    return this.#streams.needsKey();
  }

  /** Epochs of (publisher, channel) whose keys we hold, ascending. */
  heldEpochs(publisher: string, channel: string): number[] {
    return this.#streams.heldEpochs(publisher, channel);
  }

  /** Starts a new retained-message session: each retained message may be accepted once more. */
  resetRetainedSession(): void {
    this.#subscriber.resetRetainedSession();
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
    assertOpen(this.#ctx);
    return this.#amortised?.takeManifests(all) ?? [];
  }

  /** True if signatures are made by an async `signer` (then publishers use takeManifestsAsync). */
  get signsAsync(): boolean {
    return this.#ctx.signer !== undefined;
  }

  /**
   * takeManifests with the `signer` (identity.sign without one): the batches
   * due are taken at once, in order, and signed concurrently. Undefined when
   * no batch is due (no promise for the usual answer).
   */
  takeManifestsAsync(all = false): Promise<ManifestToSend[]> | undefined {
    assertOpen(this.#ctx);
    const signer = this.#ctx.signer ?? ((m: Uint8Array) => Promise.resolve(this.identity.sign(m)));
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
    assertOpen(this.#ctx);
    assertRevocationFresh(this.#ctx, this.#ctx.clock());
    return acceptingSide(this.#amortised).openMessage(bytes, receivedTopic, prefetched);
  }

  /**
   * Subscriber: starts decrypting an amortised message ahead of its
   * openAmortised call (pass the result there). Changes nothing and never
   * throws; undefined if not applicable (not accepting amortised messages,
   * malformed, sender or epoch unknown).
   */
  prefetchAmortised(bytes: Uint8Array, receivedTopic: string): AmortisedPrefetch | undefined {
    if (this.#ctx.closed || !this.#amortised?.accepting) return undefined;
    return this.#amortised.prefetch(bytes, receivedTopic);
  }

  /** Subscriber: a batch manifest received on `receivedTopic`: verified, then the messages it covers are released or rejected. */
  async acceptManifest(bytes: Uint8Array, receivedTopic: string): Promise<AmortisedResult> {
    assertOpen(this.#ctx);
    assertRevocationFresh(this.#ctx, this.#ctx.clock());
    return acceptingSide(this.#amortised).acceptManifest(bytes, receivedTopic);
  }

  /** Subscriber: rejects (BAD_SIGNATURE) held amortised messages no manifest covered within holdMs. Call it periodically. */
  expireAmortised(): AmortisedResult {
    assertOpen(this.#ctx);
    return this.#amortised?.expire() ?? { released: [], rejected: [] };
  }
  // ==================================================================== close

  /** Wipes every key, releases the sequence counters. The storage keeps the counters. */
  async close(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.closed) return;
    ctx.closed = true;
    await this.#publisher.close();
    this.#streams.clear();
    this.#amortised?.close();
    ctx.direct.close();
  }
}
