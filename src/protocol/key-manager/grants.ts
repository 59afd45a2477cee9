// The grants a publisher issues (docs/PROTOCOL.md, "Key grant (type G)" and
// "Key request (type Q)"): one grant sealed for one subscriber and one epoch,
// and the answers to a key request and to grantsFor, which also admit the
// subscriber to the channels granted. The channels themselves are the
// publisher's: they are reached through the `channelOf` it passes in, and a
// join rotation through its `rotateForJoin`.
//
// Backward secrecy on join: a subscriber admitted to a channel (not
// authorised for it now: new, or re-admitted after its removal) is never
// granted an epoch whose first message was sealed more than joinWindowMs
// before: the channel rotates first ('join'), and previous epochs are granted
// to it only under the same bound. Within the window it gets the epoch, so a
// first message that waited for its key is still released, and every join of
// the window shares one rotation.

import { maySubscribe, type Certificate } from '../../certs/certificate.js';
import { SecurityError } from '../../errors.js';
import { filtersOverlap } from '../channels.js';
import { NonceCache, openKeyRequest, sealGrant } from '../grant.js';
import { assertOpen, assertRevocationFresh, type KeyManagerContext } from './context.js';
import { exclusive, joinerMayRead, pruneRetained, saveSubscribers, type GrantableEpoch, type PublisherChannel } from './publisher-channel.js';
import type { KeyGrant, RotationEvent } from './types.js';

/** A grant of epoch `e` of `channel` for `subscriber`, sealed with our direct sequence numbers. */
export async function sealEpochGrant(ctx: KeyManagerContext, channel: string, e: GrantableEpoch, subscriber: Certificate, now: number): Promise<KeyGrant> {
  const topic = ctx.grantTopic(subscriber.subject);
  const bytes = await sealGrant({
    publisher: ctx.identity,
    subscriber,
    topic,
    grant: { channel, epoch: e.epoch, epochKey: e.epochKey, firstSeq: e.firstSeq, notAfter: e.notAfter },
    seq: await ctx.direct.next(),
    now,
    ...ctx.det,
  });
  return Object.freeze({ subscriber: subscriber.subject, channel, epoch: e.epoch, topic, bytes });
}


/** The grants of key requests and of grantsFor (see KeyManager.handleKeyRequest, KeyManager.grantsFor). */
export class Grants {
  readonly #ctx: KeyManagerContext;
  readonly #channelOf: (channel: string) => Promise<PublisherChannel>;
  /** Starts a new epoch of the channel before a join (inside exclusive()). */
  readonly #rotateForJoin: (ch: PublisherChannel) => Promise<RotationEvent>;
  /** In memory only, whatever the storage: requests timestamped before our start are refused (the restart rule). */
  readonly #nonces: NonceCache;

  constructor(
    ctx: KeyManagerContext,
    channelOf: (channel: string) => Promise<PublisherChannel>,
    rotateForJoin: (ch: PublisherChannel) => Promise<RotationEvent>,
  ) {
    this.#ctx = ctx;
    this.#channelOf = channelOf;
    this.#rotateForJoin = rotateForJoin;
    this.#nonces = new NonceCache(undefined, ctx.clock());
  }

  async handleKeyRequest(bytes: Uint8Array): Promise<KeyGrant[]> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    const now = ctx.clock();
    assertRevocationFresh(ctx, now); // a revoked subscriber may be asking while the broker hides its revocation
    const req = openKeyRequest(bytes, {
      publisher: ctx.identity.id,
      trust: ctx.trust,
      now,
      maxAgeMs: ctx.o.maxAgeMs,
      clockSkewMs: ctx.o.clockSkewMs,
      nonces: this.#nonces,
    });
    const overlapping = ctx.cert.publish.filter((c) => filtersOverlap(req.filter, c));
    if (overlapping.length === 0) return [];
    const covered = overlapping.filter((c) => maySubscribe(req.subscriberCertificate, c));
    if (covered.length === 0) {
      throw new SecurityError('NOT_AUTHORISED', {
        sender: req.subscriber,
        detail: `its rights cover none of the channels ${overlapping.join(', ')} entirely`,
      });
    }
    return this.#grantChannels(req.subscriberCertificate, covered, true);
  }

  async grantsFor(subscriber: Certificate): Promise<KeyGrant[]> {
    const ctx = this.#ctx;
    assertOpen(ctx);
    assertRevocationFresh(ctx, ctx.clock());
    const cert = ctx.trust.get(subscriber.subject, ctx.clock());
    return this.#grantChannels(
      cert,
      ctx.cert.publish.filter((c) => maySubscribe(cert, c)),
      false,
    );
  }

  /**
   * `cert` is valid now and covers every channel in `channels`. A key request
   * (`request`) is rate-limited per epoch and also gets the retained previous
   * epochs (those it was authorised during; a joiner, only those within
   * joinWindowMs); grantsFor gets the current epochs only. A join into an
   * epoch whose first message is older than joinWindowMs rotates it first.
   */
  async #grantChannels(cert: Certificate, channels: readonly string[], request: boolean): Promise<KeyGrant[]> {
    const ctx = this.#ctx;
    const grants: KeyGrant[] = [];
    const id = cert.subject;
    for (const channel of channels) {
      const ch = await this.#channelOf(channel);
      const sealed = await exclusive(ch, async () => {
        const joining = !ch.subscribers.has(id);
        if (joining && !joinerMayRead(ctx, ch, ctx.clock())) await this.#rotateForJoin(ch);
        const now = ctx.clock();
        const recent = (last: number | undefined): boolean => request && last !== undefined && now - last < ctx.o.regrantIntervalMs;
        const out: KeyGrant[] = [];
        if (request) {
          pruneRetained(ch, now);
          for (const r of ch.retained) {
            if (r.excluded.has(id) || recent(r.granted.get(id))) continue;
            if (!r.members.has(id) && !joinerMayRead(ctx, r, now)) continue; // sealed before it joined, beyond the window
            out.push(await sealEpochGrant(ctx, ch.channel, r, cert, now));
            r.granted.set(id, now);
          }
        }
        if (!recent(ch.subscribers.get(id))) {
          const known = ch.subscribers.has(id);
          out.push(await sealEpochGrant(ctx, ch.channel, ch, cert, now));
          ch.subscribers.set(id, now);
          if (ch.excluded.has(id)) ch.excluded = new Set([...ch.excluded].filter((x) => x !== id)); // re-admitted from this epoch on
          if (!known) await saveSubscribers(ctx, ch);
        }
        return out;
      });
      grants.push(...sealed);
    }
    return grants;
  }
}
