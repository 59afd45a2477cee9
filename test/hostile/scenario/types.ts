// The signed-mode run's options and result, and the records its parts pass
// between them: an honest message, an attacker's pooled copy of what it saw,
// an attack ready to inject, a re-signed attack built when its time comes.

import type { KindCounts, RunOptions, RunResult } from '../harness.js';

export interface HostileOptions extends RunOptions {
  /** Attack packets to inject at least (default 10,000). */
  readonly attacks?: number;
  /** Honest data messages at least (default 1,000). */
  readonly honest?: number;
  /** Restart a subscriber mid-run and replay what it accepted before (default true). */
  readonly restart?: boolean;
  /** Rotate a channel at the end and replay its old epoch (default true). */
  readonly rotation?: boolean;
}

export interface KindRow extends KindCounts {
  /** Attack packets of this kind the clients processed (or, for MQTT noise, the proxy wrote). */
  attacks: number;
  /** Reported with a reason code. */
  rejected: number;
  /** Dropped silently as an exact duplicate, counted in stats().duplicates. */
  duplicates: number;
  /** No effect by design (an identical announcement or revocation list, a control topic of another client). */
  ignored: number;
  /** From an unknown sender: waited for its certificate, then reported UNKNOWN_SENDER by the client's timer. */
  awaited: number;
  /** Delivered to the application, or expected to be rejected and absorbed silently. */
  accepted: number;
}

export interface HostileResult extends RunResult<KindRow> {
  readonly honestLost: number;
  readonly honestAltered: number;
  readonly droppedByBroker: number;
  /** Messages from unknown senders reported by the clients' timers: expected, plus up to `uncertain` more. */
  readonly timerRejections: { readonly expected: number; readonly uncertain: number; readonly observed: number };
  readonly closeCalls: number;
  readonly maxLagMs: number;
  readonly clientStats: Record<string, unknown>;
}

export function emptyRow(): KindRow {
  return { attacks: 0, rejected: 0, duplicates: 0, ignored: 0, awaited: 0, accepted: 0, mismatches: 0, expected: {} };
}

export interface Honest {
  readonly id: number;
  readonly sender: string;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Subscribers that must receive it. */
  readonly to: readonly string[];
}

export interface PoolItem {
  readonly topic: string;
  readonly payload: Uint8Array;
  /** For group envelopes: epoch, seq. */
  readonly epoch: number;
  readonly seq: number;
  /** The subscriber client instance it was written to (restarts count up). */
  readonly instance: number;
}

/** One attack packet to inject into `target`'s connection (undefined: the draw found nothing to attack with). */
export type Attack = { kind: string; target: string; topic: string; payload: Uint8Array; retain?: boolean; qos?: 0 | 1; dup?: boolean; expect?: string } | undefined;

/** A message built lazily (when its time has come): the expensive, re-signed attacks. */
export interface Prepared {
  readonly kind: string;
  readonly target: string;
  readonly ready: () => boolean;
  readonly build: () => Promise<{ topic: string; payload: Uint8Array }>;
}
