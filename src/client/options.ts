// What a SecureMqttClient is configured with, and the defaults a demanding
// user would expect: mqtt.js options pass through; every wait is bounded.

import type { IClientOptions } from 'mqtt';
import type { Certificate, TrustAnchor } from '../certs/certificate.js';
import type { Clock } from '../clock.js';
import type { Identity } from '../identity/identity.js';
import type { AmortiseOptions, AmortisedAcceptOptions } from '../protocol/amortised-manager.js';
import type { Storage } from '../storage/types.js';

import type { SignWorkerOptions } from '../worker/worker-signer.js';
export interface SecureClientOptions {
  /** Our identity (Falcon-512, ML-KEM-768 and X25519 key pairs). */
  readonly identity: Identity;
  /** Our certificate, issued by the operator CA (its bytes or the decoded form). */
  readonly certificate: Certificate | Uint8Array;
  /** The operator CA's public key: the one trust anchor. */
  readonly trustAnchor: TrustAnchor;
  /**
   * Durable state: sequence numbers, epochs, replay windows, trust state.
   * Default: in memory (lost on restart; use FileStorage in Node for crash safety).
   */
  readonly storage?: Storage;
  /** Certificates known in advance (others are learned from signed announcements). */
  readonly certificates?: readonly (Certificate | Uint8Array)[];
  /** A CA-signed revocation list known in advance. */
  readonly revocationList?: Uint8Array;
  /** The reserved topic prefix for key distribution. Default 'pqc-iiot/v1'. */
  readonly controlPrefix?: string;
  /**
   * Group-key rotation: after N messages, after T ms; old epochs usable for graceMs; joinWindowMs: a subscriber
   * joining a channel reads at most this much of what was sealed before it joined (the channel rotates otherwise;
   * default 1,000 ms, 0 for exact backward secrecy at one rotation per join; docs/PROTOCOL.md).
   */
  readonly rotation?: { readonly afterMessages?: number; readonly afterMs?: number; readonly graceMs?: number; readonly joinWindowMs?: number };
  /**
   * A revocation list past its nextUpdate + graceMs (default 1 h) may hide a revocation: by default ('refuse') the
   * client then opens no data and grants no key (STALE_REVOCATION events) until the CA's next list arrives.
   * 'accept' relaxes it, at the risk of trusting a revoked device as long as the broker withholds its revocation;
   * requireList: true also refuses while no list arrived at all (docs/PROTOCOL.md, "Next update").
   */
  readonly revocation?: { readonly graceMs?: number; readonly whenStale?: 'refuse' | 'accept'; readonly requireList?: boolean };
  /** Replay and time policy. */
  readonly replay?: { readonly maxAgeMs?: number; readonly clockSkewMs?: number; readonly retainedMaxAgeMs?: number };
  /** Where crypto runs. Only 'inline' now (signing alone can move to workers: signWorkers). */
  readonly crypto?: 'inline';
  /**
   * Falcon signing (per-message signatures, batch manifests) on worker threads:
   * `{ spawn: nodeSignWorker }` from 'pqc-iiot/node', optionally `count`. If the
   * workers cannot start, or one fails later, the client signs on its own
   * thread and reports a ConfigError('SIGN_WORKER') as an 'error' event.
   */
  readonly signWorkers?: SignWorkerOptions;
  /** Bounds on waits (ms). */
  readonly timeouts?: { readonly connect?: number; readonly publish?: number; readonly subscribe?: number; readonly end?: number };
  /** QoS 1/2 publishes awaiting acknowledgement at once (capped by the broker's Receive Maximum). Default 16. */
  readonly maxInflight?: number;
  /** Publishes accepted but not yet acknowledged (offline included) before PublishError QUEUE_FULL. Default 10,000. */
  readonly maxQueued?: number;
  /** Authentic messages held per stream while their key is requested. Default 1,000. */
  readonly maxHeldPerStream?: number;
  /**
   * Messages from a sender whose certificate has not arrived yet (live data can overtake the retained announcements
   * a connection brings). Such a message is held only within `waitMs` of the latest connection, and for at most
   * `waitMs`; at most `maxMessages` of them and `maxBytes` (a message counts its payload's bytes plus its topic's
   * length) in all, and `maxMessagesPerSender` and `maxBytesPerSender` per claimed sender. One not held (outside that
   * time, or for lack of room) is reported at once as an UNKNOWN_SENDER `security` event saying why, one that waited
   * in vain when its wait ends. Defaults (`CLIENT_DEFAULTS.awaitingCertificates`): 30,000 ms; 2,000 messages and
   * 8 MiB in all; 500 messages and 2 MiB per sender. `stats().awaiting` and `awaitingBytes` say what is held now.
   */
  readonly awaitingCertificates?: {
    readonly waitMs?: number;
    readonly maxMessages?: number;
    readonly maxBytes?: number;
    readonly maxMessagesPerSender?: number;
    readonly maxBytesPerSender?: number;
  };
  /** Largest application payload. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** Interval of key maintenance (time-based rotation, grace expiry). Default 1,000 ms. */
  readonly maintenanceIntervalMs?: number;
  /**
   * Publisher: amortised origin authentication for high-rate channels (no per-message signature; one signed batch
   * manifest per batch, on the same topic). Off by default. docs/PROTOCOL.md, "Amortised mode".
   */
  readonly amortise?: AmortiseOptions;
  /** Subscriber: accept amortised messages and batch manifests. Off by default (they are UNSUPPORTED_VERSION). */
  readonly acceptAmortised?: AmortisedAcceptOptions | boolean;
  /** Options passed to mqtt.js (protocolVersion, clean, reconnectPeriod, username, ...). */
  readonly mqtt?: IClientOptions;
  /** For tests: the clock. */
  readonly clock?: Clock;
}

export const CLIENT_DEFAULTS = Object.freeze({
  controlPrefix: 'pqc-iiot/v1',
  connectTimeoutMs: 30_000,
  publishTimeoutMs: 30_000,
  subscribeTimeoutMs: 30_000,
  endTimeoutMs: 10_000,
  maxInflight: 16,
  maxQueued: 10_000,
  maxHeldPerStream: 1_000,
  maintenanceIntervalMs: 1_000,
  /** options.awaitingCertificates: messages waiting for their sender's certificate. */
  awaitingCertificates: Object.freeze({
    waitMs: 30_000,
    maxMessages: 2_000,
    maxBytes: 8 * 1024 * 1024,
    maxMessagesPerSender: 500,
    maxBytesPerSender: 2 * 1024 * 1024,
  }),
});

/** Options for publish(): mqtt.js's, plus a recipient for a direct (one-recipient) envelope. */
export interface SecurePublishOptions {
  readonly qos?: 0 | 1 | 2;
  readonly retain?: boolean;
  /** Seal for this one subject (a command) instead of the channel's group key. */
  readonly to?: string;
}

export interface SecureSubscribeOptions {
  readonly qos?: 0 | 1 | 2;
}
