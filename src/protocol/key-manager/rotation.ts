// A publisher channel's epochs: how a new one starts (its number reserved
// write-ahead, a fresh key and the group keys derived from it), what becomes
// of the old one's key (kept for late key requests for graceMs, with who was
// authorised while it was current and when it sealed its first message, or
// wiped), and the grants of the new epoch for every subscriber still
// authorised (docs/PROTOCOL.md, "Channels, epochs, rotation, grace,
// revocation").

import { ConfigError, StorageError } from '../../errors.js';
import { EPOCH_KEY_BYTES, MAX_EPOCH, deriveGroupKeys, retireGroupKeys, type GroupEpochKeys } from '../group.js';
import { revocationFresh, type KeyManagerContext } from './context.js';
import { sealEpochGrant } from './grants.js';
import { encodeU32, epochStorageKey, pruneRetained, standingOf, type PublisherChannel } from './publisher-channel.js';
import type { KeyGrant, RotationEvent, RotationReason } from './types.js';

/**
 * A new epoch: reserve its number durably first (write-ahead: a number is
 * never used before it is stored, so no restart can reuse it with another
 * key), then its first sequence number, then a fresh key. Must run inside
 * exclusive(). The old epoch's raw key is retained for graceMs (late key
 * requests); subscribers removed now are excluded from the new epoch and,
 * until re-admitted, from every later one retained. Emits 'rotated' with a
 * grant for every remaining subscriber.
 */
export async function newEpoch(ctx: KeyManagerContext, ch: PublisherChannel, reason: RotationReason, removed: string[]): Promise<RotationEvent> {
  const key = epochStorageKey(ctx, ch.channel);
  const stored = await ctx.storage.get(key);
  let last = ch.epoch;
  if (stored !== undefined) {
    if (stored.length !== 4) throw new StorageError('CORRUPT', `key manager: ${key} is not a u32`);
    last = Math.max(last, new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0));
  }
  if (last >= MAX_EPOCH) throw new ConfigError('EXHAUSTED', `channel ${ch.channel} has used every epoch number`);
  const epoch = last + 1;
  await ctx.storage.set(key, encodeU32(epoch));
  const firstSeq = await ch.seq.next();
  const epochKey = ctx.random(EPOCH_KEY_BYTES);
  let keys: GroupEpochKeys;
  try {
    keys = await deriveGroupKeys(epochKey, ctx.identity.id, ch.channel, epoch);
  } catch (err) {
    epochKey.fill(0);
    throw err;
  }
  const previousEpoch = ch.epoch === 0 ? undefined : ch.epoch;
  const now = ctx.clock();
  // The publisher never seals under the old epoch again: its derived keys go
  // now. Its raw key is kept for graceMs, for subscribers whose key request
  // arrives just after this rotation (they may hold messages of it).
  retireGroupKeys(ch.keys);
  if (ch.keys && ctx.o.graceMs > 0) {
    ch.retained.push({
      epoch: ch.epoch,
      epochKey: ch.epochKey,
      firstSeq: ch.firstSeq,
      notAfter: ch.notAfter,
      until: Math.min(now, ch.notAfter) + ctx.o.graceMs,
      excluded: ch.excluded,
      members: new Set([...ch.subscribers.keys(), ...removed]),
      firstSealedAt: ch.firstSealedAt,
      granted: new Map(ch.subscribers),
    });
  } else {
    ch.epochKey.fill(0);
  }
  ch.epoch = epoch;
  ch.epochKey = epochKey;
  ch.keys = keys;
  ch.startedAt = now;
  ch.notAfter = Math.min(now + ctx.o.rotateAfterMs, Number.MAX_SAFE_INTEGER);
  ch.firstSeq = firstSeq;
  ch.firstSeqUsed = false;
  ch.messages = 0;
  ch.firstSealedAt = undefined;

  const grants: KeyGrant[] = [];
  // With a stale revocation list no new key is granted (a revoked subscriber may still be listed); the
  // subscribers stay listed and ask again once a fresh list arrives (their held messages need the key).
  const granting = revocationFresh(ctx, now);
  for (const id of [...ch.subscribers.keys()]) {
    const cert = standingOf(ctx, id, ch.channel, now);
    if (typeof cert === 'string') {
      ch.subscribers.delete(id);
      removed.push(id);
      continue;
    }
    if (!granting) continue;
    grants.push(await sealEpochGrant(ctx, ch.channel, ch, cert, now));
    ch.subscribers.set(id, now);
  }
  if (removed.length > 0) ch.excluded = new Set([...ch.excluded, ...removed]);
  pruneRetained(ch, now);
  const event: RotationEvent = Object.freeze({
    channel: ch.channel,
    epoch,
    previousEpoch,
    reason,
    grants: Object.freeze(grants),
    removed: Object.freeze([...removed]),
  });
  ctx.emitRotated(event);
  return event;
}
