// The subscriber role: opening group messages (live, or under the
// retained-message policy), holding an authentic message whose key is missing
// and asking for it, accepting grants (with the rules beyond the direct
// envelope's), and sealing key requests. The keys themselves are in
// subscriber-streams.ts.

import { SecurityError } from '../../errors.js';
import type { ReplayCheck } from '../envelope.js';
import { MAX_GRANT_PAYLOAD_BYTES, openGrant, sealKeyRequest } from '../grant.js';
import { deriveGroupKeys, openGroup, retireGroupKeys, sameEpochKeys, type GroupEpochKeys, type UnknownEpochInfo } from '../group.js';
import { groupStreamChannel } from '../streams.js';
import { assertOpen, assertRevocationFresh, type KeyManagerContext } from './context.js';
import { KEY_MANAGER_DEFAULTS } from './options.js';
import { RetainedSession } from './retained-session.js';
import type { SubscriberStreams } from './subscriber-streams.js';
import type { AcceptedGrant, DataMessage, OpenDataOptions } from './types.js';

export class Subscriber {
  readonly #ctx: KeyManagerContext;
  readonly #streams: SubscriberStreams;
  readonly #retained: RetainedSession;
  /** The live replay window, with the retained session's rule (see RetainedSession.live). */
  readonly liveData: ReplayCheck;

  constructor(ctx: KeyManagerContext, streams: SubscriberStreams) {
    this.#ctx = ctx;
    this.#streams = streams;
    this.#retained = new RetainedSession(ctx.replay, ctx.clock, ctx.o.retainedMaxAgeMs, ctx.o.clockSkewMs, KEY_MANAGER_DEFAULTS.maxRetainedSeen);
    this.liveData = this.#retained.live();
  }

  async openData(bytes: Uint8Array, receivedTopic: string, options: OpenDataOptions = {}): Promise<DataMessage> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    const retained = options.retained === true;
    const now = ctx.clock();
    assertRevocationFresh(ctx, now);
    let unknown: UnknownEpochInfo | undefined;
    try {
      const msg = await openGroup(bytes, {
        receivedTopic,
        trust: ctx.trust,
        now,
        replay: retained ? this.#retained : this.liveData,
        lookup: (sender, senderKeyEpoch, channel, epoch, seq, timestamp) => this.#streams.lookup(sender, senderKeyEpoch, channel, epoch, seq, timestamp, now),
        onUnknownEpoch: (info) => {
          unknown = info;
        },
        maxPayloadBytes: ctx.o.maxPayloadBytes,
      });
      return Object.freeze({ ...msg, retained });
    } catch (err) {
      if (unknown && err instanceof SecurityError && err.code === 'UNKNOWN_EPOCH') {
        this.#streams.keyMissing(unknown, bytes, receivedTopic, retained, now);
        throw new SecurityError('UNKNOWN_EPOCH', {
          sender: err.sender,
          topic: err.topic ?? receivedTopic,
          detail: `epoch ${unknown.epoch} of ${unknown.channel}: held until its key arrives`,
          awaitingKey: true,
          held: Object.freeze({ sender: unknown.sender, channel: unknown.channel, epoch: unknown.epoch, seq: unknown.seq }),
        });
      }
      throw err;
    }
  }

  async acceptGrant(bytes: Uint8Array, receivedTopic: string): Promise<AcceptedGrant> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    const now = ctx.clock();
    let derived: GroupEpochKeys | undefined;
    const { message, grant } = await openGrant(
      bytes,
      {
        recipient: ctx.identity,
        recipientKeyEpoch: ctx.cert.keyEpoch,
        receivedTopic,
        trust: ctx.trust,
        now,
        replay: ctx.replay,
        maxPayloadBytes: MAX_GRANT_PAYLOAD_BYTES,
      },
      async (g, cert) => {
        const where = { sender: cert.subject, detail: `epoch ${g.epoch} of ${g.channel}` };
        if (g.notAfter + ctx.o.graceMs < now) throw new SecurityError('STALE_EPOCH', { ...where, detail: `${where.detail}: the grant has expired` });
        if (g.epoch < (ctx.replay.epochFloor?.(cert.subject, groupStreamChannel(cert.keyEpoch, g.channel)) ?? 0)) {
          // Its replay windows are gone (possibly before a restart): reopening it would readmit replays.
          throw new SecurityError('STALE_EPOCH', { ...where, detail: `${where.detail}: its replay state was already retired` });
        }
        const s = this.#streams.get(cert.subject, g.channel);
        const held = s && s.senderKeyEpoch === cert.keyEpoch ? s.epochs.get(g.epoch) : undefined;
        if (s && s.senderKeyEpoch > cert.keyEpoch) throw new SecurityError('STALE_EPOCH', where);
        if (s && s.senderKeyEpoch === cert.keyEpoch && !held && now > this.#streams.graceEnd(s, g.epoch)) {
          throw new SecurityError('STALE_EPOCH', { ...where, detail: `${where.detail}: older than epoch ${s.latest}, and its grace period is over` });
        }
        const keys = await deriveGroupKeys(g.epochKey, cert.subject, g.channel, g.epoch);
        if (held && !sameEpochKeys(held.keys, keys)) {
          retireGroupKeys(keys);
          throw new SecurityError('ROLLBACK', { ...where, detail: `${where.detail}: a different key for an epoch already held` });
        }
        derived = keys;
      },
    );
    grant.epochKey.fill(0); // derived; the raw key is not kept by subscribers
    const sender = message.sender;
    const s = this.#streams.install(sender, message.senderCertificate.keyEpoch, grant.channel, grant.epoch, derived!, grant.firstSeq, grant.notAfter, now);
    const waiting = s.held.filter((h) => h.epoch === grant.epoch);
    s.held = s.held.filter((h) => h.epoch !== grant.epoch);
    // Messages still held (other epochs, e.g. an older one whose grant follows) keep the need alive.
    this.#streams.settleHeld(s, now);
    const released: DataMessage[] = [];
    for (const h of waiting) {
      try {
        released.push(await this.openData(h.bytes, h.topic, { retained: h.retained }));
      } catch {
        // Too old by now, or a duplicate of one that arrived meanwhile: dropped.
      }
    }
    return Object.freeze({ publisher: sender, channel: grant.channel, epoch: grant.epoch, released: Object.freeze(released) });
  }

  keyRequest(publisher: string, filter: string): Uint8Array {
    const ctx = this.#ctx;
    assertOpen(ctx);
    return sealKeyRequest({ subscriber: ctx.identity, publisher, filter, now: ctx.clock(), ...ctx.det });
  }

  resetRetainedSession(): void {
    this.#retained.reset();
  }
}
