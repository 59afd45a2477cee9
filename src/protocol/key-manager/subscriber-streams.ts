// The subscriber's keys, per (publisher, channel): the granted epochs'
// derived keys and their grace periods, the authentic messages held while
// their key is requested, and the keys still needed ('keyNeeded'). Older
// epochs stay usable for graceMs after a newer one arrives, then are wiped and
// the replay guard forgets them; an older epoch's grant arriving after a newer
// one is accepted within that grace period (never for an epoch older than one
// already wiped).

import { retireGroupKeys, type EpochLookup, type GroupEpochKeys, type UnknownEpochInfo } from '../group.js';
import { groupStreamChannel } from '../streams.js';
import type { KeyManagerContext } from './context.js';
import type { KeyNeededEvent } from './types.js';

export interface SubscriberEpoch {
  readonly keys: GroupEpochKeys;
  readonly firstSeq: number;
  readonly notAfter: number;
  /** When its grant was accepted: an older epoch's grace period starts when a newer one is installed. */
  readonly installedAt: number;
  /** Wiped after this (Infinity while it is the newest epoch). */
  expiresAt: number;
}

export interface HeldMessage {
  readonly bytes: Uint8Array;
  readonly topic: string;
  readonly retained: boolean;
  readonly epoch: number;
}

export interface SubscriberStream {
  readonly sender: string;
  readonly channel: string;
  senderKeyEpoch: number;
  latest: number;
  /** Epochs below this are over for good (a newer epoch's grace period ended): never installed again. */
  floor: number;
  readonly epochs: Map<number, SubscriberEpoch>;
  held: HeldMessage[];
}

export interface Needed {
  readonly publisher: string;
  readonly channel: string;
  /** The newest epoch needed (held messages' epochs, or the last one signalled). */
  epoch: number;
  readonly senderKeyEpoch: number;
  signalledAt: number;
  /** When the last authentic message needing it arrived: the need lapses maxAgeMs later. */
  lastSeenAt: number;
}

const streamKeyOf = (sender: string, channel: string): string => `${sender}\n${channel}`;

export class SubscriberStreams {
  readonly #ctx: KeyManagerContext;
  readonly #streams = new Map<string, SubscriberStream>();
  readonly #needed = new Map<string, Needed>();

  constructor(ctx: KeyManagerContext) {
    this.#ctx = ctx;
  }

  get(sender: string, channel: string): SubscriberStream | undefined {
    return this.#streams.get(streamKeyOf(sender, channel));
  }

  /** The keys of an epoch held now, without the checks of lookup (amortised prefetch). */
  peekKeys(sender: string, senderKeyEpoch: number, channel: string, epoch: number): GroupEpochKeys | undefined {
    const s = this.#streams.get(streamKeyOf(sender, channel));
    return s && s.senderKeyEpoch === senderKeyEpoch ? s.epochs.get(epoch)?.keys : undefined;
  }

  /** Drops every key held from the publishers in `gone` (revoked). */
  dropSenders(gone: ReadonlySet<string>): void {
    for (const s of [...this.#streams.values()]) if (gone.has(s.sender)) this.#dropStream(s);
  }

  /** Wipes keys whose grace period ended, lets lapsed needs go, signals keyNeeded again for keys still missing. */
  maintain(): void {
    const ctx = this.#ctx;
    const now = ctx.clock();
    for (const s of [...this.#streams.values()]) this.#purge(s, now);
    for (const [id, n] of [...this.#needed]) {
      if (now - n.lastSeenAt > ctx.o.maxAgeMs) {
        this.#needed.delete(id); // nothing needing it arrived for a while: stop asking
        continue;
      }
      if (now - n.signalledAt >= ctx.o.keyRequestRetryMs) {
        n.signalledAt = now;
        ctx.emitKeyNeeded({ publisher: n.publisher, channel: n.channel, epoch: n.epoch });
      }
    }
  }

  /** Wipes every key held. */
  clear(): void {
    for (const s of [...this.#streams.values()]) this.#dropStream(s);
  }

  /** Keys we are waiting for (authentic messages arrived under them). */
  needsKey(): KeyNeededEvent[] {
    return [...this.#needed.values()].map((n) => ({ publisher: n.publisher, channel: n.channel, epoch: n.epoch }));
  }

  /** Epochs of (publisher, channel) whose keys we hold, ascending. */
  heldEpochs(publisher: string, channel: string): number[] {
    const s = this.#streams.get(streamKeyOf(publisher, channel));
    return s ? [...s.epochs.keys()].sort((a, b) => a - b) : [];
  }

  lookup(sender: string, senderKeyEpoch: number, channel: string, epoch: number, seq: number, timestamp: number, now: number): EpochLookup {
    const ctx = this.#ctx;
    const s = this.#streams.get(streamKeyOf(sender, channel));
    if (!s || s.senderKeyEpoch < senderKeyEpoch) return { ok: false, code: 'UNKNOWN_EPOCH' };
    if (s.senderKeyEpoch > senderKeyEpoch) return { ok: false, code: 'STALE_EPOCH', detail: 'an older key epoch of the sender' };
    const e = s.epochs.get(epoch);
    // Not held: unknown while its grant may still come (newer, or older within its grace period), else over.
    if (!e) return now <= this.graceEnd(s, epoch) ? { ok: false, code: 'UNKNOWN_EPOCH' } : { ok: false, code: 'STALE_EPOCH' };
    if (now > e.expiresAt || now > e.notAfter + ctx.o.graceMs) {
      this.#purge(s, now);
      return { ok: false, code: 'STALE_EPOCH', detail: `epoch ${epoch} of ${channel}: its grace period ended` };
    }
    if (seq < e.firstSeq) return { ok: false, code: 'REPLAY', detail: `sequence number ${seq} precedes epoch ${epoch}` };
    if (timestamp > e.notAfter) return { ok: false, code: 'STALE_EPOCH', detail: `timestamped after epoch ${epoch} ended` };
    return { ok: true, keys: e.keys };
  }

  install(
    sender: string,
    senderKeyEpoch: number,
    channel: string,
    epoch: number,
    keys: GroupEpochKeys,
    firstSeq: number,
    notAfter: number,
    now: number,
  ): SubscriberStream {
    const ctx = this.#ctx;
    const id = streamKeyOf(sender, channel);
    let s = this.#streams.get(id);
    if (s && s.senderKeyEpoch < senderKeyEpoch) {
      this.#dropStream(s); // the publisher was re-keyed: its old epochs are gone
      s = undefined;
    }
    if (!s) {
      s = { sender, channel, senderKeyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
      this.#streams.set(id, s);
    }
    const existing = s.epochs.get(epoch);
    if (existing) {
      retireGroupKeys(keys); // same key (checked): keep the installed one
      return s;
    }
    if (epoch > s.latest) {
      for (const e of s.epochs.values()) e.expiresAt = Math.min(e.expiresAt, now + ctx.o.graceMs);
      s.latest = epoch;
    }
    // An older epoch arriving late gets the grace period it would have had: graceMs after a newer one arrived.
    s.epochs.set(epoch, { keys, firstSeq, notAfter, installedAt: now, expiresAt: epoch < s.latest ? this.graceEnd(s, epoch) : Infinity });
    return s;
  }

  /**
   * Until when the key of `epoch`, not held, may still be installed: always
   * for an epoch newer than any held (Infinity); for an older one, graceMs
   * after the first newer epoch's key arrived, and never once an epoch at or
   * above it was wiped (-Infinity).
   */
  graceEnd(s: SubscriberStream, epoch: number): number {
    const ctx = this.#ctx;
    if (epoch > s.latest) return Infinity;
    if (epoch < s.floor) return -Infinity;
    let superseded = Infinity;
    for (const [n, e] of s.epochs) if (n > epoch && e.installedAt < superseded) superseded = e.installedAt;
    return superseded === Infinity ? -Infinity : superseded + ctx.o.graceMs;
  }

  /**
   * Drops held messages whose key can no longer be installed, and ends the
   * need for keys once nothing waits for them (a need for an epoch newer than
   * any held stays until its grant arrives or it lapses).
   */
  settleHeld(s: SubscriberStream, now: number): void {
    s.held = s.held.filter((h) => !s.epochs.has(h.epoch) && now <= this.graceEnd(s, h.epoch));
    const id = streamKeyOf(s.sender, s.channel);
    const n = this.#needed.get(id);
    if (!n || n.senderKeyEpoch > s.senderKeyEpoch) return;
    if (n.senderKeyEpoch < s.senderKeyEpoch || (s.held.length === 0 && n.epoch <= s.latest)) this.#needed.delete(id);
    else if (s.held.length > 0) n.epoch = Math.max(...s.held.map((h) => h.epoch));
  }

  /** Wipes epochs whose grace period is over; tells the replay guard to forget them; drops held messages they doom. */
  #purge(s: SubscriberStream, now: number): void {
    const ctx = this.#ctx;
    let below = 0;
    for (const [epoch, e] of [...s.epochs]) {
      if (now > e.expiresAt || now > e.notAfter + ctx.o.graceMs) {
        retireGroupKeys(e.keys);
        s.epochs.delete(epoch);
        below = Math.max(below, epoch + 1);
      }
    }
    // An epoch older than one whose grace period ended is over too: never installed again.
    s.floor = Math.max(s.floor, below);
    // Only epochs below every epoch still held: lookup rejects those as STALE_EPOCH before the guard is asked.
    const lowestHeld = Math.min(...s.epochs.keys(), s.latest + 1);
    const forgetBelow = Math.min(below, lowestHeld);
    if (forgetBelow > 0 && ctx.replay.forgetEpoch) {
      ctx.replay.forgetEpoch(s.sender, groupStreamChannel(s.senderKeyEpoch, s.channel), forgetBelow).catch(() => undefined);
    }
    this.settleHeld(s, now);
  }

  #dropStream(s: SubscriberStream): void {
    for (const e of s.epochs.values()) retireGroupKeys(e.keys);
    s.epochs.clear();
    s.held = [];
    this.#streams.delete(streamKeyOf(s.sender, s.channel));
    this.#needed.delete(streamKeyOf(s.sender, s.channel));
  }

  keyMissing(info: UnknownEpochInfo, bytes: Uint8Array, topic: string, retained: boolean, now: number): void {
    const ctx = this.#ctx;
    const id = streamKeyOf(info.sender, info.channel);
    if (ctx.o.maxHeldPerStream > 0) {
      let s = this.#streams.get(id);
      if (!s || s.senderKeyEpoch < info.senderKeyEpoch) {
        if (s) this.#dropStream(s);
        s = { sender: info.sender, channel: info.channel, senderKeyEpoch: info.senderKeyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
        this.#streams.set(id, s);
      }
      s.held.push({ bytes: bytes.slice(), topic, retained, epoch: info.epoch });
      if (s.held.length > ctx.o.maxHeldPerStream) s.held.shift();
    }
    const n = this.#needed.get(id);
    if (n && n.epoch >= info.epoch && n.senderKeyEpoch === info.senderKeyEpoch && now - n.signalledAt < ctx.o.keyRequestRetryMs) {
      n.lastSeenAt = now;
      return;
    }
    this.#needed.set(id, {
      publisher: info.sender,
      channel: info.channel,
      epoch: Math.max(info.epoch, n && n.senderKeyEpoch === info.senderKeyEpoch ? n.epoch : 0),
      senderKeyEpoch: info.senderKeyEpoch,
      signalledAt: now,
      lastSeenAt: now,
    });
    ctx.emitKeyNeeded({ publisher: info.sender, channel: info.channel, epoch: info.epoch });
  }
}
