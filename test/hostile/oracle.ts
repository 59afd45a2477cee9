// What the two oracles of the hostile-broker runs (model.ts for signed mode,
// amortised-model.ts for amortised mode) share: they model the same client
// code paths (the first failed check decides, the replay window, the control
// topics, the KeyManager's epochs and their grace periods), so these pieces
// live once, here, and a fix to one reaches both.

import { createHash } from 'node:crypto';
import { SecurityError, type ReasonCode } from '../../src/errors.js';

export type Outcome = 'deliver' | 'duplicate' | 'none' | 'held' | 'await' | ReasonCode;

export const hashOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('base64').slice(0, 24);

/** Thrown inside a model's checks: the first failed check's outcome. */
export class Stop {
  constructor(readonly outcome: Outcome) {}
}

export const stop = (o: Outcome): never => {
  throw new Stop(o);
};

/** The code a parser throws (or MALFORMED for anything else, as the client's asSecurityError does). */
export function parseOr<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new Stop(err instanceof SecurityError ? err.code : 'MALFORMED');
  }
}

/** Runs checks that end with a `stop()` or a return: either way, the outcome. */
export function outcomeOf(checks: () => Outcome): Outcome {
  try {
    return checks();
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    return err.outcome;
  }
}

/** ReplayGuard's sliding window of one stream. */
export class ReplayWindow {
  highest: number | undefined;
  readonly accepted = new Set<number>();
  constructor(readonly size: number) {}

  check(seq: number): 'fresh' | 'duplicate' | 'replay' {
    const h = this.highest;
    if (h === undefined || seq > h) return 'fresh';
    if (seq <= h - this.size) return 'replay';
    return this.accepted.has(seq) ? 'duplicate' : 'fresh';
  }

  accept(seq: number): void {
    this.accepted.add(seq);
    if (this.highest === undefined || seq > this.highest) {
      this.highest = seq;
      // Only bounds memory: check() answers 'replay' below highest - size before it looks at `accepted`.
      if (this.accepted.size > 4 * this.size) {
        for (const s of this.accepted) if (s <= seq - this.size) this.accepted.delete(s);
      }
    }
  }
}

/** The window of `id`, created on first use. */
export function windowOf(windows: Map<string, ReplayWindow>, id: string, size: number): ReplayWindow {
  let w = windows.get(id);
  if (!w) windows.set(id, (w = new ReplayWindow(size)));
  return w;
}

export type ControlTopic = { kind: 'cert' | 'crl' | 'grant' | 'key-request'; subject?: string } | 'reserved' | undefined;

/** ControlTopics.parse: which control message a topic under `prefix` carries ('reserved': none, ignored; undefined: application data). */
export function parseControlTopic(prefix: string, topic: string): ControlTopic {
  if (!(topic === prefix || topic.startsWith(prefix + '/'))) return undefined;
  if (topic === `${prefix}/crl`) return { kind: 'crl' };
  const rest = topic.slice(prefix.length + 1);
  const slash = rest.indexOf('/');
  if (slash < 0) return 'reserved';
  const kind = rest.slice(0, slash);
  const subject = rest.slice(slash + 1);
  if (subject.length === 0 || subject.includes('/')) return 'reserved';
  if (kind === 'certs') return { kind: 'cert', subject };
  if (kind === 'grants') return { kind: 'grant', subject };
  if (kind === 'key-requests') return { kind: 'key-request', subject };
  return 'reserved';
}

// ------------------------------------------------------------ epochs

/** One installed epoch key of a (sender, channel). */
export interface EpochState {
  readonly firstSeq: number;
  readonly notAfter: number;
  readonly installedAt: number;
  expiresAt: number;
}

/** The KeyManager's epochs of one (sender, channel). */
export interface EpochChain<E extends EpochState = EpochState> {
  latest: number;
  /** Epochs below this are over for good (a newer epoch's grace period ended). */
  floor: number;
  readonly epochs: Map<number, E>;
}

/** Until when the key of `epoch`, not held, may still be installed (KeyManager.#graceEnd). */
export function graceEnd(s: EpochChain, epoch: number, graceMs: number): number {
  if (epoch > s.latest) return Infinity;
  if (epoch < s.floor) return -Infinity;
  let superseded = Infinity;
  for (const [n, e] of s.epochs) if (n > epoch && e.installedAt < superseded) superseded = e.installedAt;
  return superseded === Infinity ? -Infinity : superseded + graceMs;
}

/** Epochs past their end are wiped and raise the floor (the caller then settles what was held for them). */
export function dropExpiredEpochs(s: EpochChain, now: number, graceMs: number): void {
  let below = 0;
  for (const [epoch, e] of [...s.epochs]) {
    if (now > e.expiresAt || now > e.notAfter + graceMs) {
      s.epochs.delete(epoch);
      below = Math.max(below, epoch + 1);
    }
  }
  s.floor = Math.max(s.floor, below);
}

/** KeyManager.#install of a key not yet held: a newer epoch cuts the older ones to the grace period; an older one ends at its grace end. */
export function installEpoch<E extends EpochState>(s: EpochChain<E>, epoch: number, now: number, graceMs: number, fields: Omit<E, 'installedAt' | 'expiresAt'>): void {
  if (s.epochs.has(epoch)) return;
  if (epoch > s.latest) {
    for (const e of s.epochs.values()) e.expiresAt = Math.min(e.expiresAt, now + graceMs);
    s.latest = epoch;
  }
  const expiresAt = epoch < s.latest ? graceEnd(s, epoch, graceMs) : Infinity;
  s.epochs.set(epoch, { ...fields, installedAt: now, expiresAt } as E);
}
