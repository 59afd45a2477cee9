// The state of one channel a publisher publishes on (one of its
// certificate's publish filters): its current epoch and key, its sequence
// numbers, its authorised subscribers (persisted, so a restarted publisher
// re-grants at once), its previous epochs kept for late key requests, and the
// queue that keeps epoch changes and sequence numbers in order. Here too: how
// the subscribers are stored, whether one may still have the keys, and how a
// channel's keys are wiped.

import { validateSubjectId } from '../../wire/subject-id.js';
import { maySubscribe, type Certificate } from '../../certs/certificate.js';
import { ConfigError, SecurityError, StorageError } from '../../errors.js';
import type { SequenceAllocator } from '../../storage/sequence.js';
import { ByteReader, ByteWriter } from '../../wire/codec.js';
import { retireGroupKeys, type GroupEpochKeys } from '../group.js';
import { keySegment } from '../streams.js';
import type { KeyManagerContext } from './context.js';

/** What a grant carries about one epoch of a channel. */
export interface GrantableEpoch {
  readonly epoch: number;
  /** The raw 32-byte epoch key (a secret: wiped when the epoch is retired). */
  readonly epochKey: Uint8Array;
  readonly firstSeq: number;
  readonly notAfter: number;
}

/** A publisher's previous epoch, kept for late key requests until its grace period ends. */
export interface RetainedEpoch extends GrantableEpoch {
  /** Granted (and then wiped) up to this time: min(end of the epoch, notAfter) + graceMs. */
  readonly until: number;
  /** Subscribers removed from the channel before this epoch ended, not re-admitted: never granted it. */
  readonly excluded: ReadonlySet<string>;
  /** The subscribers authorised while it was current (at its end, and those its end removed). */
  readonly members: ReadonlySet<string>;
  /** When its first message was sealed (undefined: it sealed none). Others get it only within joinWindowMs of that. */
  readonly firstSealedAt: number | undefined;
  /** When each subscriber was last granted this epoch (rate limit). */
  readonly granted: Map<string, number | undefined>;
}

export interface PublisherChannel {
  readonly channel: string;
  readonly seq: SequenceAllocator;
  epoch: number;
  epochKey: Uint8Array;
  keys: GroupEpochKeys | undefined;
  startedAt: number;
  notAfter: number;
  firstSeq: number;
  firstSeqUsed: boolean;
  messages: number;
  /** When the current epoch's first message was sealed (undefined while it sealed none): see joinWindowMs. */
  firstSealedAt: number | undefined;
  /** Authorised subscribers and when each was last granted the current epoch. */
  readonly subscribers: Map<string, number | undefined>;
  /** Previous epochs still within their grace period, oldest first (memory only). */
  retained: RetainedEpoch[];
  /**
   * Subscribers removed from the channel (revoked, expired, right lost) and not
   * re-admitted since. Never mutated in place: retained epochs share it.
   */
  excluded: ReadonlySet<string>;
  queue: Promise<unknown>;
  /** Tasks queued or running in exclusive(). */
  busy: number;
  /** The last seal started: seals finish in the order they were started (see sealData). */
  sealTail: Promise<unknown>;
  /** Seals started and not finished. */
  sealing: number;
  closed: boolean;
}

/** At most this many previous epochs per channel are kept (rotation is the publisher's own doing: a sanity bound). */
const MAX_RETAINED_EPOCHS = 16;

/** A channel before its first epoch (newEpoch starts it). */
export function newChannelState(channel: string, seq: SequenceAllocator): PublisherChannel {
  return {
    channel,
    seq,
    epoch: 0,
    epochKey: new Uint8Array(0),
    keys: undefined,
    startedAt: 0,
    notAfter: 0,
    firstSeq: 0,
    firstSeqUsed: true,
    messages: 0,
    firstSealedAt: undefined,
    subscribers: new Map(),
    retained: [],
    excluded: new Set(),
    queue: Promise.resolve(),
    busy: 0,
    sealTail: Promise.resolve(),
    sealing: 0,
    closed: false,
  };
}

export function encodeU32(value: number): Uint8Array {
  return new ByteWriter(4).u32(value).finish();
}

function encodeSubscribers(ids: Iterable<string>): Uint8Array {
  const list = [...ids].sort();
  const w = new ByteWriter(64).u32(list.length);
  for (const id of list) w.string16(id);
  return w.finish();
}

export function decodeSubscribers(bytes: Uint8Array, key: string): string[] {
  try {
    const r = new ByteReader(bytes);
    const n = r.u32('count');
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(validateSubjectId(r.string16(128, 'subscriber'), 'subscriber'));
    r.end('subscribers');
    return out;
  } catch (err) {
    throw new StorageError('CORRUPT', `key manager: ${key} is unreadable`, { cause: err });
  }
}

/** Where the last epoch number of `channel` is stored (write-ahead: see newEpoch). */
export function epochStorageKey(ctx: KeyManagerContext, channel: string): string {
  return `${ctx.prefix}epoch/${keySegment(channel)}`;
}

export function subscribersStorageKey(ctx: KeyManagerContext, channel: string): string {
  return `${ctx.prefix}subscribers/${keySegment(channel)}`;
}

export async function saveSubscribers(ctx: KeyManagerContext, ch: PublisherChannel): Promise<void> {
  await ctx.storage.set(subscribersStorageKey(ctx, ch.channel), encodeSubscribers(ch.subscribers.keys()));
}

/**
 * Whether a subscriber admitted now, not authorised while `e` was current, may be granted epoch `e` (backward
 * secrecy on join): only if `e` sealed nothing, or its first message is at most joinWindowMs old.
 */
export function joinerMayRead(ctx: KeyManagerContext, e: { readonly firstSealedAt: number | undefined }, now: number): boolean {
  return e.firstSealedAt === undefined || now - e.firstSealedAt <= ctx.o.joinWindowMs;
}

/** Runs `task` after every earlier task of the channel (epoch changes and sequence order). */
export function exclusive<T>(ch: PublisherChannel, task: () => Promise<T>): Promise<T> {
  ch.busy++;
  const run = ch.queue.then(() => {
    if (ch.closed) throw new ConfigError('CLOSED', `channel ${ch.channel} is closed`);
    return task();
  });
  ch.queue = run.then(
    () => void ch.busy--,
    () => void ch.busy--,
  );
  return run;
}

/** Wipes the retained previous epochs whose grace period is over (and any beyond MAX_RETAINED_EPOCHS, oldest first). */
export function pruneRetained(ch: PublisherChannel, now: number): void {
  const keep: RetainedEpoch[] = [];
  for (const r of ch.retained) {
    if (now > r.until) r.epochKey.fill(0);
    else keep.push(r);
  }
  while (keep.length > MAX_RETAINED_EPOCHS) keep.shift()!.epochKey.fill(0);
  ch.retained = keep;
}

/** Marks the channel closed (its queued tasks fail CLOSED), wipes every key it holds, releases its sequence numbers. */
export function wipeChannel(ch: PublisherChannel): void {
  ch.closed = true;
  ch.epochKey.fill(0);
  retireGroupKeys(ch.keys);
  ch.keys = undefined;
  for (const r of ch.retained) r.epochKey.fill(0);
  ch.retained = [];
  ch.seq.close();
}

/**
 * Whether subscriber `id` may still have `channel`'s keys: its certificate if
 * so; 'revoked' if the trust store no longer gives it (revoked, expired,
 * unknown), 'right-lost' if its certificate no longer covers the channel.
 */
export function standingOf(ctx: KeyManagerContext, id: string, channel: string, now: number): Certificate | 'revoked' | 'right-lost' {
  let cert: Certificate;
  try {
    cert = ctx.trust.get(id, now);
  } catch (err) {
    if (!(err instanceof SecurityError)) throw err;
    return 'revoked';
  }
  return maySubscribe(cert, channel) ? cert : 'right-lost';
}
