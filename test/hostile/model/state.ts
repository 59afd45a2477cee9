// The state of one client as the model keeps it, split as the client's is:
// durable (what its storage keeps across a restart: trust store, revocation
// list, replay windows) and volatile (the KeyManager's and the client's
// memory: epochs and held messages per stream, keys needed, the retained
// session, key-request nonces, messages waiting for a certificate); and the
// small steps every check takes on it (close calls, the topic argument,
// windows, the end of an epoch's grace, dropping and settling streams).

import type { Certificate, TrustAnchor } from '../../../src/certs/certificate.js';
import type { RevocationList } from '../../../src/certs/revocation.js';
import type { Identity } from '../../../src/identity/identity.js';
import { dropExpiredEpochs, graceEnd, stop, windowOf, type EpochChain, type EpochState, type Outcome, type ReplayWindow } from '../oracle.js';
import type { Genuine } from './genuine.js';

export interface ModelConfig {
  readonly identity: Identity;
  readonly certificate: Certificate;
  readonly anchor: TrustAnchor;
  readonly genuine: Genuine;
  /** Every certificate the world has (by subject, newest last): for decrypting genuine grants. */
  readonly certificateOf: (subject: string, serial?: number) => Certificate | undefined;
  readonly controlPrefix?: string;
  /** The client's subscriptions (a message on a topic none matches is NOT_SUBSCRIBED); default: every topic. */
  readonly subscriptions?: readonly string[];
  readonly maxAgeMs?: number;
  readonly clockSkewMs?: number;
  readonly retainedMaxAgeMs?: number;
  readonly graceMs?: number;
  readonly windowSize?: number;
  readonly maxHeldPerStream?: number;
  /** How close to a time bound (ms) an outcome counts as either (default 25). */
  readonly timeMarginMs?: number;
}

export interface KeyEpoch extends EpochState {
  /** Which key was installed: a different key for a held epoch is a ROLLBACK. */
  readonly keyTag: string;
}

export interface Held {
  readonly bytes: Uint8Array;
  readonly topic: string;
  readonly retained: boolean;
  readonly epoch: number;
}

export interface StreamState extends EpochChain<KeyEpoch> {
  readonly sender: string;
  readonly channel: string;
  readonly senderKeyEpoch: number;
  held: Held[];
}

export interface Need {
  epoch: number;
  readonly senderKeyEpoch: number;
}

export interface Awaiting {
  readonly topic: string;
  readonly bytes: Uint8Array;
  readonly retained: boolean;
  readonly since: number;
}

/**
 * Messages from unknown senders (CLIENT_DEFAULTS.awaitingCertificates): how many and how many bytes (payload plus
 * topic length) wait at most, in all and per sender; held only within waitMs of the latest connection, for waitMs.
 */
export const AWAIT = { maxTotal: 2_000, maxPerSender: 500, maxBytes: 8 * 1024 * 1024, maxBytesPerSender: 2 * 1024 * 1024, waitMs: 30_000 };

/** What an awaiting message counts against the byte bounds. */
export const awaitBytes = (m: { readonly topic: string; readonly bytes: Uint8Array }): number => m.bytes.length + m.topic.length;

/** A packet's time checks that fell within the margin of their bound: the first such check's other outcome. */
export interface CloseCall {
  hit: boolean;
  alternative: Outcome | undefined;
}

export class ClientState {
  readonly id: string;
  readonly cfg: Required<Omit<ModelConfig, 'identity' | 'certificate' | 'anchor' | 'genuine' | 'certificateOf'>> & ModelConfig;
  readonly ownCert: Certificate;
  // Durable (storage): trust store, revocation list, replay windows.
  readonly trust = new Map<string, Certificate>();
  list: RevocationList | undefined;
  readonly windows = new Map<string, ReplayWindow>();
  // Volatile (the KeyManager's and client's memory).
  streams = new Map<string, StreamState>();
  needed = new Map<string, Need>();
  retainedSeen = new Set<string>();
  /**
   * The restart rule (memory-only replay state): when the replay guard's state began, as [before, after] the
   * client's connect (after undefined while it connects), kept across restarts on the same MemoryStorage; and when
   * the current KeyManager opened (its key-request nonce cache, reset by a restart).
   */
  replaySince: [number, number | undefined] | undefined;
  keysSince: [number, number | undefined] | undefined;
  nonces = new Map<string, number>();
  awaiting = new Map<string, Awaiting[]>();
  awaitingCount = 0;
  awaitingBytes = 0;
  /** When the client's latest connection was made (its CONNACK): messages from unknown senders wait only within AWAIT.waitMs of it. */
  connectedAt: number | undefined;
  /** Awaiting messages that expired (the client reports them from its maintenance timer). */
  expiredAwaiting = 0;
  /** Awaiting messages that may or may not have been reported before the client was ended. */
  uncertainExpired = 0;
  /** Packets whose outcome depended on a time check too close to call (both outcomes accepted). */
  closeCalls = 0;

  constructor(config: ModelConfig) {
    this.cfg = {
      controlPrefix: 'pqc-iiot/v1',
      subscriptions: ['#'],
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
    this.ownCert = config.certificate;
    this.trust.set(this.id, config.certificate);
  }
}

/**
 * The restart rule: TOO_OLD for a timestamp more than clockSkewMs before `since` (a bracket: between its bounds
 * the outcome is a close call either way). Undefined when the rule does not refuse it.
 */
export function restartRule(cs: ClientState, since: [number, number | undefined] | undefined, ts: number, now: number, close: CloseCall): Outcome | undefined {
  if (since === undefined) return undefined;
  const lo = since[0] - cs.cfg.clockSkewMs;
  const hi = (since[1] ?? now) - cs.cfg.clockSkewMs;
  if (ts < lo - cs.cfg.timeMarginMs) return 'TOO_OLD';
  if (ts < hi + cs.cfg.timeMarginMs) {
    close.hit = true;
    close.alternative ??= 'TOO_OLD';
  }
  return undefined;
}

/** Marks a time comparison within the margin as a close call. */
export function near(cs: ClientState, a: number, b: number, close: CloseCall, alt: Outcome): void {
  if (Math.abs(a - b) <= cs.cfg.timeMarginMs) {
    close.hit = true;
    close.alternative ??= alt;
  }
}

export function topicArg(cs: ClientState, topic: string): void {
  // checkTopicArg: a received topic longer than 1,024 UTF-8 bytes is a RangeError, reported as MALFORMED.
  if (Buffer.byteLength(topic, 'utf8') > 1024) stop('MALFORMED');
}

export function windowFor(cs: ClientState, id: string): ReplayWindow {
  return windowOf(cs.windows, id, cs.cfg.windowSize);
}

export function graceEndOf(cs: ClientState, s: StreamState, epoch: number): number {
  return graceEnd(s, epoch, cs.cfg.graceMs);
}

export function dropStream(cs: ClientState, s: StreamState): void {
  cs.streams.delete(`${s.sender}\n${s.channel}`);
  cs.needed.delete(`${s.sender}\n${s.channel}`);
}

/** Held messages that can no longer be opened are dropped; the need ends when nothing waits. */
export function settleHeld(cs: ClientState, s: StreamState, now: number): void {
  s.held = s.held.filter((h) => !s.epochs.has(h.epoch) && now <= graceEndOf(cs, s, h.epoch));
  const key = `${s.sender}\n${s.channel}`;
  const n = cs.needed.get(key);
  if (!n || n.senderKeyEpoch > s.senderKeyEpoch) return;
  if (n.senderKeyEpoch < s.senderKeyEpoch || (s.held.length === 0 && n.epoch <= s.latest)) cs.needed.delete(key);
  else if (s.held.length > 0) n.epoch = Math.max(...s.held.map((h) => h.epoch));
}

export function purge(cs: ClientState, s: StreamState, now: number): void {
  dropExpiredEpochs(s, now, cs.cfg.graceMs);
  settleHeld(cs, s, now);
}
