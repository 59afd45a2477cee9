// Direct envelopes (commands) sealed and opened as this identity: sealed with
// the direct sequence numbers that grants use too, opened against our current
// certificate's key epoch and the replay check every direct envelope shares.

import type { Certificate } from '../../certs/certificate.js';
import { openDirect, sealDirect, type DirectMessage } from '../direct.js';
import { assertOpen, assertRevocationFresh, type KeyManagerContext } from './context.js';

/** A command for one recipient, sealed with our direct sequence numbers (see KeyManager.sealDirect). */
export async function sealDirectAs(ctx: KeyManagerContext, recipient: Certificate, topic: string, payload: Uint8Array): Promise<Uint8Array> {
  assertOpen(ctx);
  return sealDirect({
    sender: ctx.identity,
    senderCert: ctx.cert,
    recipient,
    topic,
    payload,
    seq: await ctx.direct.next(),
    now: ctx.clock(),
    maxPayloadBytes: ctx.o.maxPayloadBytes,
    ...ctx.det,
  });
}

/** A direct envelope addressed to us, opened (see openDirect). */
export async function openDirectAs(ctx: KeyManagerContext, bytes: Uint8Array, receivedTopic: string): Promise<DirectMessage> {
  assertOpen(ctx);
  assertRevocationFresh(ctx, ctx.clock());
  return openDirect(bytes, {
    recipient: ctx.identity,
    recipientKeyEpoch: ctx.cert.keyEpoch,
    receivedTopic,
    trust: ctx.trust,
    now: ctx.clock(),
    replay: ctx.replay,
    maxPayloadBytes: ctx.o.maxPayloadBytes,
  });
}
