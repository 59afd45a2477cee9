// What the KeyManager hands out: grants to send, rotation and key-needed
// events, opened messages and accepted grants. Types only, so every role and
// the client agree on one shape.

import type { GroupMessage } from '../group.js';

/** A grant to send: publish `bytes` on `topic` (the subscriber opens it with acceptGrant). */
export interface KeyGrant {
  readonly subscriber: string;
  readonly channel: string;
  readonly epoch: number;
  readonly topic: string;
  readonly bytes: Uint8Array;
}

/**
 * Why a channel started a new epoch: the publisher started it ('start'), the epoch was used up ('messages',
 * 'time'), a subscriber was removed ('revoked', 'right-lost'), a subscriber not authorised for it was admitted
 * while its first message was older than joinWindowMs ('join': backward secrecy on join), or on request ('manual').
 */
export type RotationReason = 'start' | 'messages' | 'time' | 'revoked' | 'right-lost' | 'join' | 'manual';

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
