// Attacks on the amortised envelopes of the amortised-mode run, derived from
// the honest one the broker is writing to a subscriber now (or one it wrote
// before): copies and replays (retained too), redirections, truncations and
// extensions, garbage, bit flips by field (header, epoch, sequence number,
// timestamp, ciphertext), splices, and every header field rewritten. One
// weighted draw picks the kind; KIND_OUTCOMES says what each may come to.

import { MANIFEST_TYPE, decodeAmortised } from '../../../../src/protocol/amortised.js';
import { ENVELOPE_TYPE, FLAGS } from '../../../../src/protocol/envelope.js';
import { extend, flipBit, overwrite, truncate, type PublishContext } from '../../../support/mitm-proxy.js';
import { CH1, CH2, DAY, T1_RETAINED, controlTopicsOf } from '../../plant.js';
import { editAmortised } from '../../wire-edit.js';
import { envLayout, otherChannel, sameChannel, type Attacker } from '../attacker.js';
import type { Attack } from '../types.js';

/** Attacks derived from an honest amortised envelope `m` written to `me` now. */
export function envelopeAttack(atk: Attacker, me: string, m: { topic: string; payload: Uint8Array }, forwardedNow: boolean, ctx: PublishContext): Attack {
  const { rng } = atk;
  const { f, senderEnd, epochAt, seqAt, tsAt, ctAt } = envLayout(m.payload);
  const pool = atk.envPool.get(me)!.items;
  const kind = rng.weighted({
    duplicate: 4,
    'duplicate-dup-flag': 2,
    'replay-later': 6,
    'replay-old': 3,
    'replay-retained': 2,
    'redirect-same-channel': 5,
    'redirect-other-channel': 3,
    'redirect-command': 1,
    'redirect-control': 2,
    truncate: 3,
    extend: 3,
    empty: 1,
    garbage: 2,
    'garbage-typed': 2,
    bitflip: 8,
    'bitflip-header': 3,
    'bitflip-epoch': 2,
    'bitflip-seq': 3,
    'bitflip-timestamp': 3,
    'bitflip-ciphertext': 5,
    'byte-randomise': 3,
    splice: 3,
    'version-downgrade': 1,
    'suite-downgrade': 1,
    'flags-signed': 2,
    'flags-other': 1,
    'type-confusion': 2,
    'sender-swap': 3,
    'channel-swap': 2,
    'epoch-newer': 2,
    'epoch-older': 1,
    'epoch-max': 1,
    'seq-future-dated': 2,
    'seq-expired': 2,
    'seq-fresh-forged': 2,
    'seq-reuse': 3,
    'seq-below-window': 1,
    'seq-over-2^53': 1,
    'timestamp-far-future': 1,
    'timestamp-zero': 1,
  });
  const A = (payload: Uint8Array, extra: Partial<NonNullable<Attack>> = {}): Attack => ({ kind, topic: m.topic, payload, ...extra });
  const b = m.payload;
  switch (kind) {
    case 'duplicate':
    case 'duplicate-dup-flag':
      if (!forwardedNow) return undefined;
      ctx.forward(kind === 'duplicate' ? undefined : { dup: true, qos: 1 }, atk.meta(kind));
      atk.injected++;
      return undefined;
    case 'replay-later':
    case 'replay-old':
    case 'replay-retained': {
      if (pool.length === 0) return undefined;
      const x = kind === 'replay-old' ? pool[rng.int(Math.max(1, Math.floor(pool.length / 3)))]! : rng.pick(pool);
      if (!atk.delivered(me, x)) return undefined;
      return { kind, topic: x.topic, payload: x.payload, retain: kind === 'replay-retained' };
    }
    case 'redirect-same-channel':
      return A(b, { topic: rng.pick(sameChannel(m.topic).filter((t) => t !== T1_RETAINED)) });
    case 'redirect-other-channel':
      return A(b, { topic: rng.pick(otherChannel(m.topic)) });
    case 'redirect-command':
      return A(b, { topic: `cmd/${me}` });
    case 'redirect-control':
      return A(b, { topic: rng.pick(controlTopicsOf(me)) });
    case 'truncate':
      return A(truncate(b, rng.int(b.length)));
    case 'extend':
      return A(extend(b, rng.bytes(rng.range(1, 64))));
    case 'empty':
      return A(new Uint8Array(0));
    case 'garbage':
      return A(rng.bytes(rng.int(1500)));
    case 'garbage-typed':
      return A(extend(new Uint8Array([0x4d, 1, 1, 2]), rng.bytes(rng.int(1200))));
    case 'bitflip':
      return A(flipBit(b, atk.bitOutsideSender(b.length, senderEnd)));
    case 'bitflip-header':
      return A(flipBit(b, rng.int(32)));
    case 'bitflip-epoch':
      return A(flipBit(b, epochAt * 8 + rng.int(32)));
    case 'bitflip-seq':
      return A(flipBit(b, seqAt * 8 + rng.int(64)));
    case 'bitflip-timestamp':
      return A(flipBit(b, tsAt * 8 + rng.int(64)));
    case 'bitflip-ciphertext':
      return A(flipBit(b, ctAt * 8 + rng.int((b.length - ctAt) * 8)));
    case 'byte-randomise': {
      let out = b;
      for (let i = rng.range(1, 6); i > 0; i--) {
        const at = Math.floor(atk.bitOutsideSender(b.length, senderEnd) / 8);
        out = overwrite(out, at, rng.bytes(1));
      }
      return A(out);
    }
    case 'splice': {
      const o = pool.length ? rng.pick(pool) : undefined;
      if (!o) return undefined;
      return A(editAmortised(b, { ciphertext: decodeAmortised(o.payload).ciphertext }));
    }
    case 'version-downgrade':
      return A(editAmortised(b, { version: rng.pick([0, 2, 255]) }));
    case 'suite-downgrade':
      return A(editAmortised(b, { suite: rng.pick([0, 2, 255]) }));
    case 'flags-signed':
      return A(editAmortised(b, { flags: FLAGS.signed }));
    case 'flags-other':
      return A(editAmortised(b, { flags: rng.pick([0, 3, 0x82]) }));
    case 'type-confusion':
      return A(editAmortised(b, { type: rng.pick([ENVELOPE_TYPE.direct, ENVELOPE_TYPE.grant, ENVELOPE_TYPE.keyRequest, 0x4e, 0x43, MANIFEST_TYPE]) }));
    case 'sender-swap':
      return A(editAmortised(b, { sender: rng.pick(['sub-1', 'sub-2', f.sender === 'pub-1' ? 'pub-2' : 'pub-1', 'rogue-1']) }));
    case 'channel-swap':
      return A(editAmortised(b, { channel: rng.pick(['plant/#', 'plant/+/temp', f.channel === CH1 ? CH2 : CH1, '#', 'cmd/sub-1']) }));
    case 'epoch-newer':
      return A(editAmortised(b, { epoch: f.epoch + rng.range(1, 1000) }));
    case 'epoch-older':
      return f.epoch > 0 ? A(editAmortised(b, { epoch: rng.int(f.epoch) })) : undefined;
    case 'epoch-max':
      return A(editAmortised(b, { epoch: 0xffffffff }));
    case 'seq-future-dated':
      return A(editAmortised(b, { seq: atk.fresh(f.seq), timestamp: Date.now() + rng.range(120_000, 1_800_000) }));
    case 'seq-expired':
      return A(editAmortised(b, { seq: atk.fresh(f.seq), timestamp: Date.now() - rng.range(420_000, 7 * DAY) }));
    case 'seq-fresh-forged':
      return A(editAmortised(b, { seq: atk.fresh(f.seq) }));
    case 'seq-reuse': {
      const o = pool.filter((x) => x.sender === f.sender && x.epoch === f.epoch && atk.delivered(me, x));
      return o.length ? A(editAmortised(b, { seq: rng.pick(o).seq })) : undefined;
    }
    case 'seq-below-window':
      return f.seq > 1100 ? A(editAmortised(b, { seq: f.seq - 1025 - rng.int(50) })) : undefined;
    case 'seq-over-2^53':
      return A(overwrite(b, seqAt, new Uint8Array([0x00, 0x20, 0, 0, 0, 0, 0, rng.range(0, 255)])));
    case 'timestamp-far-future':
      return A(editAmortised(b, { timestamp: Number.MAX_SAFE_INTEGER }));
    case 'timestamp-zero':
      return A(editAmortised(b, { timestamp: 0 }));
  }
  return undefined;
}
