// Attacks on the batch manifests of the amortised-mode run, derived from the
// honest one the broker is writing to a subscriber now (or one it wrote
// before): copies and replays, redirections, truncations, garbage, bit flips
// (anywhere, in the entries, in the signature), a wrong digest, every header
// field rewritten, manifests signed by a forger or by rogue-1 under the
// real publisher's name, and the honest manifest with its signature
// zero-padded to 666 bytes (a second encoding PQClean's verifier accepts,
// issue 19: BAD_SIGNATURE).

import { falconPadded512 } from '../../../../bindings/index.js';
import { MANIFEST_TYPE, decodeManifest, sealManifest } from '../../../../src/protocol/amortised.js';
import { ENVELOPE_TYPE } from '../../../../src/protocol/envelope.js';
import { extend, flipBit, truncate, type PublishContext } from '../../../support/mitm-proxy.js';
import { CH1, CH2, DAY, controlTopicsOf } from '../../plant.js';
import { editManifest } from '../../wire-edit.js';
import { otherChannel, sameChannel, type Attacker } from '../attacker.js';
import type { Attack } from '../types.js';

/** Falcon-512's padded signature length: an honest (compact) signature zero-padded to it is a second encoding. */
const PADDED_SIGNATURE_BYTES = falconPadded512.lengths.signature;

/** Attacks derived from an honest manifest `m` written to `me` now (or from the pool). */
export function manifestAttack(atk: Attacker, me: string, m: { topic: string; payload: Uint8Array }, forwardedNow: boolean, ctx: PublishContext): Attack {
  const { rng } = atk;
  const b = m.payload;
  const f = decodeManifest(b);
  const senderEnd = 4 + 2 + new TextEncoder().encode(f.sender).length;
  const entriesAt = f.tbs.length - f.entries.length * 40;
  const pool = atk.manifestPool.get(me)!.items;
  const kind = rng.weighted({
    'manifest-duplicate': 3,
    'manifest-duplicate-dup-flag': 1,
    'manifest-replay': 5,
    'manifest-retained': 1,
    'manifest-redirect-same-channel': 4,
    'manifest-redirect-other-channel': 2,
    'manifest-redirect-command': 1,
    'manifest-redirect-control': 1,
    'manifest-truncate': 3,
    'manifest-extend': 2,
    'manifest-garbage': 1,
    'manifest-empty-count': 1,
    'manifest-bitflip': 6,
    'manifest-bitflip-entries': 4,
    'manifest-bitflip-signature': 3,
    'manifest-wrong-digest': 3,
    'manifest-version': 1,
    'manifest-suite': 1,
    'manifest-flags': 1,
    'manifest-type-confusion': 1,
    'manifest-sender-swap': 2,
    'manifest-channel-swap': 2,
    'manifest-future-dated': 1,
    'manifest-expired': 1,
    'manifest-epoch-swap': 2,
    'manifest-forged-signer': 0.7,
    'manifest-rogue-signer': 0.7,
    'manifest-padded-signature': 2,
  });
  const A = (payload: Uint8Array, extra: Partial<NonNullable<Attack>> = {}): Attack => ({ kind, topic: m.topic, payload, ...extra });
  switch (kind) {
    case 'manifest-duplicate':
    case 'manifest-duplicate-dup-flag':
      if (!forwardedNow) return undefined;
      ctx.forward(kind === 'manifest-duplicate' ? undefined : { dup: true, qos: 1 }, atk.meta(kind));
      atk.injected++;
      return undefined;
    case 'manifest-replay': {
      const x = pool.length ? rng.pick(pool) : undefined;
      return x ? { kind, topic: x.topic, payload: x.payload } : undefined;
    }
    case 'manifest-retained':
      return A(b, { retain: true });
    case 'manifest-redirect-same-channel':
      return A(b, { topic: rng.pick(sameChannel(m.topic)) });
    case 'manifest-redirect-other-channel':
      return A(b, { topic: rng.pick(otherChannel(m.topic)) });
    case 'manifest-redirect-command':
      return A(b, { topic: `cmd/${me}` });
    case 'manifest-redirect-control':
      return A(b, { topic: rng.pick(controlTopicsOf(me)) });
    case 'manifest-truncate':
      return A(truncate(b, rng.int(b.length)));
    case 'manifest-extend':
      return A(extend(b, rng.bytes(rng.range(1, 64))));
    case 'manifest-garbage':
      return A(extend(new Uint8Array([MANIFEST_TYPE, 1, 1, 1]), rng.bytes(rng.int(1500))));
    case 'manifest-empty-count':
      return A(editManifest(b, { count: 0, entries: [] }));
    case 'manifest-bitflip':
      return A(flipBit(b, atk.bitOutsideSender(b.length, senderEnd)));
    case 'manifest-bitflip-entries':
      return A(flipBit(b, entriesAt * 8 + rng.int(f.entries.length * 40 * 8)));
    case 'manifest-bitflip-signature':
      return A(flipBit(b, f.tbs.length * 8 + rng.int((b.length - f.tbs.length) * 8)));
    case 'manifest-wrong-digest': {
      const entries = f.entries.map((e) => ({ seq: e.seq, digest: e.digest.slice() }));
      const e = rng.pick(entries);
      e.digest[rng.int(32)]! ^= 1 + rng.int(255);
      return A(editManifest(b, { entries }));
    }
    case 'manifest-version':
      return A(editManifest(b, { version: rng.pick([0, 2, 255]) }));
    case 'manifest-suite':
      return A(editManifest(b, { suite: rng.pick([0, 2, 255]) }));
    case 'manifest-flags':
      return A(editManifest(b, { flags: rng.pick([0, 2, 3]) }));
    case 'manifest-type-confusion':
      return A(editManifest(b, { type: rng.pick([ENVELOPE_TYPE.group, ENVELOPE_TYPE.direct, ENVELOPE_TYPE.grant, 0x4e]) }));
    case 'manifest-sender-swap':
      return A(editManifest(b, { sender: rng.pick(['sub-1', f.sender === 'pub-1' ? 'pub-2' : 'pub-1', 'rogue-1']) }));
    case 'manifest-channel-swap':
      return A(editManifest(b, { channel: rng.pick(['plant/#', f.channel === CH1 ? CH2 : CH1, '#']) }));
    case 'manifest-future-dated':
      return A(editManifest(b, { timestamp: Date.now() + rng.range(120_000, 1_800_000) }));
    case 'manifest-expired':
      return A(editManifest(b, { timestamp: Date.now() - rng.range(420_000, 7 * DAY) }));
    case 'manifest-epoch-swap':
      return A(editManifest(b, { epoch: f.epoch + rng.range(1, 5) }));
    case 'manifest-forged-signer':
    case 'manifest-rogue-signer': {
      const signer = kind === 'manifest-forged-signer' ? atk.fleet.mallory : atk.fleet.identity('rogue-1');
      // The signer's own key; the sender field is the real publisher's (rogue-1 is even certified for CH1).
      const forged = sealManifest({ sender: signer, channel: f.channel, epoch: f.epoch, topic: m.topic, entries: f.entries, now: Date.now() });
      return A(signer.id === f.sender ? forged : editManifest(forged, { sender: f.sender }));
    }
    case 'manifest-padded-signature': {
      if (f.signature.length >= PADDED_SIGNATURE_BYTES) return undefined;
      const signature = new Uint8Array(PADDED_SIGNATURE_BYTES);
      signature.set(f.signature);
      return A(editManifest(b, { signature }));
    }
  }
  return undefined;
}
