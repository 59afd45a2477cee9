// Attacks on a subscriber's data path in the signed-mode run, derived from
// the honest group envelope the broker is writing to it now (or one it wrote
// before): copies and replays, redirections to other topics, bit flips,
// truncations and extensions, splices, and every header field rewritten
// (version, suite, flags, type, sender, channel, epoch, sequence number,
// timestamp, signature; the signature zero-padded, attacks/padded.ts). One
// weighted draw picks the kind; the model says what each must come to.

import { ENVELOPE_TYPE } from '../../../../src/protocol/envelope.js';
import { extend, flipBit, overwrite, truncate, type PublishContext } from '../../../support/mitm-proxy.js';
import { CH1, CH2, DAY, T1, T1_RETAINED, T2, controlTopicsOf } from '../../plant.js';
import { editGroup, groupHeaderLength, tryGroup } from '../../wire-edit.js';
import type { Attacker } from '../attacker.js';
import type { Attack, PoolItem } from '../types.js';
import { zeroPadded } from './padded.js';

/** Attacks from unknown senders only early in the main phase: their messages wait for a certificate and are reported 30 s later. */
const AWAIT_WINDOW_MS = 8_000;

/** Attacks on a subscriber's data path, derived from the honest group message `m` written to it now (or the pool). */
export function dataAttack(atk: Attacker, me: string, m: { topic: string; payload: Uint8Array }, forwardedNow: boolean, ctx: PublishContext): Attack {
  const { rng } = atk;
  const pool = atk.groupPool.get(me)!;
  const f = tryGroup(m.payload);
  if (!f) return undefined;
  const line1 = f.channel === CH1;
  const sameChannelTopics = (line1 ? [...T1, T1_RETAINED] : T2).filter((t) => t !== m.topic);
  const otherChannelTopics = line1 ? T2 : T1;
  const kind = rng.weighted({
    duplicate: 4,
    'duplicate-dup-flag': 2,
    'replay-later': 6,
    'replay-old': 3,
    'replay-retained': 2,
    'replay-after-restart': atk.instance.get(me)! > 1 ? 5 : 0,
    'redirect-same-channel': 5,
    'redirect-other-channel': 4,
    'redirect-command': 2,
    'redirect-control': 2,
    'redirect-long-topic': 1,
    bitflip: 8,
    'bitflip-header': 6,
    'byte-randomise': 4,
    truncate: 3,
    extend: 3,
    'extend-huge': 0.02,
    splice: 4,
    'version-downgrade': 2,
    'suite-downgrade': 2,
    'flags-unsigned': 2,
    'flags-amortised': 1,
    'type-confusion': 2,
    'signature-random': 3,
    'signature-empty': 1,
    'signature-oversized': 1,
    'ciphertext-swap': 2,
    'sender-known': 3,
    'sender-unknown': Date.now() - atk.attackStart < AWAIT_WINDOW_MS ? 1 : 0,
    'channel-swap': 2,
    'epoch-newer': 2,
    'epoch-older': 2,
    'epoch-max': 1,
    'seq-future-dated': 2,
    'seq-expired': 2,
    'seq-reuse': 2,
    'seq-fresh-forged': 2,
    'seq-below-window': 1,
    'seq-over-2^53': 1,
    'timestamp-far-future': 1,
    'timestamp-zero': 1,
    garbage: 2,
    'garbage-typed': 2,
    empty: 1,
    'padded-signature': 2,
  });
  const t = m.topic;
  const A = (payload: Uint8Array, extra: Partial<NonNullable<Attack>> = {}): Attack => ({ kind, target: me, topic: t, payload, ...extra });
  switch (kind) {
    case 'duplicate':
    case 'duplicate-dup-flag': {
      if (!forwardedNow) return undefined;
      ctx.forward(kind === 'duplicate' ? undefined : { dup: true, qos: 1 }, atk.meta(kind, 'duplicate'));
      atk.injected++;
      return undefined;
    }
    case 'replay-later':
    case 'replay-old':
    case 'replay-retained':
    case 'replay-after-restart': {
      const items = pool.items;
      if (items.length === 0) return undefined;
      let item: PoolItem | undefined;
      if (kind === 'replay-old') item = items[rng.int(Math.max(1, Math.floor(items.length / 3)))];
      else if (kind === 'replay-after-restart') {
        const before = items.filter((x) => x.instance < atk.instance.get(me)!);
        if (before.length === 0) return undefined;
        item = rng.pick(before);
      } else item = rng.pick(items);
      if (!item) return undefined;
      return { kind, target: me, topic: item.topic, payload: item.payload, retain: kind === 'replay-retained' };
    }
    case 'redirect-same-channel':
      return A(m.payload, { topic: rng.pick(sameChannelTopics) });
    case 'redirect-other-channel':
      return A(m.payload, { topic: rng.pick(otherChannelTopics) });
    case 'redirect-command':
      return A(m.payload, { topic: `cmd/${me}` });
    case 'redirect-control':
      return A(m.payload, { topic: rng.pick(controlTopicsOf(me)) });
    case 'redirect-long-topic':
      return A(m.payload, { topic: `plant/line1/${'x'.repeat(1100)}` });
    case 'bitflip':
      return A(flipBit(m.payload, rng.int(m.payload.length * 8)));
    case 'bitflip-header':
      return A(flipBit(m.payload, rng.int(f.header.length * 8 + 48)));
    case 'byte-randomise': {
      let out = m.payload;
      for (let i = rng.range(1, 8); i > 0; i--) out = overwrite(out, rng.int(out.length), rng.bytes(1));
      return A(out);
    }
    case 'truncate':
      return A(truncate(m.payload, rng.int(m.payload.length)));
    case 'extend':
      return A(extend(m.payload, rng.bytes(rng.range(1, 64))));
    case 'extend-huge':
      return A(extend(m.payload, new Uint8Array((1 << 20) + 4096)));
    case 'splice': {
      const o = pool.items.length ? rng.pick(pool.items) : undefined;
      if (!o) return undefined;
      return A(extend(m.payload.subarray(0, groupHeaderLength(m.payload)), o.payload.subarray(groupHeaderLength(o.payload))));
    }
    case 'version-downgrade':
      return A(editGroup(m.payload, { version: rng.pick([0, 2, 255]) }));
    case 'suite-downgrade':
      return A(editGroup(m.payload, { suite: rng.pick([0, 2, 3, 255]) }));
    case 'flags-unsigned':
      return A(editGroup(m.payload, { flags: 0 }));
    case 'flags-amortised':
      return A(editGroup(m.payload, { flags: rng.pick([2, 3, 0x83]) }));
    case 'type-confusion':
      return A(editGroup(m.payload, { type: rng.pick([ENVELOPE_TYPE.direct, ENVELOPE_TYPE.grant, ENVELOPE_TYPE.keyRequest, 0x4e, 0x43]) }));
    case 'signature-random':
      return A(editGroup(m.payload, { signature: rng.bytes(f.signature.length) }));
    case 'signature-empty':
      return A(editGroup(m.payload, { signature: new Uint8Array(0) }));
    case 'signature-oversized':
      return A(editGroup(m.payload, { signature: rng.bytes(rng.range(753, 2000)) }));
    case 'ciphertext-swap': {
      const o = pool.items.length ? tryGroup(rng.pick(pool.items).payload) : undefined;
      if (!o) return undefined;
      return A(editGroup(m.payload, { ciphertext: o.ciphertext }));
    }
    case 'sender-known':
      return A(editGroup(m.payload, { sender: rng.pick(['sub-1', 'sub-2', line1 ? 'pub-2' : 'pub-1', 'rogue-1', 'temp-1']) }));
    case 'sender-unknown':
      return A(editGroup(m.payload, { sender: `mallory-${rng.int(4)}` }));
    case 'channel-swap':
      return A(editGroup(m.payload, { channel: rng.pick(['plant/#', 'plant/+/temp', line1 ? 'plant/line1/+' : 'plant/line2/+', line1 ? CH2 : CH1, '#', 'cmd/sub-1']) }));
    case 'epoch-newer':
      return A(editGroup(m.payload, { epoch: f.epoch + rng.range(1, 1000) }));
    case 'epoch-older':
      return A(editGroup(m.payload, { epoch: rng.int(Math.max(1, f.epoch)) }));
    case 'epoch-max':
      return A(editGroup(m.payload, { epoch: 0xffffffff }));
    case 'seq-future-dated':
      return A(editGroup(m.payload, { seq: atk.fresh(f.seq), timestamp: Date.now() + rng.range(120_000, 1_800_000) }));
    case 'seq-expired':
      return A(editGroup(m.payload, { seq: atk.fresh(f.seq), timestamp: Date.now() - rng.range(420_000, 7 * DAY) }));
    case 'seq-reuse': {
      const o = pool.items.length ? tryGroup(rng.pick(pool.items).payload) : undefined;
      if (!o || o.channel !== f.channel || o.epoch !== f.epoch) return undefined;
      return A(editGroup(m.payload, { seq: o.seq }));
    }
    case 'seq-fresh-forged':
      return A(editGroup(m.payload, { seq: atk.fresh(f.seq) }));
    case 'seq-below-window':
      return f.seq > 1100 ? A(editGroup(m.payload, { seq: f.seq - 1025 - rng.int(50) })) : undefined;
    case 'seq-over-2^53': {
      const at = f.header.length - 16;
      return A(overwrite(m.payload, at, new Uint8Array([0x00, 0x20, 0, 0, 0, 0, 0, rng.range(0, 255)])));
    }
    case 'timestamp-far-future':
      return A(editGroup(m.payload, { timestamp: Number.MAX_SAFE_INTEGER }));
    case 'timestamp-zero':
      return A(editGroup(m.payload, { timestamp: 0 }));
    case 'garbage':
      return A(rng.bytes(rng.int(2000)));
    case 'garbage-typed':
      return A(extend(new Uint8Array([0x4d, 1, 1, 1]), rng.bytes(rng.int(1500))));
    case 'empty':
      return A(new Uint8Array(0));
    case 'padded-signature': {
      const signature = zeroPadded(f.signature);
      return signature && A(editGroup(m.payload, { signature }));
    }
  }
  return undefined;
}
