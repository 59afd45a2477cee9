// The KeyManager's options: the defaults, what a caller may set, and the
// checked settings every role reads. One place, so the roles never re-check an
// option and a default cannot differ between them.

import { aoneOf, aoptInt, atype } from '../../../bindings/assert-sdk.js';
import { validateSubjectId } from '../../wire/subject-id.js';
import type { Certificate } from '../../certs/certificate.js';
import type { Clock } from '../../clock.js';
import type { RandomSource } from '../../crypto/random.js';
import type { Identity } from '../../identity/identity.js';
import type { Storage } from '../../storage/types.js';
import type { AmortiseOptions, AmortisedAcceptOptions } from '../amortised-manager.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type CertificateSource, type ReplayCheck } from '../envelope.js';
import type { AsyncSigner } from '../group.js';

/** Default topics for the key-management messages (the client may choose others). */
export const PROTOCOL_TOPICS = Object.freeze({
  /** Where a publisher sends grants for `subscriber`. */
  grant: (subscriber: string): string => `pqc-iiot/v1/grants/${validateSubjectId(subscriber, 'subscriber')}`,
  /** Where a subscriber sends key requests for `publisher`. */
  keyRequest: (publisher: string): string => `pqc-iiot/v1/key-requests/${validateSubjectId(publisher, 'publisher')}`,
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
  joinWindowMs: 1000,
  revocationGraceMs: 60 * 60_000,
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
  /**
   * Publisher, backward secrecy on join: a subscriber admitted to a channel (new, or re-admitted after its
   * removal) is never granted an epoch whose first message was sealed more than this before its admission. If
   * the current epoch's is older, the channel starts a new epoch (reason 'join') before granting it; a previous
   * epoch kept for late key requests is not granted to it then. So a joiner reads at most this much of what was
   * sealed before it joined (enough for a first message that waited for its key), and joins that come together
   * share one rotation: at most one join rotation per channel per joinWindowMs. 0: every join into an epoch
   * that has sealed anything rotates. Default 1 s.
   */
  readonly joinWindowMs?: number;
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
  /**
   * What to do when the newest revocation list is past its nextUpdate + `graceMs` (default 1 h): a newer list may
   * exist that the broker withholds, so by default ('refuse') no data is opened and no epoch key granted
   * (STALE_REVOCATION) until a fresh list arrives. 'accept' relaxes it: a revoked device may then keep reading and
   * publishing for as long as the broker hides its revocation. `requireList` (default false) treats having no list
   * at all as stale: set it where the CA always publishes one.
   */
  readonly revocation?: { readonly graceMs?: number; readonly whenStale?: 'refuse' | 'accept'; readonly requireList?: boolean };
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

/** The replay check a KeyManager uses (the given one, or a ReplayGuard). */
export type KeyManagerReplay = NonNullable<KeyManagerOptions['replay']>;

/** The numeric options, checked, with their defaults applied. */
export interface KeyManagerSettings {
  readonly maxAgeMs: number;
  readonly clockSkewMs: number;
  readonly rotateAfterMessages: number;
  readonly rotateAfterMs: number;
  readonly graceMs: number;
  readonly regrantIntervalMs: number;
  readonly joinWindowMs: number;
  readonly keyRequestRetryMs: number;
  readonly maxHeldPerStream: number;
  readonly maxPayloadBytes: number;
  readonly retainedMaxAgeMs: number;
  readonly revocationGraceMs: number;
  readonly acceptStaleRevocation: boolean;
  readonly requireRevocationList: boolean;
}

/** The settings of `opts`. @throws RangeError naming the first option that is not an integer in range. */
export function settingsOf(opts: KeyManagerOptions): KeyManagerSettings {
  const D = KEY_MANAGER_DEFAULTS;
  const MAX = Number.MAX_SAFE_INTEGER;
  return {
    maxAgeMs: aoptInt(opts.maxAgeMs, D.maxAgeMs, 0, MAX, 'maxAgeMs'),
    clockSkewMs: aoptInt(opts.clockSkewMs, D.clockSkewMs, 0, MAX, 'clockSkewMs'),
    rotateAfterMessages: aoptInt(opts.rotateAfterMessages, D.rotateAfterMessages, 1, MAX, 'rotateAfterMessages'),
    rotateAfterMs: aoptInt(opts.rotateAfterMs, D.rotateAfterMs, 1, MAX, 'rotateAfterMs'),
    graceMs: aoptInt(opts.graceMs, D.graceMs, 0, MAX, 'graceMs'),
    regrantIntervalMs: aoptInt(opts.regrantIntervalMs, D.regrantIntervalMs, 0, MAX, 'regrantIntervalMs'),
    joinWindowMs: aoptInt(opts.joinWindowMs, D.joinWindowMs, 0, MAX, 'joinWindowMs'),
    keyRequestRetryMs: aoptInt(opts.keyRequestRetryMs, D.keyRequestRetryMs, 0, MAX, 'keyRequestRetryMs'),
    maxHeldPerStream: aoptInt(opts.maxHeldPerStream, D.maxHeldPerStream, 0, MAX, 'maxHeldPerStream'),
    maxPayloadBytes: aoptInt(opts.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES, 0, MAX, 'maxPayloadBytes'),
    retainedMaxAgeMs: aoptInt(opts.retainedMaxAgeMs, D.retainedMaxAgeMs, 0, MAX, 'retainedMaxAgeMs'),
    revocationGraceMs: aoptInt(opts.revocation?.graceMs, D.revocationGraceMs, 0, MAX, 'revocation.graceMs'),
    acceptStaleRevocation: aoneOf(opts.revocation?.whenStale ?? 'refuse', ['refuse', 'accept'], 'revocation.whenStale') === 'accept',
    requireRevocationList: atype<boolean>(opts.revocation?.requireList ?? false, 'boolean', 'revocation.requireList'),
  };
}
