// The hostile broker of the amortised-mode run, as hooks on the proxy. On
// the way to the broker it records what the publishers send (genuine by
// definition: provenance, and each honest message's sequence number and
// epoch). On the way to a subscriber it withholds honest traffic (drops,
// delays and late deliveries of manifests; drops, delays and reorderings of
// messages; messages held until after their manifest) and, for each packet,
// injects the attacks it draws (attacks/). What it writes fills its pools.

import { MANIFEST_TYPE, decodeAmortised, decodeManifest } from '../../../src/protocol/amortised.js';
import { decodeGroup } from '../../../src/protocol/group.js';
import { ENVELOPE_TYPE, FLAGS } from '../../../src/protocol/envelope.js';
import { deliveryKey } from '../amortised-model.js';
import { hashOf } from '../oracle.js';
import { PREFIX, deviceOf } from '../plant.js';
import { editGroup, tryGroup } from '../wire-edit.js';
import type { Attacker } from './attacker.js';
import { envelopeAttack } from './attacks/envelope.js';
import { insiderAttack } from './attacks/insider.js';
import { manifestAttack } from './attacks/manifest.js';
import { HOLD_MS } from './fleet.js';

export function installBroker(atk: Attacker): void {
  const { proxy, rng, tally, ledger } = atk;
  const { provenance } = atk.fleet;
  const PENDING_KINDS = new Set(['delay', 'reorder', 'manifest-delay', 'manifest-late', 'manifest-first']);
  proxy.onWrite((conn, direction, out, m, isInjected) => {
    if (direction !== 'toClient') return;
    const me = atk.subOf(conn.id);
    if (!me) return;
    if (!isInjected && PENDING_KINDS.has(String(m.kind))) atk.pendingWrites--;
    if (isInjected || m['attack'] === true || out.topic.startsWith(PREFIX)) return;
    const b = out.payload;
    if (b[0] === ENVELOPE_TYPE.group && b[3] === FLAGS.amortised) {
      const f = decodeAmortised(b);
      atk.envPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.seq, sender: f.sender });
    } else if (b[0] === MANIFEST_TYPE) {
      const f = decodeManifest(b);
      atk.manifestPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.entries[0]!.seq, sender: f.sender });
    } else if (b[0] === ENVELOPE_TYPE.group) {
      const f = tryGroup(b);
      if (f) atk.signedPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.seq, sender: f.sender });
    }
  });

  proxy.onPublish(async (ctx) => {
    const p = ctx.packet;
    if (ctx.direction === 'toBroker') {
      const pub = deviceOf(ctx.conn.clientId);
      const b = p.payload;
      if (p.topic.startsWith(PREFIX) || !pub || !ledger.pendingPublish.has(pub)) return;
      if (b[0] === MANIFEST_TYPE) {
        provenance.addManifest(b, p.topic);
        return;
      }
      const id = ledger.pendingPublish.get(pub)!.shift();
      const h = id === undefined ? undefined : ledger.honest[id];
      if (!h || h.topic !== p.topic) throw new Error(`amortised hostile: ${pub} published on ${p.topic}, expected ${h?.topic}`);
      if (b[3] === FLAGS.amortised) {
        provenance.addSealed(b, p.topic);
        const f = decodeAmortised(b);
        h.seq = f.seq;
        h.epoch = f.epoch;
      } else {
        provenance.addSigned(b, p.topic);
        const f = decodeGroup(b);
        h.seq = f.seq;
        h.epoch = f.epoch;
      }
      ledger.byHash.set(`${hashOf(b)}|${p.topic}`, h);
      ledger.byKey.set(deliveryKey(h.sender, h.topic, h.epoch!, h.seq!), h);
      return;
    }
    const me = atk.subOf(ctx.conn.id);
    if (!me || p.topic.startsWith(PREFIX)) return;
    const b = p.payload;
    const isManifest = b[0] === MANIFEST_TYPE;
    const isEnvelope = b[0] === ENVELOPE_TYPE.group && b[3] === FLAGS.amortised;
    const releasePrevious = atk.reorder.takeHeld(ctx.conn.id);
    const mfKey = `${ctx.conn.id}|${p.topic}`;
    const mf = atk.manifestFirst.get(mfKey);
    let forwardedNow = false;
    const x = atk.attacking ? rng.float() : 1;
    if (isManifest) {
      const entries = decodeManifest(b).entries;
      const lose = (kind: string): void => {
        for (const e of entries) ledger.manifestLostFor.get(me)!.set(`${p.topic}|${e.seq}`, kind);
      };
      if (x < 0.03) {
        ctx.drop({ kind: 'manifest-drop' });
        lose('manifest dropped');
        tally.action('manifest-drop');
      } else if (x < 0.05) {
        atk.pendingWrites++;
        ctx.later(rng.range(50, 300), undefined, { kind: 'manifest-delay' });
        tally.action('manifest-delay');
      } else if (x < 0.06) {
        atk.pendingWrites++;
        ctx.later(HOLD_MS + 800, undefined, { kind: 'manifest-late' });
        lose('manifest delayed beyond holdMs');
        tally.action('manifest-late');
      } else {
        ctx.forward(undefined, mf ? { kind: 'manifest-before-messages' } : {});
        forwardedNow = true;
      }
      if (mf) {
        // The manifest went first (or was dropped/delayed): the messages held behind it follow now.
        atk.manifestFirst.delete(mfKey);
        clearTimeout(mf.timer);
        for (const r of mf.releases) r();
      }
    } else if (isEnvelope && mf) {
      atk.pendingWrites++;
      mf.releases.push(ctx.hold(undefined, { kind: 'manifest-first' }));
    } else if (isEnvelope && x < 0.005) {
      ctx.drop({ kind: 'drop' });
      const h = ledger.byHash.get(`${hashOf(b)}|${p.topic}`);
      if (h) ledger.droppedFor.get(me)!.add(h.id);
      tally.action('drop');
    } else if (isEnvelope && x < 0.02) {
      atk.pendingWrites++;
      ctx.later(rng.range(5, 200), undefined, { kind: 'delay' });
      tally.action('delay');
    } else if (isEnvelope && x < 0.035 && !releasePrevious) {
      atk.pendingWrites++;
      atk.reorder.hold(ctx, { kind: 'reorder' });
      tally.action('reorder');
    } else if (isEnvelope && x < 0.05) {
      // Manifest-first: hold this message and the next ones of its topic until their manifest has gone through.
      atk.pendingWrites++;
      const entry = { releases: [ctx.hold(undefined, { kind: 'manifest-first' })], timer: setTimeout(() => undefined, 0) };
      entry.timer = setTimeout(() => {
        if (atk.manifestFirst.get(mfKey) === entry) atk.manifestFirst.delete(mfKey);
        for (const r of entry.releases) r();
      }, 600);
      atk.manifestFirst.set(mfKey, entry);
      tally.action('manifest-first');
    } else {
      ctx.forward();
      forwardedNow = true;
    }
    releasePrevious?.();
    if (!atk.attacking || atk.injected >= atk.attackTarget) return;
    for (let i = atk.perPacket(); i > 0; i--) {
      const c = rng.weighted({ envelope: 58, manifest: 30, insider: 8, signed: 4 });
      if (c === 'envelope') {
        const base = isEnvelope ? p : rng.chance(0.5) && atk.envPool.get(me)!.items.length ? rng.pick(atk.envPool.get(me)!.items) : undefined;
        if (base) atk.launch(me, envelopeAttack(atk, me, base, isEnvelope && forwardedNow, ctx));
      } else if (c === 'manifest') {
        const base = isManifest ? p : atk.manifestPool.get(me)!.items.length ? rng.pick(atk.manifestPool.get(me)!.items) : undefined;
        if (base) atk.launch(me, manifestAttack(atk, me, base, isManifest && forwardedNow, ctx));
      } else if (c === 'insider') {
        for (const a of await insiderAttack(atk, me, isEnvelope ? p : undefined)) atk.launch(me, a);
      } else {
        const s = atk.signedPool.get(me)!.items;
        const x2 = s.length ? rng.pick(s) : undefined;
        if (x2 && atk.delivered(me, x2)) {
          if (rng.chance(0.6)) atk.launch(me, { kind: 'signed-flags-amortised', topic: x2.topic, payload: editGroup(x2.payload, { flags: FLAGS.amortised }) });
          else atk.launch(me, { kind: 'signed-duplicate', topic: x2.topic, payload: x2.payload });
        }
      }
    }
  });
}
