// The publisher role: its channels (started on first use), sealing data under
// a channel's current epoch (the queued path, and the synchronous amortised
// path of the steady state), rotation when an epoch is used up or on request
// (and, through grants.ts, before a join), and the upkeep of its authorised
// subscribers. The state of one channel is in publisher-channel.ts, how an
// epoch starts in rotation.ts.

import { abytesMax } from '../../../bindings/assert-sdk.js';
import type { Certificate } from '../../certs/certificate.js';
import { SecurityError } from '../../errors.js';
import { SequenceAllocator } from '../../storage/sequence.js';
import type { AmortisedSide } from '../amortised-manager.js';
import { channelFor } from '../channels.js';
import { checkFilterArg, checkTopicArg } from '../envelope.js';
import { sealGroupUnchecked } from '../group.js';
import { keySegment } from '../streams.js';
import { assertOpen, type KeyManagerContext } from './context.js';
import { decodeSubscribers, exclusive, pruneRetained, newChannelState, saveSubscribers, standingOf, subscribersStorageKey, wipeChannel, type PublisherChannel } from './publisher-channel.js';
import { newEpoch } from './rotation.js';
import type { RotationEvent, RotationReason } from './types.js';

export class Publisher {
  readonly #ctx: KeyManagerContext;
  /** Amortised mode, if configured (shared with the subscriber side). */
  readonly #amortised: AmortisedSide | undefined;
  readonly #channels = new Map<string, Promise<PublisherChannel>>();
  /** The channels of #channels that finished starting (for sealData's synchronous path). */
  readonly #startedChannels = new Map<string, PublisherChannel>();
  /** sealData calls per channel on the queued path, not finished yet. */
  readonly #queuedSeals = new Map<string, number>();

  constructor(ctx: KeyManagerContext, amortised: AmortisedSide | undefined) {
    this.#ctx = ctx;
    this.#amortised = amortised;
  }

  /** The channel `topic` is published under: the most specific publish filter matching it (see channelFor). */
  channelFor(topic: string): string | undefined {
    const ctx = this.#ctx;
    checkTopicArg(topic);
    return channelFor(ctx.cert.publish, topic);
  }

  /** The current epoch of `channel`, if it has started. */
  async currentEpoch(channel: string): Promise<number | undefined> {
    const pending = this.#channels.get(channel);
    return pending ? (await pending).epoch : undefined;
  }

  /** The authorised subscribers of `channel` (those who will get the next epoch's grant). */
  async subscribersOf(channel: string): Promise<string[]> {
    const pending = this.#channels.get(channel);
    return pending ? [...(await pending).subscribers.keys()].sort() : [];
  }

  async sealData(topic: string, payload: Uint8Array, options: { readonly signed?: boolean } = {}): Promise<Uint8Array> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    // Checked here, once, before a sequence number is taken: the sealing below trusts them.
    checkTopicArg(topic);
    abytesMax(payload, ctx.o.maxPayloadBytes, 'payload');
    const channel = channelFor(ctx.cert.publish, topic);
    if (channel === undefined) {
      throw new SecurityError('NOT_AUTHORISED', { topic, sender: ctx.identity.id, detail: 'no publish right of ours matches this topic' });
    }
    const fast = this.#sealAmortisedNow(channel, topic, payload, options);
    if (fast !== undefined) return fast;
    // Counted from this call on, before any await, so that a later call cannot
    // take the synchronous path and be numbered ahead of this one.
    this.#queuedSeals.set(channel, (this.#queuedSeals.get(channel) ?? 0) + 1);
    try {
      return await this.#sealQueued(channel, topic, payload, options);
    } finally {
      const left = (this.#queuedSeals.get(channel) ?? 1) - 1;
      if (left > 0) this.#queuedSeals.set(channel, left);
      else this.#queuedSeals.delete(channel);
    }
  }

  async #sealQueued(channel: string, topic: string, payload: Uint8Array, options: { readonly signed?: boolean }): Promise<Uint8Array> {
    const ctx = this.#ctx;
    const ch = await this.channel(channel);
    // The exclusive section only rotates and numbers; a signed seal's
    // WebCrypto call and signature run outside it, so the seals of messages
    // sealed back to back overlap (one WebCrypto call at a time costs about
    // twice the CPU per call: each wakes a thread-pool thread). Seals still
    // finish in the order they were numbered, so a caller that publishes on
    // completion publishes in sequence order, and a batch's entries stay in
    // order. (An amortised seal is synchronous: see #sealAmortisedNow.)
    const started = await exclusive(ch, async () => {
      const now = ctx.clock();
      if (ch.messages >= ctx.o.rotateAfterMessages) await newEpoch(ctx, ch, 'messages', []);
      else if (now >= ch.notAfter) await newEpoch(ctx, ch, 'time', []);
      const seq = ch.firstSeqUsed ? await ch.seq.next() : ch.firstSeq;
      ch.firstSeqUsed = true;
      if (ch.messages++ === 0) ch.firstSealedAt = now;
      const keys = ch.keys!;
      const amortised = this.#amortised;
      let sealing: Promise<Uint8Array>;
      if (amortised && options.signed !== true && amortised.amortises(channel)) {
        // Synchronous (the wasm cipher): sealed and recorded here, in sequence
        // order. Its result, a failure included, is handed out in turn.
        let sealed: Uint8Array | undefined;
        let failure: unknown;
        try {
          const { bytes, digest } = amortised.encrypt(keys, topic, payload, seq, now);
          amortised.record(keys, topic, seq, digest, now);
          sealed = bytes;
        } catch (err) {
          failure = err;
        }
        sealing = ch.sealTail.then(() => {
          if (sealed === undefined) throw failure;
          return sealed;
        });
      } else {
        const signed = sealGroupUnchecked({ sender: ctx.identity, keys, topic, payload, seq, now, maxPayloadBytes: ctx.o.maxPayloadBytes, ...ctx.det, ...(ctx.signer && { sign: ctx.signer }) });
        signed.catch(() => undefined); // its failure reaches the caller through `sealing`, in turn
        sealing = ch.sealTail.then(() => signed);
      }
      ch.sealing++;
      ch.sealTail = sealing.then(
        () => void ch.sealing--,
        () => void ch.sealing--,
      );
      return { sealing };
    });
    return started.sealing;
  }

  async rotate(channel: string): Promise<RotationEvent> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    const ch = await this.channel(checkFilterArg(channel));
    return exclusive(ch, () => newEpoch(ctx, ch, 'manual', []));
  }

  async maintain(): Promise<RotationEvent[]> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    const events: RotationEvent[] = [];
    for (const pending of [...this.#channels.values()]) {
      const ch = await pending;
      const event = await exclusive(ch, async () => {
        const now = ctx.clock();
        const removed: string[] = [];
        let reason: RotationReason | undefined;
        for (const id of [...ch.subscribers.keys()]) {
          const standing = standingOf(ctx, id, ch.channel, now);
          if (standing === 'revoked') {
            removed.push(id);
            reason = 'revoked';
          } else if (standing === 'right-lost') {
            removed.push(id);
            reason ??= 'right-lost';
          }
        }
        pruneRetained(ch, now);
        if (removed.length > 0) {
          for (const id of removed) ch.subscribers.delete(id);
          await saveSubscribers(ctx, ch);
          return newEpoch(ctx, ch, reason!, removed);
        }
        if (now >= ch.notAfter) return newEpoch(ctx, ch, 'time', []);
        return undefined;
      });
      if (event) events.push(event);
    }
    return events;
  }

  /** Closes and wipes the channels that are no longer publish filters of `cert` (now ours: see KeyManager.setCertificate). */
  async dropChannelsOutside(cert: Certificate): Promise<void> {
    for (const [channel, pending] of [...this.#channels]) {
      if (cert.publish.includes(channel)) continue;
      this.#channels.delete(channel);
      const ch = await pending;
      await exclusive(ch, async () => this.#closeChannel(ch));
    }
  }

  /** A new epoch before a join (grants.ts: backward secrecy on join); inside exclusive(). */
  rotateForJoin(ch: PublisherChannel): Promise<RotationEvent> {
    return newEpoch(this.#ctx, ch, 'join', []);
  }

  /** Every channel's subscribers without `gone`; each channel that had one of them rotates (see KeyManager.handleRevoked). */
  async revoke(gone: ReadonlySet<string>): Promise<RotationEvent[]> {
    const ctx = this.#ctx;
    const events: RotationEvent[] = [];
    for (const pending of [...this.#channels.values()]) {
      const ch = await pending;
      const event = await exclusive(ch, async () => {
        const removed = [...ch.subscribers.keys()].filter((id) => gone.has(id));
        if (removed.length === 0) return undefined;
        for (const id of removed) ch.subscribers.delete(id);
        await saveSubscribers(ctx, ch);
        return newEpoch(ctx, ch, 'revoked', removed);
      });
      if (event) events.push(event);
    }
    return events;
  }

  /**
   * sealData's steady state in amortised mode, without a turn of the event
   * loop: the channel is started, no earlier call is queued, numbering or
   * sealing on it (so call order is kept), no rotation is due and the current block of
   * sequence numbers has one left. Undefined when any of that does not hold:
   * then the queued path runs, with the same result.
   */
  #sealAmortisedNow(channel: string, topic: string, payload: Uint8Array, options: { readonly signed?: boolean }): Uint8Array | undefined {
    const ctx = this.#ctx;
    const ch = this.#startedChannels.get(channel);
    const amortised = this.#amortised;
    if (!ch || ch.closed || ch.busy > 0 || ch.sealing > 0 || this.#queuedSeals.has(channel) || !ch.keys || options.signed === true || !amortised?.amortises(channel)) {
      return undefined;
    }
    const now = ctx.clock();
    if (ch.messages >= ctx.o.rotateAfterMessages || now >= ch.notAfter) return undefined;
    const seq = ch.firstSeqUsed ? ch.seq.tryNextSync() : ch.firstSeq;
    if (seq === undefined) return undefined;
    ch.firstSeqUsed = true;
    if (ch.messages++ === 0) ch.firstSealedAt = now;
    const { bytes, digest } = amortised.encrypt(ch.keys, topic, payload, seq, now);
    amortised.record(ch.keys, topic, seq, digest, now);
    return bytes;
  }

  /** The channel, started on first use (and always with a NEW epoch). @throws SecurityError NOT_AUTHORISED (as a rejection) if it is not a publish filter of ours. */
  channel(channel: string): Promise<PublisherChannel> {
    const ctx = this.#ctx;
    let pending = this.#channels.get(channel);
    if (!pending) {
      if (!ctx.cert.publish.includes(channel)) {
        return Promise.reject(new SecurityError('NOT_AUTHORISED', { sender: ctx.identity.id, detail: `${channel} is not a publish right of ours` }));
      }
      pending = this.#startChannel(channel);
      this.#channels.set(channel, pending);
      pending.catch(() => {
        if (this.#channels.get(channel) === pending) this.#channels.delete(channel);
      });
    }
    return pending;
  }

  async #startChannel(channel: string): Promise<PublisherChannel> {
    const ctx = this.#ctx;
    const seq = await SequenceAllocator.open(ctx.storage, `${ctx.prefix}seq/g/${keySegment(channel)}`, {
      blockSize: ctx.direct.blockSize,
    });
    const ch = newChannelState(channel, seq);
    try {
      const saved = await ctx.storage.get(subscribersStorageKey(ctx, channel));
      if (saved) for (const id of decodeSubscribers(saved, subscribersStorageKey(ctx, channel))) ch.subscribers.set(id, undefined);
      // Re-validated (and re-granted) as the first epoch starts.
      const removed = this.#revalidate(ch, ctx.clock());
      if (removed.length > 0) await saveSubscribers(ctx, ch);
      await exclusive(ch, () => newEpoch(ctx, ch, 'start', removed));
      this.#startedChannels.set(channel, ch);
      return ch;
    } catch (err) {
      seq.close();
      throw err;
    }
  }

  #revalidate(ch: PublisherChannel, now: number): string[] {
    const ctx = this.#ctx;
    const removed: string[] = [];
    for (const id of [...ch.subscribers.keys()]) {
      if (typeof standingOf(ctx, id, ch.channel, now) !== 'string') continue;
      ch.subscribers.delete(id);
      removed.push(id);
    }
    return removed;
  }

  #closeChannel(ch: PublisherChannel): void {
    if (this.#startedChannels.get(ch.channel) === ch) this.#startedChannels.delete(ch.channel);
    wipeChannel(ch);
  }

  /** Wipes every channel's keys once its queued tasks are done, releases their sequence numbers. */
  async close(): Promise<void> {
    for (const pending of [...this.#channels.values()]) {
      try {
        const ch = await pending;
        await ch.queue;
        this.#closeChannel(ch);
      } catch {
        // a channel that failed to start holds nothing
      }
    }
    this.#channels.clear();
    this.#startedChannels.clear();
  }
}
