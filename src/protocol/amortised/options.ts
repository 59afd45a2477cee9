// What amortised mode takes and gives at the KeyManager's boundary: the
// publisher's and the subscriber's options, the manifests to send, and what
// opening a message or a manifest yields (amortised-manager.ts uses them).

import type { SecurityError } from '../../errors.js';
import type { GroupMessage } from '../group.js';

export interface AmortiseOptions {
  /** Channels (publish filters of ours) sealed in amortised mode. Default: every channel. */
  readonly channels?: readonly string[];
  /** Messages per manifest, 1..1,024. Default 64. */
  readonly maxBatch?: number;
  /** A batch is signed at most this long after its first message (by takeManifests). Default 25 ms. */
  readonly maxDelayMs?: number;
}

/**
 * The subscriber's hold buffer. Held messages are not authenticated yet (any
 * member of a channel can seal one in the publisher's name), so their bounds
 * are kept per (sender, channel), and room is made by rejecting the message
 * numbered farthest ahead first (TOO_LARGE): a publisher's honest messages
 * follow its last batch closely, forgeries numbered above them go first.
 */
export interface AmortisedAcceptOptions {
  /** A held message no manifest covers within this long is rejected (BAD_SIGNATURE). Default 5,000 ms. */
  readonly holdMs?: number;
  /** Held messages at once over all senders and channels (the (sender, channel) holding the most pays), 1..1,000,000. Default 8,192. */
  readonly maxHeld?: number;
  /** Held messages at once per (sender, channel), 1..maxHeld. Default 4,096 (at most maxHeld). */
  readonly maxHeldPerChannel?: number;
  /** Plaintext bytes held at once over all senders and channels, 1..2^40. Default 64 MiB. */
  readonly maxHeldBytes?: number;
  /** Plaintext bytes held at once per (sender, channel), 1..maxHeldBytes. Default 16 MiB (at most maxHeldBytes). */
  readonly maxHeldBytesPerChannel?: number;
  /**
   * A message numbered more than this above the highest sequence number a
   * verified manifest of its sender and channel listed is far ahead, 1..2^48.
   * Default 4,096 (four batches of the largest size).
   */
  readonly maxAhead?: number;
  /** Far-ahead messages held at once per (sender, channel), 0..maxHeldPerChannel (0: none). Default 256 (at most maxHeldPerChannel). */
  readonly maxHeldAhead?: number;
  /** Verified manifests kept for messages arriving after them. Default 256. */
  readonly maxManifests?: number;
}

export interface ManifestToSend {
  readonly topic: string;
  readonly channel: string;
  readonly epoch: number;
  readonly count: number;
  readonly bytes: Uint8Array;
}

/** The same shape as KeyManager's DataMessage (retained is always false here). */
export interface AmortisedDataMessage extends GroupMessage {
  readonly retained: boolean;
}

export interface AmortisedResult {
  /** Authenticated by a manifest, in sequence order per stream: deliver them. */
  readonly released: readonly AmortisedDataMessage[];
  /** Held messages rejected now (not covered, or a digest that differs from the manifest's). */
  readonly rejected: readonly SecurityError[];
}
