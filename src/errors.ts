// One error hierarchy for the SDK. Security failures carry a stable reason
// code (documented in docs/PROTOCOL.md, "Reason codes"); the MQTT client turns
// them into `security` events instead of throwing into mqtt.js's event loop.
// The base class, PqcIiotError, lives with the wasm core's PqcError in
// bindings/errors.ts (bindings/ is the lowest floor), so both are one hierarchy.

import { PqcIiotError } from '../bindings/errors.js';

export { PqcIiotError };

export const REASONS = Object.freeze({
  MALFORMED: 'the bytes do not parse as the message they claim to be',
  UNSUPPORTED_VERSION: 'unknown format version or suite',
  BAD_SIGNATURE: 'the signature does not verify',
  DECRYPT_FAILED: 'authenticated decryption failed',
  REPLAY: 'sequence number already seen or older than the replay window',
  DUPLICATE: 'an exact redelivery of a message already accepted (e.g. QoS 1 retry)',
  TOO_OLD: 'timestamp older than the maximum age',
  FROM_FUTURE: 'timestamp ahead of the clock by more than the allowed skew',
  TOPIC_MISMATCH: 'received on a topic other than the one it was sealed for',
  UNKNOWN_SENDER: 'no valid certificate for the sender',
  UNKNOWN_EPOCH: 'no key for this sender, channel and epoch',
  STALE_EPOCH: 'epoch older than the grace period allows',
  REVOKED: 'the sender or certificate is revoked',
  EXPIRED: 'the certificate is outside its validity window',
  NOT_AUTHORISED: 'the certificate does not grant this topic or action',
  TOO_LARGE: 'larger than the configured bound',
  ROLLBACK: 'key epoch or list number lower than one already seen',
  WRONG_RECIPIENT: 'addressed to another identity',
  NOT_SUBSCRIBED: 'delivered on a topic no active subscription of this client matches',
  STALE_REVOCATION: 'the newest revocation list is past its next update: no data is accepted and no key granted until a fresh one arrives',
} as const);

export type ReasonCode = keyof typeof REASONS;

export interface SecurityContext {
  readonly topic?: string;
  readonly sender?: string;
  readonly detail?: string;
  /** UNKNOWN_EPOCH only: see SecurityError.awaitingKey. */
  readonly awaitingKey?: boolean;
  /** With awaitingKey: which message is held (see SecurityError.held). */
  readonly held?: HeldMessage;
}

/** A message held for its epoch key: its stream and sequence number. */
export interface HeldMessage {
  readonly sender: string;
  readonly channel: string;
  readonly epoch: number;
  readonly seq: number;
}


/** Something forged, replayed, redirected, malformed or not allowed. */
export class SecurityError extends PqcIiotError {
  declare readonly code: ReasonCode;
  readonly topic: string | undefined;
  readonly sender: string | undefined;
  /**
   * UNKNOWN_EPOCH only: the message is authentic (its signature verified) and
   * waits for its epoch key, which has been asked for. Not an attack; the
   * client does not report it. False for everything else, including a
   * forged message that claims an unknown epoch.
   */
  readonly awaitingKey: boolean;
  /** With awaitingKey: the held message's stream and sequence number (its release carries the same). */
  readonly held: HeldMessage | undefined;
  constructor(code: ReasonCode, context: SecurityContext = {}) {
    super(code, `${code}: ${context.detail ?? REASONS[code]}${context.topic ? ` (topic ${context.topic})` : ''}`);
    this.topic = context.topic;
    this.sender = context.sender;
    this.awaitingKey = code === 'UNKNOWN_EPOCH' && context.awaitingKey === true;
    this.held = this.awaitingKey ? context.held : undefined;
  }
}

/** Why a storage backend failed: unreadable or inconsistent data, an I/O error, a value over its bound. */
export type StorageErrorCode = 'CORRUPT' | 'IO' | 'TOO_LARGE';

/** A storage backend failed (disk full, permissions, corrupt file). */
export class StorageError extends PqcIiotError {
  declare readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** What a caller got wrong beyond an argument's type or range. */
export type ConfigErrorCode =
  | 'ANCHOR_MISMATCH'
  | 'BAD_CERTIFICATE'
  | 'CLOSED'
  | 'DESTROYED'
  | 'EXHAUSTED'
  | 'IDENTITY_MISMATCH'
  | 'IN_USE'
  | 'KEY_MISMATCH'
  | 'NOT_INITIALISED'
  | 'SIGN_WORKER';

/** A caller passed something the API does not accept (beyond TypeError/RangeError). */
export class ConfigError extends PqcIiotError {
  declare readonly code: ConfigErrorCode;
  constructor(code: ConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export function isSecurityError(err: unknown): err is SecurityError {
  return err instanceof SecurityError;
}
