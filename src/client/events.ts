// The client's events and what they carry: the types an application's
// listeners see ('message' with its MessageMeta, 'security', 'rotated', the
// connection's own), and the counters of stats(). Types only, in their own
// file so every room of the client can name them without importing the client.

import type { Certificate } from '../certs/certificate.js';
import type { ReasonCode, SecurityError } from '../errors.js';
import type { RotationEvent } from '../protocol/key-manager.js';

/** What `message` listeners learn about a verified message besides topic and payload. */
export interface MessageMeta {
  /** The verified sender's subject id. */
  readonly sender: string;
  readonly certificate: Certificate;
  /** 'group' (channel epoch key) or 'direct' (sealed for us alone). */
  readonly kind: 'group' | 'direct';
  readonly channel?: string;
  readonly epoch?: number;
  readonly seq: number;
  /** The sender's timestamp (ms since epoch). */
  readonly timestamp: number;
  readonly retained: boolean;
  readonly qos: 0 | 1 | 2;
}

/** A rejected message: never thrown, always reported. */
export interface SecurityEvent {
  readonly code: ReasonCode;
  readonly topic: string;
  readonly sender?: string;
  readonly message: string;
  readonly error: SecurityError;
}

export interface ClientStats {
  delivered: number;
  duplicates: number;
  held: number;
  rejected: Partial<Record<ReasonCode, number>>;
  grantsSent: number;
  grantsAccepted: number;
  keyRequestsSent: number;
  /** Messages held now for their sender's certificate (options.awaitingCertificates). */
  awaiting: number;
  /** Their bytes (payloads plus topic lengths). */
  awaitingBytes: number;
}

export type SecureClientEvents = {
  connect: [{ readonly sessionPresent: boolean }];
  reconnect: [];
  close: [];
  offline: [];
  end: [];
  error: [Error];
  message: [string, Uint8Array, MessageMeta];
  security: [SecurityEvent];
  /** A channel of ours moved to a new epoch (rotation by count, time or revocation). */
  rotated: [RotationEvent];
};
