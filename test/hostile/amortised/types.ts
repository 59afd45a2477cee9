// The amortised-mode run's options and result, and the records its parts
// pass between them: an honest message, a packet as it arrived at a
// subscriber, the bucket of what the client did while processing it, an
// attacker's pooled copy of what it saw, an attack ready to inject.

import type { ReasonCode } from '../../../src/errors.js';
import type { WriteMeta } from '../../support/mitm-proxy.js';
import type { Origin, Prediction } from '../amortised-model.js';
import type { KindCounts, RunOptions, RunResult } from '../harness.js';

export interface AmortisedHostileOptions extends RunOptions {
  /** Attack packets to inject at least (default 3,000). */
  readonly attacks?: number;
  /** Honest data messages during the attacks, at least (default 1,200). */
  readonly honest?: number;
}

export interface Row extends KindCounts {
  /** Reported with a reason code while processed. */
  rejected: number;
  /** Held for a manifest, then reported BAD_SIGNATURE (by a manifest that lists another digest, or by the hold timer). */
  rejectedLater: number;
  /** Dropped silently as a copy of a message already accepted or held (stats().duplicates). */
  duplicates: number;
  /** A no-op by design (a manifest already stored, or one that lists nothing held). */
  ignored: number;
  /** The model's outcome is outside the set this kind may come to. */
  outOfSet: number;
}

export interface AmortisedHostileResult extends RunResult<Row> {
  readonly outOfSet: number;
  readonly timerMismatches: number;
  readonly unsettledHeld: number;
  readonly honestLostOnPurpose: Record<string, number>;
  readonly honestLostUnexplained: number;
  readonly forgedDeliveries: number;
  /** Honest messages delivered although the proxy dropped their manifest (must be 0). */
  readonly deliveredWithoutManifest: number;
  readonly outOfOrderReleases: number;
  readonly timerRejections: number;
  readonly served: boolean;
}

export interface Honest {
  readonly id: number;
  readonly sender: string;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Filled in when the broker sees it (the publisher picks them). */
  seq?: number;
  epoch?: number;
  /** Published after the warm-up: only these are counted. */
  readonly afterArming: boolean;
}

/** A PUBLISH as it reached a subscriber, with the proxy's record of what it is. */
export interface Arrival {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retain: boolean;
  readonly meta: WriteMeta | undefined;
  readonly injected: boolean;
  readonly tagged: boolean;
}

/** One packet's processing: the model's prediction, and what the client did meanwhile. */
export interface Bucket {
  readonly arrival: Arrival;
  readonly origin: Origin;
  readonly prediction: Prediction;
  readonly duplicatesBefore: number;
  readonly events: ReasonCode[];
  readonly deliveries: string[];
}

/** A packet the broker wrote to a subscriber, kept to replay or tamper with. */
export interface PoolItem {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly epoch: number;
  readonly seq: number;
  readonly sender: string;
}

export const emptyRow = (): Row => ({ attacks: 0, rejected: 0, rejectedLater: 0, duplicates: 0, ignored: 0, accepted: 0, mismatches: 0, outOfSet: 0, expected: {} });

/** One attack packet to inject into a subscriber's connection (undefined: the draw found nothing to attack with). */
export type Attack = { kind: string; topic: string; payload: Uint8Array; retain?: boolean; qos?: 0 | 1; dup?: boolean } | undefined;
