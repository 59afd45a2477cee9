// The hostile-broker run: honest publishers and subscribers (SecureMqttClient)
// talk through a real Mosquitto behind the MQTT-aware man in the middle
// (test/support/mitm-proxy.ts), which plays the untrusted broker: it drops,
// delays, reorders and duplicates honest traffic and injects attacks of many
// kinds (replays, redirects, splices, bit flips, truncations, rewritten
// fields, downgrades, forged and re-signed messages, forged control traffic),
// on the data topics and on every control topic, in both directions.
//
// Every PUBLISH a client processes is checked against the model
// (test/hostile/model.ts), which gives, from the documented check order, what
// the packet must come to: a delivery, a silent duplicate, a security event
// with a given reason code, or nothing (an idempotent control message). Then:
// - no attack is delivered or silently absorbed (accepted = 0);
// - every attack comes to exactly the expected outcome (mismatches = 0);
// - every honest message reaches each of its subscribers exactly once,
//   unaltered, unless the broker deliberately dropped it for that subscriber;
// - every client is still connected and serving at the end, without errors.
//
// Phases: setup and warm-up; the main phase (honest stream + attacks, with a
// subscriber restart in the middle whose persisted replay state must reject
// replays of what it accepted before); a key rotation after which replays of
// the old epoch are STALE_EPOCH; drain (messages that waited for an unknown
// sender are reported after 30 s); a final honest round.
//
// Used by test/hostile/hostile.test.ts (CI size) and scripts/hostile.ts (--long, --json).
// HOSTILE_DEBUG_TOPIC=<topic> logs every packet processed on that topic (expected and observed outcome).

import mqtt, { type MqttClient } from 'mqtt';
import { createAnnouncement } from '../../src/certs/announce.js';
import { CertificateAuthority, issueCertificate, type Certificate } from '../../src/certs/certificate.js';
import { issueRevocationList, type RevocationEntry } from '../../src/certs/revocation.js';
import type { SecureClientOptions } from '../../src/client/options.js';
import { SecureMqttClient } from '../../src/client/secure-client.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { sealDirect } from '../../src/protocol/direct.js';
import { sealGrant, sealKeyRequest, type GrantPayload } from '../../src/protocol/grant.js';
import { deriveGroupKeys, sealGroup } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE } from '../../src/protocol/envelope.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { extend, flipBit, overwrite, truncate, type MitmConnection, type PublishContext, type WriteMeta } from '../support/mitm-proxy.js';
import { ReorderHold, Ring, Tally, byFrequency, endClients, findingLines, honestDeliveryCounts, honestPayload, isAttackRecord, kindTable, listed, phaseTimer, runSettings, sleep, startTestbed, unprocessedAttacksOn, untilFor, type KindCounts, type RunOptions, type RunResult } from './harness.js';
import { ClientModel, Genuine, formatDelta, matches } from './model.js';
import { Observer, type Observation } from './observer.js';
import { hashOf } from './oracle.js';
import { editDirect, editGroup, editKeyRequest, groupHeaderLength, tryDirect, tryGroup, tryKeyRequest } from './wire-edit.js';

export interface HostileOptions extends RunOptions {
  /** Attack packets to inject at least (default 10,000). */
  readonly attacks?: number;
  /** Honest data messages at least (default 1,000). */
  readonly honest?: number;
  /** Restart a subscriber mid-run and replay what it accepted before (default true). */
  readonly restart?: boolean;
  /** Rotate a channel at the end and replay its old epoch (default true). */
  readonly rotation?: boolean;
}

export interface KindRow extends KindCounts {
  /** Attack packets of this kind the clients processed (or, for MQTT noise, the proxy wrote). */
  attacks: number;
  /** Reported with a reason code. */
  rejected: number;
  /** Dropped silently as an exact duplicate, counted in stats().duplicates. */
  duplicates: number;
  /** No effect by design (an identical announcement or revocation list, a control topic of another client). */
  ignored: number;
  /** From an unknown sender: waited for its certificate, then reported UNKNOWN_SENDER by the client's timer. */
  awaited: number;
  /** Delivered to the application, or expected to be rejected and absorbed silently. */
  accepted: number;
}

export interface HostileResult extends RunResult<KindRow> {
  readonly honestLost: number;
  readonly honestAltered: number;
  readonly droppedByBroker: number;
  /** Messages from unknown senders reported by the clients' timers: expected, plus up to `uncertain` more. */
  readonly timerRejections: { readonly expected: number; readonly uncertain: number; readonly observed: number };
  readonly closeCalls: number;
  readonly maxLagMs: number;
  readonly clientStats: Record<string, unknown>;
}

const PREFIX = 'pqc-iiot/v1';
const DAY = 86_400_000;
const CH1 = 'plant/line1/#';
const CH2 = 'plant/line2/#';
const T1 = ['plant/line1/temp', 'plant/line1/pressure', 'plant/line1/flow'];
const T1_RETAINED = 'plant/line1/state';
const T2 = ['plant/line2/level', 'plant/line2/valve'];
const SUB1_GRACE_MS = 1_000;
const AWAIT_WINDOW_MS = 8_000; // attacks from unknown senders only early: they are reported 30 s later
const MQTT_CLIENT = (id: string): string => `${id}-mqtt`;
/**
 * Attacks that are no-ops by design: an identical announcement or revocation
 * list again, a grant on another client's topic, an unknown reserved topic,
 * stray MQTT acknowledgements. Any other attack that changes nothing and is
 * not reported counts as accepted.
 */
const IGNORABLE = new Set(['ann-replay', 'crl-replay', 'grant-other-topic', 'reserved-unknown', 'mqtt-noise']);

const until = untilFor('hostile');

interface Party {
  readonly id: string;
  readonly identity: Identity;
  readonly cert: Certificate;
  readonly storage: MemoryStorage;
}

interface Honest {
  readonly id: number;
  readonly sender: string;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Subscribers that must receive it. */
  readonly to: readonly string[];
}

interface PoolItem {
  readonly topic: string;
  readonly payload: Uint8Array;
  /** For group envelopes: epoch, seq. */
  readonly epoch: number;
  readonly seq: number;
  /** The subscriber client instance it was written to (restarts count up). */
  readonly instance: number;
}

/** A message built lazily (when its time has come): the expensive, re-signed attacks. */
interface Prepared {
  readonly kind: string;
  readonly target: string;
  readonly ready: () => boolean;
  readonly build: () => Promise<{ topic: string; payload: Uint8Array }>;
}

function emptyRow(): KindRow {
  return { attacks: 0, rejected: 0, duplicates: 0, ignored: 0, awaited: 0, accepted: 0, mismatches: 0, expected: {} };
}

export async function runHostile(options: HostileOptions = {}): Promise<HostileResult> {
  const started = Date.now();
  const { seed, attackTarget, honestTarget, log, rng } = runSettings(options, { seed: 20261125, attacks: 10_000, honest: 1_000 });
  const { phasesMs: phases, phase } = phaseTimer(log);
  const testbed = await startTestbed();
  const { broker, proxy } = testbed;
  const clients = new Map<string, SecureMqttClient>();
  const observers: Observer[] = [];
  let caClient: MqttClient | undefined;
  try {
    // ------------------------------------------------------------ fleet
    const ca = CertificateAuthority.generate('operator-ca');
    const now0 = Date.now();
    const certFor = (identity: Identity, rights: { publish?: string[]; subscribe?: string[] }, extra: { serial?: number; notBefore?: number; notAfter?: number } = {}): Certificate =>
      issueCertificate(ca, {
        subject: identity.id,
        serial: extra.serial ?? 1,
        notBefore: extra.notBefore ?? now0 - DAY,
        notAfter: extra.notAfter ?? now0 + 365 * DAY,
        keyEpoch: 1,
        publicKeys: identity.publicKeys,
        publish: rights.publish ?? [],
        subscribe: rights.subscribe ?? [],
      });
    const party = async (id: string, rights: { publish?: string[]; subscribe?: string[] }, extra: { serial?: number; notBefore?: number; notAfter?: number } = {}): Promise<Party> => {
      const identity = await generateIdentity(id);
      return { id, identity, cert: certFor(identity, rights, extra), storage: new MemoryStorage() };
    };
    const pub1 = await party('pub-1', { publish: [CH1, 'cmd/sub-1', 'cmd/sub-2'] }, { serial: 2 });
    const pub1OldCert = certFor(pub1.identity, { publish: [CH1] }, { serial: 1 });
    const pub2 = await party('pub-2', { publish: [CH2] });
    const sub1 = await party('sub-1', { subscribe: ['plant/#', 'cmd/sub-1'] });
    const sub2 = await party('sub-2', { subscribe: ['plant/#', 'cmd/sub-2'] });
    const rogue = await party('rogue-1', { publish: [CH1] });
    const tempLifeMs = 25_000;
    const temp = await party('temp-1', { publish: [CH1] }, { notBefore: now0 - 60_000, notAfter: Date.now() + tempLifeMs });
    const mallory = await generateIdentity('pub-1'); // an impostor's own keys under pub-1's name
    const malloryS = await generateIdentity('sub-1');
    const fakeCa = CertificateAuthority.generate('operator-ca');
    const fakeCert = issueCertificate(fakeCa, {
      subject: 'pub-1',
      serial: 9,
      notBefore: now0 - DAY,
      notAfter: now0 + DAY,
      keyEpoch: 1,
      publicKeys: mallory.publicKeys,
      publish: ['#'],
      subscribe: ['#'],
    });

    const genuine = new Genuine();
    const certs = new Map<string, Certificate>();
    for (const p of [pub1, pub2, sub1, sub2, rogue, temp]) {
      genuine.addSigned(p.cert.bytes);
      certs.set(p.id, p.cert);
    }
    genuine.addSigned(pub1OldCert.bytes);
    const anchor = ca.trustAnchor;

    const models = new Map<string, ClientModel>();
    const modelFor = (p: Party, graceMs?: number): ClientModel => {
      const m = new ClientModel({
        identity: p.identity,
        certificate: p.cert,
        anchor,
        genuine,
        certificateOf: (s) => certs.get(s),
        ...(graceMs !== undefined ? { graceMs } : {}),
      });
      models.set(p.id, m);
      return m;
    };
    modelFor(pub1);
    modelFor(pub2);
    modelFor(sub1, SUB1_GRACE_MS);
    modelFor(sub2);

    // ------------------------------------------------------- accounting
    const tally = new Tally(emptyRow);
    const row = (kind: string): KindRow => tally.row(kind);
    const sample = (line: string): void => tally.sample(line);
    let mismatches = 0;
    let maxLag = 0;
    const processedByConn = new Map<number, number>();

    const debugTopic = process.env['HOSTILE_DEBUG_TOPIC'];
    const account = (o: Observation): void => {
      if (debugTopic && o.topic === debugTopic) log(`debug ${o.label} #${o.n} ${o.record?.meta.kind ?? 'honest'} ${o.prediction.outcome} -> ${formatDelta(o.observed)}`);
      processedByConn.set(o.conn ?? -1, (processedByConn.get(o.conn ?? -1) ?? 0) + 1);
      if (o.lagMs !== undefined && o.lagMs > maxLag) maxLag = o.lagMs;
      const meta = o.record?.meta ?? {};
      const attack = o.record !== undefined && isAttackRecord(o.record);
      const p = o.prediction;
      const ok = matches(p, o.observed);
      const describe = (): string =>
        `${o.label} conn ${o.conn} #${o.n} ${attack ? `attack ${meta.kind ?? '?'}` : `honest${meta.kind ? ` (${meta.kind})` : ''}`} on ${o.topic} ` +
        `(${o.bytes} B${o.retained ? ', retained' : ''}): expected ${p.outcome} [${formatDelta(p.delta)}], observed [${formatDelta(o.observed)}]`;
      if (!ok) {
        mismatches++;
        sample(describe());
      }
      if (!attack) {
        if (!ok) row('honest traffic').mismatches++;
        return;
      }
      const r = tally.attack(String(meta.kind ?? 'unlabelled'), p.outcome, ok);
      const rejectedCodes = Object.entries(o.observed.rejected).filter(([, n]) => (n ?? 0) > 0);
      if (o.observed.delivered > 0) tally.accept(r, 'ACCEPTED', describe());
      else if (rejectedCodes.length > 0) {
        r.rejected++;
        for (const [code] of rejectedCodes) tally.code(code);
      } else if (o.observed.duplicates > 0) {
        r.duplicates++;
        tally.code('DUPLICATE (silent)');
      } else if (p.outcome === 'none' && IGNORABLE.has(String(meta.kind))) r.ignored++;
      else if (p.outcome === 'await') r.awaited++;
      else {
        // Expected a rejection (or a delivery) and saw nothing at all: absorbed silently.
        tally.accept(r, 'ABSORBED', describe());
      }
    };

    // ---------------------------------------------------------- honest
    const honest: Honest[] = [];
    const honestByHash = new Map<string, Honest>();
    const pendingPublish = new Map<string, { id: number; topic: string }[]>();
    const droppedFor = new Map<string, Set<number>>([
      ['sub-1', new Set()],
      ['sub-2', new Set()],
    ]);

    // ---------------------------------------------------------- attacker
    const instance = new Map<string, number>([
      ['sub-1', 1],
      ['sub-2', 1],
    ]);
    const groupPool = new Map<string, Ring<PoolItem>>([
      ['sub-1', new Ring(4000)],
      ['sub-2', new Ring(4000)],
    ]);
    const directPool = new Map<string, Ring<PoolItem>>([
      ['sub-1', new Ring(300)],
      ['sub-2', new Ring(300)],
    ]);
    const grantPool = new Map<string, Ring<PoolItem>>([
      ['sub-1', new Ring(300)],
      ['sub-2', new Ring(300)],
    ]);
    const requestPool = new Map<string, Ring<PoolItem>>([
      ['pub-1', new Ring(300)],
      ['pub-2', new Ring(300)],
    ]);
    const announcements = new Map<string, Uint8Array>();
    const lists: { bytes: Uint8Array; number: number }[] = [];
    const c2bLabels = new Map<string, { kind: string; copies: number }>();
    const c2bSeen = new Map<string, number>();
    const reorder = new ReorderHold();
    let pendingHonest = 0;
    let attacking = false;
    let attackStart = 0;
    let injected = 0;
    let noise = 0;
    let revoked = false;
    let list2 = false;
    const prepared: Prepared[] = [];
    const perEventTarget = (): number => Math.max(1, Math.ceil((attackTarget * 1.04) / Math.max(1, honestTarget * 1.9)));

    const connOf = (id: string): MitmConnection | undefined => proxy.connectionOf(MQTT_CLIENT(id));
    const identityOf = (conn: MitmConnection): string | undefined => conn.clientId?.replace(/-mqtt$/, '');
    const meta = (kind: string, expect?: string): WriteMeta => ({ kind, attack: true, ...(expect ? { expect } : {}) });
    const inject = (target: string, kind: string, topic: string, payload: Uint8Array, extra: { retain?: boolean; qos?: 0 | 1; dup?: boolean; expect?: string } = {}): boolean => {
      const conn = connOf(target);
      if (!conn || conn.closed) return false;
      conn.inject(
        'toClient',
        { topic, payload, qos: extra.qos ?? (rng.chance(0.5) ? 1 : 0), retain: extra.retain ?? false, dup: extra.dup ?? false },
        meta(kind, extra.expect),
      );
      injected++;
      return true;
    };
    const other = (id: string): string => (id === 'sub-1' ? 'sub-2' : 'sub-1');
    const otherPub = (id: string): string => (id === 'pub-1' ? 'pub-2' : 'pub-1');
    const fresh = (seq: number): number => seq + 1_000_000_000 + rng.int(1_000_000);

    type Attack = { kind: string; target: string; topic: string; payload: Uint8Array; retain?: boolean; qos?: 0 | 1; dup?: boolean; expect?: string } | undefined;

    /** Attacks on a subscriber's data path, derived from the honest group message `m` written to it now (or the pool). */
    const dataAttack = (me: string, m: { topic: string; payload: Uint8Array }, forwardedNow: boolean, ctx: PublishContext): Attack => {
      const pool = groupPool.get(me)!;
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
        'replay-after-restart': instance.get(me)! > 1 ? 5 : 0,
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
        'sender-unknown': Date.now() - attackStart < AWAIT_WINDOW_MS ? 1 : 0,
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
      });
      const t = m.topic;
      const A = (payload: Uint8Array, extra: Partial<NonNullable<Attack>> = {}): Attack => ({ kind, target: me, topic: t, payload, ...extra });
      switch (kind) {
        case 'duplicate':
        case 'duplicate-dup-flag': {
          if (!forwardedNow) return undefined;
          ctx.forward(kind === 'duplicate' ? undefined : { dup: true, qos: 1 }, meta(kind, 'duplicate'));
          injected++;
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
            const before = items.filter((x) => x.instance < instance.get(me)!);
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
          return A(m.payload, { topic: rng.pick([`${PREFIX}/grants/${me}`, `${PREFIX}/key-requests/${me}`, `${PREFIX}/certs/pub-1`, `${PREFIX}/crl`]) });
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
          return A(editGroup(m.payload, { seq: fresh(f.seq), timestamp: Date.now() + rng.range(120_000, 1_800_000) }));
        case 'seq-expired':
          return A(editGroup(m.payload, { seq: fresh(f.seq), timestamp: Date.now() - rng.range(420_000, 7 * DAY) }));
        case 'seq-reuse': {
          const o = pool.items.length ? tryGroup(rng.pick(pool.items).payload) : undefined;
          if (!o || o.channel !== f.channel || o.epoch !== f.epoch) return undefined;
          return A(editGroup(m.payload, { seq: o.seq }));
        }
        case 'seq-fresh-forged':
          return A(editGroup(m.payload, { seq: fresh(f.seq) }));
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
      }
      return undefined;
    };

    const directAttack = (me: string): Attack => {
      const pool = directPool.get(me)!;
      const d = pool.last();
      if (!d) return undefined;
      const f = tryDirect(d.payload, ENVELOPE_TYPE.direct);
      if (!f) return undefined;
      const kind = rng.weighted({
        'direct-replay': 4,
        'direct-redirect': 3,
        'direct-wrong-recipient': 3,
        'direct-key-epoch': 2,
        'direct-bitflip': 4,
        'direct-truncate': 1,
        'direct-extend': 1,
        'direct-as-grant': 1,
        'direct-seq-fresh': 2,
        'direct-future-dated': 1,
        'direct-sender-swap': 1,
        'direct-topic-rewrite': 1,
      });
      const A = (payload: Uint8Array, topic = d.topic): Attack => ({ kind, target: me, topic, payload });
      switch (kind) {
        case 'direct-replay':
          return A(rng.pick(pool.items).payload);
        case 'direct-redirect':
          return A(d.payload, rng.pick([...T1, `cmd/${other(me)}`]));
        case 'direct-wrong-recipient': {
          const o = directPool.get(other(me))!.last();
          return o ? A(o.payload, rng.chance(0.5) ? o.topic : `cmd/${me}`) : undefined;
        }
        case 'direct-key-epoch':
          return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { recipientKeyEpoch: rng.pick([0, 2, 0xffffffff]) }));
        case 'direct-bitflip':
          return A(flipBit(d.payload, rng.int(d.payload.length * 8)));
        case 'direct-truncate':
          return A(truncate(d.payload, rng.int(d.payload.length)));
        case 'direct-extend':
          return A(extend(d.payload, rng.bytes(rng.range(1, 32))));
        case 'direct-as-grant':
          return A(d.payload, `${PREFIX}/grants/${me}`);
        case 'direct-seq-fresh':
          return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { seq: fresh(f.seq) }));
        case 'direct-future-dated':
          return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { seq: fresh(f.seq), timestamp: Date.now() + 600_000 }));
        case 'direct-sender-swap':
          return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { sender: 'pub-2' }));
        case 'direct-topic-rewrite':
          return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { topic: `cmd/${other(me)}` }), `cmd/${other(me)}`);
      }
      return undefined;
    };

    const grantAttack = (me: string): Attack => {
      const pool = grantPool.get(me)!;
      const g = pool.length ? rng.pick(pool.items) : undefined;
      if (!g) return undefined;
      const f = tryDirect(g.payload, ENVELOPE_TYPE.grant);
      if (!f) return undefined;
      const kind = rng.weighted({
        'grant-replay': 4,
        'grant-wrong-recipient': 3,
        'grant-other-topic': 1,
        'grant-redirect-data': 1,
        'grant-bitflip': 4,
        'grant-truncate': 1,
        'grant-seq-fresh': 2,
        'grant-sender-swap': 1,
      });
      const A = (payload: Uint8Array, topic = g.topic): Attack => ({ kind, target: me, topic, payload });
      switch (kind) {
        case 'grant-replay':
          return A(g.payload);
        case 'grant-wrong-recipient': {
          const o = grantPool.get(other(me))!;
          return o.length ? A(rng.pick(o.items).payload, `${PREFIX}/grants/${me}`) : undefined;
        }
        case 'grant-other-topic':
          return A(g.payload, `${PREFIX}/grants/${other(me)}`);
        case 'grant-redirect-data':
          return A(g.payload, rng.pick(T1));
        case 'grant-bitflip':
          return A(flipBit(g.payload, rng.int(g.payload.length * 8)));
        case 'grant-truncate':
          return A(truncate(g.payload, rng.int(g.payload.length)));
        case 'grant-seq-fresh':
          return A(editDirect(g.payload, ENVELOPE_TYPE.grant, { seq: fresh(f.seq) }));
        case 'grant-sender-swap':
          return A(editDirect(g.payload, ENVELOPE_TYPE.grant, { sender: f.sender === 'pub-1' ? 'pub-2' : 'pub-1' }));
      }
      return undefined;
    };

    const requestAttack = (): Attack => {
      const target = rng.chance(0.7) ? 'pub-1' : 'pub-2';
      const pool = requestPool.get(target)!;
      const r = pool.length ? rng.pick(pool.items) : undefined;
      if (!r) return undefined;
      const kind = rng.weighted({
        'kr-replay': 4,
        'kr-wrong-publisher': 2,
        'kr-bitflip': 4,
        'kr-future': 1,
        'kr-old': 1,
        'kr-filter': 1,
        'kr-subscriber-unknown': 1,
        'kr-subscriber-revoked': 1,
        'kr-nonce': 2,
        'kr-tampered-duplicate': 2,
        'kr-truncate': 1,
        'kr-garbage': 1,
      });
      const A = (payload: Uint8Array, topic = r.topic): Attack => ({ kind, target, topic, payload });
      const f = tryKeyRequest(r.payload);
      if (!f) return undefined;
      switch (kind) {
        case 'kr-replay':
          return A(r.payload);
        case 'kr-wrong-publisher': {
          const o = requestPool.get(otherPub(target))!;
          return o.length ? A(rng.pick(o.items).payload) : undefined;
        }
        case 'kr-bitflip':
          return A(flipBit(r.payload, rng.int(r.payload.length * 8)));
        case 'kr-future':
          return A(editKeyRequest(r.payload, { timestamp: Date.now() + 600_000 }));
        case 'kr-old':
          return A(editKeyRequest(r.payload, { timestamp: Date.now() - 900_000 }));
        case 'kr-filter':
          return A(editKeyRequest(r.payload, { filter: rng.pick(['admin/#', '#', 'cmd/+']) }));
        case 'kr-subscriber-unknown':
          return A(editKeyRequest(r.payload, { subscriber: 'mallory-kr' }));
        case 'kr-subscriber-revoked':
          return A(editKeyRequest(r.payload, { subscriber: 'rogue-1' }));
        case 'kr-nonce':
          return A(editKeyRequest(r.payload, { nonce: rng.bytes(16) }));
        case 'kr-tampered-duplicate': {
          const sig = f.signature.slice();
          sig[rng.int(sig.length)]! ^= 1 << rng.int(8);
          return A(editKeyRequest(r.payload, { signature: sig }));
        }
        case 'kr-truncate':
          return A(truncate(r.payload, rng.int(r.payload.length)));
        case 'kr-garbage':
          return A(extend(new Uint8Array([0x51, 1, 1, 1]), rng.bytes(rng.int(800))));
      }
      return undefined;
    };

    const controlAttack = (): Attack => {
      const target = rng.pick(['sub-1', 'sub-2', 'pub-1', 'pub-2']);
      const subjects = [...announcements.keys()];
      const kind = rng.weighted({
        'ann-replay': 0.3,
        'ann-wrong-topic': 2,
        'ann-bitflip': 3,
        'ann-truncate': 1,
        'ann-garbage': 1,
        'ann-expired': Date.now() > temp.cert.notAfter + 1000 ? 1 : 0,
        'ann-revoked': revoked ? 1 : 0,
        'crl-replay': 0.3,
        'crl-rollback': list2 ? 1.5 : 0,
        'crl-bitflip': 2,
        'crl-truncate': 1,
        'crl-garbage': 1,
        'reserved-unknown': 1,
        'control-garbage': 2,
        'mqtt-noise': 1,
      });
      const ann = subjects.length ? rng.pick(subjects) : undefined;
      const annBytes = ann ? announcements.get(ann)! : undefined;
      const list = lists.length ? lists[lists.length - 1]! : undefined;
      const A = (topic: string, payload: Uint8Array): Attack => ({ kind, target, topic, payload });
      switch (kind) {
        case 'ann-replay':
          return annBytes ? A(`${PREFIX}/certs/${ann}`, annBytes) : undefined;
        case 'ann-wrong-topic': {
          const to = rng.pick(['pub-1', 'pub-2', 'sub-1', 'sub-2', 'nobody'].filter((s) => s !== ann));
          return annBytes ? A(`${PREFIX}/certs/${to}`, annBytes) : undefined;
        }
        case 'ann-bitflip':
          return annBytes ? A(`${PREFIX}/certs/${ann}`, flipBit(annBytes, rng.int(annBytes.length * 8))) : undefined;
        case 'ann-truncate':
          return annBytes ? A(`${PREFIX}/certs/${ann}`, truncate(annBytes, rng.range(1, annBytes.length - 1))) : undefined;
        case 'ann-garbage':
          return A(`${PREFIX}/certs/${rng.pick(['pub-1', 'sub-1', 'x'])}`, extend(new Uint8Array([0x4e, 1]), rng.bytes(rng.int(3000))));
        case 'ann-expired':
          return announcements.has('temp-1') ? A(`${PREFIX}/certs/temp-1`, announcements.get('temp-1')!) : undefined;
        case 'ann-revoked':
          return announcements.has('rogue-1') ? A(`${PREFIX}/certs/rogue-1`, announcements.get('rogue-1')!) : undefined;
        case 'crl-replay':
          return list ? A(`${PREFIX}/crl`, list.bytes) : undefined;
        case 'crl-rollback':
          return A(`${PREFIX}/crl`, lists[0]!.bytes);
        case 'crl-bitflip':
          return list ? A(`${PREFIX}/crl`, flipBit(list.bytes, rng.int(list.bytes.length * 8))) : undefined;
        case 'crl-truncate':
          return list ? A(`${PREFIX}/crl`, truncate(list.bytes, rng.range(1, list.bytes.length - 1))) : undefined;
        case 'crl-garbage':
          return A(`${PREFIX}/crl`, extend(new Uint8Array([0x52, 1, 1]), rng.bytes(rng.int(600))));
        case 'reserved-unknown':
          return A(rng.pick([PREFIX, `${PREFIX}/x`, `${PREFIX}/certs`, `${PREFIX}/grants/${target}/extra`, `${PREFIX}/unknown/${target}`]), rng.bytes(rng.int(200)));
        case 'control-garbage':
          return A(
            rng.pick([`${PREFIX}/certs/${target}`, `${PREFIX}/crl`, `${PREFIX}/grants/${target}`, `${PREFIX}/key-requests/${target}`]),
            rng.bytes(rng.range(1, 2500)),
          );
        case 'mqtt-noise': {
          const conn = connOf(target);
          if (!conn) return undefined;
          const id = rng.range(60_000, 65_535);
          const packet = rng.pick([
            { cmd: 'puback' as const, messageId: id },
            { cmd: 'pubrec' as const, messageId: id },
            { cmd: 'pubcomp' as const, messageId: id },
            { cmd: 'pubrel' as const, messageId: id },
            { cmd: 'pingresp' as const },
          ]);
          conn.injectPacket('toClient', packet, { kind: 'mqtt-noise' });
          noise++;
          injected++;
          const r = row('mqtt-noise');
          r.attacks++;
          r.ignored++;
          r.expected['none'] = (r.expected['none'] ?? 0) + 1;
          return undefined;
        }
      }
      return undefined;
    };

    const launch = (a: Attack): void => {
      if (!a) return;
      inject(a.target, a.kind, a.topic, a.payload, {
        ...(a.retain !== undefined ? { retain: a.retain } : {}),
        ...(a.qos !== undefined ? { qos: a.qos } : {}),
        ...(a.dup !== undefined ? { dup: a.dup } : {}),
        ...(a.expect !== undefined ? { expect: a.expect } : {}),
      });
    };

    let preparedBusy = false;
    const launchPrepared = (): void => {
      if (preparedBusy) return;
      const i = prepared.findIndex((p) => p.ready());
      if (i < 0) return;
      const p = prepared.splice(i, 1)[0]!;
      preparedBusy = true;
      p.build()
        .then(({ topic, payload }) => {
          inject(p.target, p.kind, topic, payload, { qos: 1 });
        })
        .catch((err: unknown) => sample(`prepared ${p.kind} failed: ${(err as Error).message}`))
        .finally(() => {
          preparedBusy = false;
        });
    };

    // ------------------------------------------------------------ hooks
    proxy.onWrite((conn, direction, out, m, isInjected) => {
      if (direction !== 'toClient') return;
      const me = identityOf(conn);
      if (!me) return;
      if (!isInjected && (m.kind === 'delay' || m.kind === 'reorder')) pendingHonest--;
      if (isInjected || m['attack'] === true) return;
      // Pools of what was really written to each client (exact copies are only replayed after their original).
      const b = out.payload;
      if (groupPool.has(me) && !out.topic.startsWith(PREFIX) && b[0] === ENVELOPE_TYPE.group) {
        const f = tryGroup(b);
        if (f) groupPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.seq, instance: instance.get(me)! });
      } else if (directPool.has(me) && b[0] === ENVELOPE_TYPE.direct && out.topic === `cmd/${me}`) {
        directPool.get(me)!.push({ topic: out.topic, payload: b, epoch: 0, seq: 0, instance: instance.get(me)! });
      } else if (grantPool.has(me) && out.topic === `${PREFIX}/grants/${me}` && b[0] === ENVELOPE_TYPE.grant) {
        grantPool.get(me)!.push({ topic: out.topic, payload: b, epoch: 0, seq: 0, instance: instance.get(me)! });
      } else if (requestPool.has(me) && out.topic === `${PREFIX}/key-requests/${me}` && b[0] === ENVELOPE_TYPE.keyRequest) {
        requestPool.get(me)!.push({ topic: out.topic, payload: b, epoch: 0, seq: 0, instance: 0 });
      }
    });

    proxy.onPublish((ctx) => {
      const me = identityOf(ctx.conn);
      const p = ctx.packet;
      if (ctx.direction === 'toBroker') {
        // What honest clients send: genuine by definition. Their data publishes are matched with the publish loop.
        const b = p.payload;
        if (b[0] === ENVELOPE_TYPE.group) genuine.addGroup(b, p.topic);
        else if (b.length > 0) genuine.addSigned(b);
        if (b[0] === 0x4e && p.topic.startsWith(`${PREFIX}/certs/`)) announcements.set(p.topic.slice(`${PREFIX}/certs/`.length), b);
        const queue = me ? pendingPublish.get(me) : undefined;
        if (queue && !p.topic.startsWith(PREFIX)) {
          const next = queue.shift();
          if (!next || next.topic !== p.topic) throw new Error(`hostile: ${me} published on ${p.topic}, expected ${next?.topic}`);
          const h = honest[next.id]!;
          honestByHash.set(`${hashOf(b)}|${p.topic}`, h);
          // The broker's side: duplicate, redirect or corrupt what an honest client sends.
          if (attacking && me === 'pub-1' && rng.chance(0.03)) {
            ctx.forward();
            const kind = rng.pick(['c2b-duplicate', 'c2b-redirect', 'c2b-bitflip']);
            const change =
              kind === 'c2b-duplicate' ? {} : kind === 'c2b-redirect' ? { topic: p.topic.startsWith('cmd/') ? rng.pick(T1) : rng.pick(T2) } : { payload: flipBit(b, rng.int(b.length * 8)) };
            const written = { ...p, ...change };
            const key = `${hashOf(written.payload)}|${written.topic}`;
            const label = c2bLabels.get(key) ?? { kind, copies: 0 };
            label.copies++;
            c2bLabels.set(key, label);
            ctx.forward(change, { kind, attack: true });
            injected++;
          }
        }
        return;
      }
      // Towards a client.
      if (!me) return;
      const key = `${hashOf(p.payload)}|${p.topic}`;
      const label = c2bLabels.get(key);
      if (label) {
        // A broker-side copy (c2b-*): the first arrival of a duplicate is the original.
        const seenKey = `${key}|${ctx.conn.id}`;
        const seen = (c2bSeen.get(seenKey) ?? 0) + 1;
        c2bSeen.set(seenKey, seen);
        const isCopy = label.kind !== 'c2b-duplicate' || seen > 1;
        // The original goes through untouched (no delay: its copy must not overtake it).
        ctx.forward(undefined, isCopy ? { kind: label.kind, attack: true } : {});
        return;
      }
      const isData = !p.topic.startsWith(PREFIX) && (p.payload[0] === ENVELOPE_TYPE.group || p.payload[0] === ENVELOPE_TYPE.direct);
      const releasePrevious = reorder.takeHeld(ctx.conn.id);
      if (!isData || !droppedFor.has(me)) {
        ctx.forward();
        releasePrevious?.();
        return;
      }
      // Honest data to a subscriber: the broker's games with it.
      let forwardedNow = false;
      const x = attacking ? rng.float() : 1;
      if (x < 0.004) {
        ctx.drop({ kind: 'drop' });
        tally.action('drop');
        const h = honestByHash.get(key);
        if (h) droppedFor.get(me)!.add(h.id);
      } else if (x < 0.024) {
        pendingHonest++;
        ctx.later(rng.range(5, 250), undefined, { kind: 'delay' });
        tally.action('delay');
      } else if (x < 0.044 && !releasePrevious) {
        pendingHonest++;
        reorder.hold(ctx, { kind: 'reorder' });
        tally.action('reorder');
      } else {
        ctx.forward();
        forwardedNow = true;
      }
      releasePrevious?.();
      if (!attacking) return;
      if (injected >= attackTarget) {
        launchPrepared(); // the re-signed ones still due (some wait for an expiry or a revocation)
        return;
      }
      // The attacks this honest message triggers.
      const n = perEventTarget();
      for (let i = 0; i < n; i++) {
        const category = rng.weighted({ data: 70, direct: 7, grant: 6, request: 8, control: 8, prepared: 1 });
        if (category === 'data') {
          if (p.payload[0] === ENVELOPE_TYPE.group) launch(dataAttack(me, p, forwardedNow, ctx));
          else launch(directAttack(me));
        } else if (category === 'direct') launch(directAttack(rng.pick(['sub-1', 'sub-2'])));
        else if (category === 'grant') launch(grantAttack(rng.pick(['sub-1', 'sub-2'])));
        else if (category === 'request') launch(requestAttack());
        else if (category === 'control') launch(controlAttack());
        else launchPrepared();
      }
      if (rng.chance(0.05)) launchPrepared();
    });

    // ------------------------------------------------------------ clients
    const optionsFor = (p: Party, extra: Partial<SecureClientOptions> & { mqtt: NonNullable<SecureClientOptions['mqtt']> }): SecureClientOptions => ({
      identity: p.identity,
      certificate: p.cert,
      trustAnchor: anchor,
      storage: p.storage,
      ...extra,
      mqtt: { clientId: MQTT_CLIENT(p.id), reconnectPeriod: 500, ...extra.mqtt },
    });
    const clientOptions: Record<string, SecureClientOptions> = {
      'pub-1': optionsFor(pub1, { mqtt: { protocolVersion: 5 } }),
      'pub-2': optionsFor(pub2, { mqtt: { protocolVersion: 4 } }),
      'sub-1': optionsFor(sub1, { rotation: { graceMs: SUB1_GRACE_MS }, mqtt: { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } } }),
      'sub-2': optionsFor(sub2, { mqtt: { protocolVersion: 4 } }),
    };
    const open = async (id: string): Promise<SecureMqttClient> => {
      const client = new SecureMqttClient(proxy.url, clientOptions[id]!);
      const observer = new Observer(id, client, models.get(id)!, proxy, MQTT_CLIENT(id), account);
      observers.push(observer);
      const connecting = client.connect();
      observer.start();
      await connecting;
      clients.set(id, client);
      return client;
    };
    const deliveredBy = (id: string): number => observers.filter((o) => o.label === id).reduce((s, o) => s + o.delivered.length, 0);

    // The CA's own channel to the broker (not through the proxy): announcements of two
    // devices that never connect, and the revocation lists.
    caClient = await mqtt.connectAsync(broker.url, { clientId: 'operator-ca-tool' });
    const announce = async (p: Party): Promise<void> => {
      const a = createAnnouncement(p.identity, p.cert);
      genuine.addSigned(a);
      announcements.set(p.id, a);
      await caClient!.publishAsync(`${PREFIX}/certs/${p.id}`, Buffer.from(a), { qos: 1, retain: true });
    };
    const publishList = async (number: number, entries: RevocationEntry[]): Promise<Uint8Array> => {
      const l = issueRevocationList(ca, { number, issuedAt: Date.now(), entries });
      genuine.addSigned(l.bytes);
      lists.push({ bytes: l.bytes, number });
      await caClient!.publishAsync(`${PREFIX}/crl`, Buffer.from(l.bytes), { qos: 1, retain: true });
      return l.bytes;
    };
    await announce(rogue);
    await announce(temp);

    const pub = await open('pub-1');
    const pubB = await open('pub-2');
    const s1 = await open('sub-1');
    const s2 = await open('sub-2');
    await s1.subscribeAsync(['plant/#', 'cmd/sub-1'], { qos: 1 });
    await s2.subscribeAsync(['plant/#', 'cmd/sub-2'], { qos: 1 });
    const knows = (c: SecureMqttClient, ids: string[]): boolean => ids.every((i) => c.certificateOf(i) !== undefined);
    await until(() => knows(pub, ['sub-1', 'sub-2']) && knows(pubB, ['sub-1', 'sub-2']) && knows(s1, ['pub-1', 'pub-2']) && knows(s2, ['pub-1', 'pub-2']), 'every client to learn the others', 30_000);
    phase('setup');

    // ------------------------------------------------------------ publishing
    let sent = 0;
    let gateOpen = true;
    let publishing = false;
    const publishOne = async (): Promise<void> => {
      const id = honest.length;
      const fromP1 = rng.chance(0.75);
      const who = fromP1 ? 'pub-1' : 'pub-2';
      const client = fromP1 ? pub : pubB;
      let topic: string;
      let to: string[];
      let direct: string | undefined;
      let retain = false;
      if (fromP1 && id % 10 === 7) {
        direct = rng.pick(['sub-1', 'sub-2']);
        topic = `cmd/${direct}`;
        to = [direct];
      } else if (fromP1 && id % 50 === 13) {
        topic = T1_RETAINED;
        retain = true;
        to = ['sub-1', 'sub-2'];
      } else {
        topic = rng.pick(fromP1 ? T1 : T2);
        to = ['sub-1', 'sub-2'];
      }
      const payload = honestPayload(rng, id, who, topic, 300);
      const h: Honest = { id, sender: who, topic, payload, to };
      honest.push(h);
      let q = pendingPublish.get(who);
      if (!q) pendingPublish.set(who, (q = []));
      q.push({ id, topic });
      await client.publishAsync(topic, payload, { qos: 1, retain, ...(direct ? { to: direct } : {}) });
      sent++;
    };
    const backlog = (): number => {
      let written = 0;
      let processed = 0;
      for (const c of proxy.connections) {
        written += c.publishedToClient + c.backlog('toClient');
        processed += processedByConn.get(c.id) ?? 0;
      }
      return written - processed;
    };
    const publishUntil = async (done: () => boolean): Promise<void> => {
      publishing = true;
      try {
        while (!done()) {
          while (!gateOpen) await sleep(5);
          while (backlog() > 600) await sleep(5);
          await publishOne();
        }
      } finally {
        publishing = false;
      }
    };
    const caughtUp = (): boolean => {
      if (pendingHonest > 0 || preparedBusy) return false;
      for (const c of proxy.connections) {
        if (c.backlog('toClient') > 0) return false;
        if ((processedByConn.get(c.id) ?? 0) !== c.publishedToClient) return false;
      }
      return true;
    };
    const quiesce = async (what: string): Promise<void> => {
      attacking = false;
      gateOpen = false;
      await until(() => !publishing || gateOpen === false, what, 5_000);
      await sleep(150);
      await until(caughtUp, `${what}: every client to process what it was sent`, 60_000);
      await sleep(150);
      await until(caughtUp, `${what}: every client to process what it was sent`, 60_000);
    };

    // Warm-up: keys flow (held messages, key requests, grants), nothing hostile yet.
    const warm = publishUntil(() => sent >= 20);
    await warm;
    await until(() => deliveredBy('sub-1') >= honest.filter((h) => h.to.includes('sub-1')).length && deliveredBy('sub-2') >= honest.filter((h) => h.to.includes('sub-2')).length, 'the warm-up messages', 30_000);
    await quiesce('warm-up');
    gateOpen = true;

    // Revocation list 1: rogue-1 is revoked.
    await publishList(1, [{ kind: 'subject', subject: 'rogue-1' }]);
    await until(() => [pub, pubB, s1, s2].every((c) => c.trustStore?.revocationListNumber === 1), 'every client to apply revocation list 1', 20_000);
    revoked = true;
    phase('warm-up');

    // The expensive attacks: freshly signed messages that fail a check other than the signature.
    const epoch1 = (await pub.keyManager!.currentEpoch(CH1)) ?? 1;
    const randomKeys = (sender: string, channel: string, epoch: number) => deriveGroupKeys(rng.bytes(32), sender, channel, epoch);
    const sealed = async (sender: Identity, channel: string, epoch: number, topic: string, seq: number, ts: number): Promise<Uint8Array> =>
      sealGroup({ sender, keys: await randomKeys(sender.id, channel, epoch), topic, payload: rng.bytes(40), seq, now: ts });
    const always = (): boolean => true;
    const afterExpiry = (): boolean => Date.now() > temp.cert.notAfter + 1_500;
    const grantTo = async (publisher: Identity, subscriber: Certificate, g: GrantPayload, seq: number): Promise<Uint8Array> => {
      const bytes = await sealGrant({ publisher, subscriber, topic: `${PREFIX}/grants/${subscriber.subject}`, grant: g, seq, now: Date.now() });
      return bytes;
    };
    for (let i = 0; i < 4; i++) {
      const target = i % 2 ? 'sub-2' : 'sub-1';
      const topic = T1[i % 3]!;
      prepared.push(
        { kind: 'signed-future-dated', target, ready: always, build: async () => { const b = await sealed(pub1.identity, CH1, epoch1, topic, 2e12 + i, Date.now() + 600_000); genuine.addUndecryptable(b, topic); return { topic, payload: b }; } },
        { kind: 'signed-expired-timestamp', target, ready: always, build: async () => { const b = await sealed(pub1.identity, CH1, epoch1, topic, 2.1e12 + i, Date.now() - 600_000); genuine.addUndecryptable(b, topic); return { topic, payload: b }; } },
        { kind: 'signed-wrong-key', target, ready: always, build: async () => { const b = await sealed(pub1.identity, CH1, epoch1, topic, 2.2e12 + i, Date.now()); genuine.addUndecryptable(b, topic); return { topic, payload: b }; } },
        { kind: 'signed-revoked-sender', target, ready: () => revoked, build: async () => { const b = await sealed(rogue.identity, CH1, 1, topic, i, Date.now()); genuine.addGroup(b, topic); return { topic, payload: b }; } },
        { kind: 'signed-expired-sender', target, ready: afterExpiry, build: async () => { const b = await sealed(temp.identity, CH1, 1, topic, i, Date.now()); genuine.addGroup(b, topic); return { topic, payload: b }; } },
        { kind: 'forged-signer', target, ready: always, build: async () => ({ topic, payload: await sealed(mallory, CH1, epoch1, topic, 2.3e12 + i, Date.now()) }) },
      );
    }
    for (let i = 0; i < 3; i++) {
      const target = i % 2 ? 'sub-2' : 'sub-1';
      const tcert = target === 'sub-1' ? sub1.cert : sub2.cert;
      prepared.push(
        { kind: 'forged-direct', target, ready: always, build: async () => ({ topic: `cmd/${target}`, payload: await sealDirect({ sender: mallory, recipient: tcert, topic: `cmd/${target}`, payload: rng.bytes(20), seq: 3e12 + i, now: Date.now() }) }) },
        {
          kind: 'direct-unauthorised-sender',
          target,
          ready: always,
          build: async () => {
            const b = await sealDirect({ sender: pub2.identity, recipient: tcert, topic: `cmd/${target}`, payload: rng.bytes(20), seq: 3.1e12 + i, now: Date.now() });
            genuine.addSigned(b);
            return { topic: `cmd/${target}`, payload: b };
          },
        },
        {
          kind: 'forged-grant',
          target,
          ready: always,
          build: async () => ({ topic: `${PREFIX}/grants/${target}`, payload: await grantTo(mallory, tcert, { channel: CH1, epoch: epoch1, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() + 3_600_000 }, 4e12 + i) }),
        },
        {
          kind: 'grant-unauthorised-channel',
          target,
          ready: always,
          build: async () => {
            const g = { channel: CH1, epoch: 77, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() + 3_600_000 };
            const b = await grantTo(pub2.identity, tcert, g, 4.1e12 + i);
            genuine.addSigned(b);
            genuine.grantPlaintext.set(hashOf(b), g);
            return { topic: `${PREFIX}/grants/${target}`, payload: b };
          },
        },
        {
          kind: 'forged-key-request',
          target: 'pub-1',
          ready: always,
          build: async () => ({ topic: `${PREFIX}/key-requests/pub-1`, payload: sealKeyRequest({ subscriber: malloryS, publisher: 'pub-1', filter: 'plant/#', now: Date.now() }) }),
        },
      );
    }
    for (let i = 0; i < 2; i++) {
      const target = i % 2 ? 'sub-2' : 'sub-1';
      const tcert = target === 'sub-1' ? sub1.cert : sub2.cert;
      const signedGrant = (kind: string, g: () => GrantPayload, seq: number): Prepared => ({
        kind,
        target,
        ready: always,
        build: async () => {
          const payload = g();
          const b = await grantTo(pub1.identity, tcert, payload, seq);
          genuine.addSigned(b);
          genuine.grantPlaintext.set(hashOf(b), payload);
          return { topic: `${PREFIX}/grants/${target}`, payload: b };
        },
      });
      prepared.push(
        signedGrant('grant-stale', () => ({ channel: CH1, epoch: epoch1 + 50, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() - 7_200_000 }), 4.2e12 + i),
        signedGrant('grant-rollback', () => ({ channel: CH1, epoch: epoch1, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() + 3_600_000 }), 4.3e12 + i),
        {
          kind: 'signed-key-request-unauthorised',
          target: 'pub-1',
          ready: always,
          build: async () => {
            const b = sealKeyRequest({ subscriber: sub2.identity, publisher: 'pub-1', filter: 'admin/#', now: Date.now() });
            genuine.addSigned(b);
            return { topic: `${PREFIX}/key-requests/pub-1`, payload: b };
          },
        },
        {
          kind: 'signed-key-request-future',
          target: 'pub-1',
          ready: always,
          build: async () => {
            const b = sealKeyRequest({ subscriber: sub1.identity, publisher: 'pub-1', filter: 'plant/#', now: Date.now() + 600_000 });
            genuine.addSigned(b);
            return { topic: `${PREFIX}/key-requests/pub-1`, payload: b };
          },
        },
        {
          kind: 'announcement-rollback',
          target,
          ready: always,
          build: async () => {
            const b = createAnnouncement(pub1.identity, pub1OldCert);
            genuine.addSigned(b);
            return { topic: `${PREFIX}/certs/pub-1`, payload: b };
          },
        },
        {
          kind: 'announcement-future',
          target,
          ready: always,
          build: async () => {
            const b = createAnnouncement(pub1.identity, pub1.cert, { timestamp: Date.now() + 3_600_000 });
            genuine.addSigned(b);
            return { topic: `${PREFIX}/certs/pub-1`, payload: b };
          },
        },
        { kind: 'announcement-forged-ca', target, ready: always, build: async () => ({ topic: `${PREFIX}/certs/pub-1`, payload: createAnnouncement(mallory, fakeCert) }) },
        {
          kind: 'revocation-list-forged',
          target,
          ready: always,
          build: async () => ({ topic: `${PREFIX}/crl`, payload: issueRevocationList(fakeCa, { number: 99, issuedAt: Date.now(), entries: [{ kind: 'subject', subject: 'pub-1' }] }).bytes }),
        },
      );
    }
    prepared.push({
      kind: 'revocation-list-conflict',
      target: 'sub-1',
      ready: () => list2,
      build: async () => {
        const l = issueRevocationList(ca, { number: 2, issuedAt: Date.now(), entries: [{ kind: 'subject', subject: 'sub-2' }] });
        genuine.addSigned(l.bytes);
        return { topic: `${PREFIX}/crl`, payload: l.bytes };
      },
    });
    const preparedTotal = prepared.length;

    // ------------------------------------------------------------ main phase
    attacking = true;
    attackStart = Date.now();
    const half = Math.floor(honestTarget / 2);
    const mainDeadline = Date.now() + Math.max(120_000, attackTarget * 12);
    const mainDone = (): boolean =>
      (sent >= honestTarget && injected >= attackTarget && prepared.length === 0 && !preparedBusy) || Date.now() > mainDeadline;
    let restartDone = !(options.restart ?? true);
    let listTwoDone = false;
    const progress = setInterval(() => log(`  sent ${sent} honest, injected ${injected} attacks, processed ${[...processedByConn.values()].reduce((a, b) => a + b, 0)}, backlog ${backlog()}`), 5_000);
    try {
      while (!mainDone()) {
        await publishUntil(() => mainDone() || (!restartDone && sent >= half) || (!listTwoDone && sent >= honestTarget * 0.6));
        if (!restartDone && sent >= half) {
          // ---- subscriber restart: sub-1 ends, messages queue at the broker, a new client opens its storage.
          await quiesce('restart');
          const s1old = clients.get('sub-1')!;
          await s1old.endAsync();
          const endedAt = Date.now();
          for (const o of observers) if (o.client === s1old) o.stop();
          gateOpen = true;
          await publishUntil(() => sent >= half + 25);
          gateOpen = false;
          models.get('sub-1')!.restart(endedAt);
          instance.set('sub-1', 2);
          const s1new = await open('sub-1');
          await s1new.subscribeAsync(['plant/#', 'cmd/sub-1'], { qos: 1 });
          await until(() => models.get('sub-1')!.needsKeys === 0 && models.get('sub-1')!.epochsOf('pub-1', CH1).length > 0, 'the restarted subscriber to get its keys again', 30_000);
          await until(caughtUp, 'the restarted subscriber to catch up', 30_000);
          restartDone = true;
          attacking = true;
          gateOpen = true;
          phase('main (first half) + restart');
        }
        if (!listTwoDone && sent >= honestTarget * 0.6) {
          await publishList(2, [
            { kind: 'subject', subject: 'rogue-1' },
            { kind: 'serial', subject: 'ghost-1', serial: 7 },
          ]);
          listTwoDone = true;
          void until(() => [pub, pubB, clients.get('sub-1')!, s2].every((c) => c.trustStore?.revocationListNumber === 2), 'list 2', 20_000).then(
            () => {
              list2 = true;
            },
            () => undefined,
          );
        }
        if (!mainDone() && sent >= honestTarget) {
          // Attacks still short of the target (or re-signed ones waiting for their moment): keep the honest stream going.
          await publishUntil(() => mainDone() || sent % 50 === 0);
          await sleep(20);
        }
      }
    } finally {
      clearInterval(progress);
    }
    if (Date.now() > mainDeadline) log(`main phase stopped at its deadline: ${injected} attacks, ${prepared.length} re-signed ones not sent`);
    await quiesce('main phase end');
    phase('main');

    // ------------------------------------------------------------ rotation
    if (options.rotation ?? true) {
      const oldEpochs = models.get('sub-1')!.epochsOf('pub-1', CH1);
      await pub.keyManager!.rotate(CH1);
      gateOpen = true;
      const before = sent;
      await publishUntil(() => sent >= before + 12);
      await quiesce('rotation');
      await until(() => models.get('sub-1')!.epochsOf('pub-1', CH1).some((e) => !oldEpochs.includes(e)), 'sub-1 to get the new epoch', 20_000);
      await sleep(SUB1_GRACE_MS + 1_500);
      for (const me of ['sub-1', 'sub-2']) {
        const old = groupPool.get(me)!.items.filter((x) => oldEpochs.includes(x.epoch) && x.topic !== T1_RETAINED);
        for (let i = 0; i < Math.min(60, old.length); i++) {
          const item = rng.pick(old);
          inject(me, 'replay-old-epoch', item.topic, item.payload, { qos: 1 });
        }
      }
      await quiesce('rotation replays');
      phase('rotation');
    }

    // ------------------------------------------------------------ drain
    // Messages from unknown senders waited for a certificate; the client reports them 30 s later.
    const timerExpected = (): number => [...models.values()].reduce((s, m) => s + m.expiredAwaiting, 0);
    const timerUncertain = (): number => [...models.values()].reduce((s, m) => s + m.uncertainExpired, 0);
    const timerObserved = (): number => observers.reduce((s, o) => s + o.timerEvents, 0);
    await until(
      () => {
        for (const m of models.values()) m.expireAwaiting(Date.now() - 2_500);
        return [...models.values()].every((m) => m.awaiting === 0) && timerObserved() >= timerExpected();
      },
      'messages from unknown senders to be reported',
      45_000,
    );
    await sleep(1_200);
    phase('drain');

    // ------------------------------------------------------------ still serving
    gateOpen = true;
    const finalFrom = sent;
    await publishUntil(() => sent >= finalFrom + 10);
    const expectedFor = (id: string): Honest[] => honest.filter((h) => h.to.includes(id) && !droppedFor.get(id)!.has(h.id));
    await until(() => ['sub-1', 'sub-2'].every((id) => deliveredBy(id) >= expectedFor(id).length), 'the final honest messages', 30_000).catch(() => undefined);
    await quiesce('final');
    phase('final');

    // ------------------------------------------------------------ verdict
    let honestExpected = 0;
    let honestDelivered = 0;
    let honestLost = 0;
    let honestDuplicated = 0;
    let honestAltered = 0;
    for (const id of ['sub-1', 'sub-2']) {
      const want = expectedFor(id);
      honestExpected += want.length;
      const got = honestDeliveryCounts(
        observers.filter((x) => x.label === id).flatMap((o) => o.delivered),
        honest,
        (h, d) => h.topic === d.topic && h.sender === d.meta.sender && hashOf(h.payload) === hashOf(d.payload) && h.to.includes(id),
        (d, text) => {
          honestAltered++;
          sample(`ALTERED or unexpected delivery to ${id} on ${d.topic} from ${d.meta.sender}: ${text.slice(0, 60)}`);
        },
      );
      const lostBy = new Map<string, number>();
      for (const h of want) {
        const n = got.get(h.id) ?? 0;
        if (n === 0) {
          honestLost++;
          lostBy.set(h.topic, (lostBy.get(h.topic) ?? 0) + 1);
          if (lostBy.get(h.topic)! <= 3) sample(`LOST honest ${h.id} (${h.sender} on ${h.topic}) for ${id}`);
        } else honestDelivered++;
        if (n > 1) {
          honestDuplicated += n - 1;
          sample(`DUPLICATED honest ${h.id} for ${id}: ${n} times`);
        }
      }
      if (lostBy.size) sample(`lost for ${id} by topic: ${[...lostBy].map(([t, n]) => `${t} ${n}`).join(', ')}`);
      for (const dropped of droppedFor.get(id)!) if ((got.get(dropped) ?? 0) > 0) sample(`dropped honest ${dropped} reached ${id} anyway (a replay delivered it)`);
    }
    let unprocessedAttacks = 0;
    for (const id of ['pub-1', 'pub-2', 'sub-1', 'sub-2']) {
      for (let c = 1; c < 10_000; c++) {
        const conn = proxy.connectionById(c);
        if (!conn) break;
        if (identityOf(conn) !== id) continue;
        unprocessedAttacks += unprocessedAttacksOn(conn);
      }
    }
    const errors = observers.flatMap((o) => [...o.errors, ...o.strayEvents.map((e) => `${o.label}: stray security event ${e.code}: ${e.message}`)]);
    const connected: Record<string, boolean> = {};
    const clientStats: Record<string, unknown> = {};
    for (const [id, c] of clients) {
      connected[id] = c.connected;
      clientStats[id] = c.stats();
    }
    const closeCalls = [...models.values()].reduce((s, m) => s + m.closeCalls, 0);
    log(`prepared attacks: ${preparedTotal - prepared.length} of ${preparedTotal} injected`);
    return {
      seed,
      attacks: tally.attacks + noise,
      ...tally.report(),
      mismatches,
      honestSent: honest.length,
      honestExpected,
      honestDelivered,
      honestLost,
      honestDuplicated,
      honestAltered,
      droppedByBroker: [...droppedFor.values()].reduce((s, x) => s + x.size, 0),
      unprocessedAttacks,
      timerRejections: { expected: timerExpected(), uncertain: timerUncertain(), observed: timerObserved() },
      closeCalls,
      maxLagMs: maxLag,
      errors,
      connected,
      clientStats,
      phasesMs: phases,
      durationMs: Date.now() - started,
    };
  } finally {
    await endClients(clients.values());
    await caClient?.endAsync(true).catch(() => undefined);
    await testbed.close();
  }
}

/** The result as a table: attacks by kind, how they ended, honest traffic. */
export function formatResult(r: HostileResult): string {
  const widths = { attacks: 9, rejected: 10, dup: 7, ignored: 9, awaited: 9, accepted: 10, mismatch: 10 };
  const lines = kindTable(r.byKind, 34, widths, (row) => [row.attacks, row.rejected, row.duplicates, row.ignored, row.awaited, row.accepted, row.mismatches]);
  lines.push('');
  lines.push(`reason codes reported: ${byFrequency(r.byCode)}`);
  lines.push(
    `honest: ${r.honestSent} sent, ${r.honestExpected} deliveries expected, ${r.honestDelivered} delivered, lost ${r.honestLost}, duplicated ${r.honestDuplicated}, altered ${r.honestAltered}; ` +
      `broker actions on honest traffic: ${listed(r.brokerActions)} (${r.droppedByBroker} deliveries dropped on purpose)`,
  );
  lines.push(
    `unknown-sender messages reported by the client's timer: ${r.timerRejections.observed} (expected ${r.timerRejections.expected}` +
      `${r.timerRejections.uncertain ? ` to ${r.timerRejections.expected + r.timerRejections.uncertain}` : ''}); ` +
      `mismatches ${r.mismatches}; close calls ${r.closeCalls}; max lag ${r.maxLagMs} ms; unprocessed attacks ${r.unprocessedAttacks}; errors ${r.errors.length}`,
  );
  lines.push(`connected: ${listed(r.connected)}; phases (ms): ${listed(r.phasesMs)}; total ${r.durationMs} ms`);
  lines.push(...findingLines(r.samples, r.errors));
  return lines.join('\n');
}
