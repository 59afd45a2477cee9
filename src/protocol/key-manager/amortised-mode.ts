// Amortised mode's place in the KeyManager (docs/PROTOCOL.md, "Amortised
// mode"): whether it is on, and how its side reaches what the roles hold: the
// subscriber's epoch keys, its live replay window and its key requests.
// Batching, manifests and the hold / release of messages are AmortisedSide's.

import { SecurityError } from '../../errors.js';
import { AmortisedSide } from '../amortised-manager.js';
import type { ReplayCheck } from '../envelope.js';
import type { KeyManagerContext } from './context.js';
import type { KeyManagerOptions } from './options.js';
import type { SubscriberStreams } from './subscriber-streams.js';

/** The amortised side, or undefined unless `amortise` or `acceptAmortised` is given. */
export function amortisedSideOf(opts: KeyManagerOptions, ctx: KeyManagerContext, streams: SubscriberStreams, liveData: ReplayCheck): AmortisedSide | undefined {
  if (opts.amortise === undefined && (opts.acceptAmortised === undefined || opts.acceptAmortised === false)) return undefined;
  return new AmortisedSide({
    identity: ctx.identity,
    trust: ctx.trust,
    clock: ctx.clock,
    replay: liveData,
    maxAgeMs: ctx.o.maxAgeMs,
    clockSkewMs: ctx.o.clockSkewMs,
    maxPayloadBytes: ctx.o.maxPayloadBytes,
    ...(opts.amortise !== undefined && { amortise: opts.amortise }),
    ...(opts.acceptAmortised !== undefined && opts.acceptAmortised !== false && { accept: opts.acceptAmortised === true ? {} : opts.acceptAmortised }),
    lookup: (sender, senderKeyEpoch, channel, epoch, seq, timestamp, now) => streams.lookup(sender, senderKeyEpoch, channel, epoch, seq, timestamp, now),
    peekKeys: (sender, senderKeyEpoch, channel, epoch) => streams.peekKeys(sender, senderKeyEpoch, channel, epoch),
    keyMissing: (info, bytes, topic, now) => streams.keyMissing(info, bytes, topic, false, now),
  });
}

/** The side, if it accepts amortised messages. @throws SecurityError UNSUPPORTED_VERSION if not. */
export function acceptingSide(a: AmortisedSide | undefined): AmortisedSide {
  if (!a || !a.accepting) throw new SecurityError('UNSUPPORTED_VERSION', { detail: 'amortised authentication is not enabled (acceptAmortised)' });
  return a;
}
