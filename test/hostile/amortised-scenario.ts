// The amortised mode through the hostile broker: two publishers with
// `amortise` and two subscribers with `acceptAmortised` (all SecureMqttClient,
// MQTT 5) talk through a real Mosquitto behind the MQTT-aware man in the middle
// (test/support/mitm-proxy.ts), which drops, delays and reorders honest
// messages and manifests (manifests before their messages too) and injects
// attacks derived from what it sees: replays, redirects, bit flips,
// truncations, rewritten fields, downgrades, splices, insider forgeries (the
// test plays sub-2, which holds the epoch keys, and seals amortised messages
// in pub-1's name), tampered, forged and misdirected manifests.
//
// Every PUBLISH a subscriber processes is checked against the oracle
// (amortised-model.ts) at the moment the client starts on it: what it comes to
// (a delivery, the held messages a manifest releases, a silent duplicate, a
// security event with a reason code, nothing) must be exactly what the client
// does, and every run of the client's hold timer must reject exactly the held
// messages the model says are due. Then: nothing but honest messages is ever
// delivered (topic, payload, sender, sequence number, epoch compared with what
// the publisher published), none twice; every honest message is delivered
// unless the broker dropped it or its manifest on purpose (unexplained losses:
// 0); every attack was processed and came to an outcome of its kind's set;
// no client error; every client still connected and serving at the end.
//
// Observation (no change to the client): the subscriber's mqtt.js
// handleMessage hook is wrapped (arrival, the proxy's tag), ControlTopics.parse
// (the first thing the client does with each packet, in arrival order: the
// start of its processing), and KeyManager.expireAmortised (the hold timer).
// The client acknowledges amortised messages on arrival, so the end of a
// packet's processing is the start of the next one's; a sentinel packet on an
// unknown reserved topic (a no-op) closes the last one at each pause.
//
// Used by test/hostile/amortised-hostile.test.ts.

import { type IPublishPacket, type MqttClient } from 'mqtt';
import { CertificateAuthority, issueCertificate, type Certificate } from '../../src/certs/certificate.js';
import type { SecureClientOptions } from '../../src/client/options.js';
import { SecureMqttClient, type SecurityEvent } from '../../src/client/secure-client.js';
import { SecurityError, type ReasonCode } from '../../src/errors.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { MANIFEST_TYPE, decodeAmortised, decodeManifest, sealAmortised, sealManifest } from '../../src/protocol/amortised.js';
import { decodeDirect, openDirectEnvelope } from '../../src/protocol/direct.js';
import { MAX_GRANT_PAYLOAD_BYTES, decodeGrantPayload } from '../../src/protocol/grant.js';
import { decodeGroup, deriveGroupKeys, type GroupEpochKeys } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE, FLAGS } from '../../src/protocol/envelope.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { extend, flipBit, overwrite, truncate, type PublishContext, type WriteMeta } from '../support/mitm-proxy.js';
import { AmortisedModel, Provenance, deliveryKey, type HeldItem, type Origin, type Prediction } from './amortised-model.js';
import { ReorderHold, Ring, Tally, byFrequency, endClients, findingLines, honestDeliveryCounts, honestPayload, isAttackRecord, kindTable, listed, phaseTimer, runSettings, sleep, startTestbed, unprocessedAttacksOn, untilFor, type KindCounts, type RunOptions, type RunResult } from './harness.js';
import { packetBytes, proxyTag } from './observer.js';
import { hashOf, type Outcome } from './oracle.js';
import { editAmortised, editGroup, editManifest, tryGroup } from './wire-edit.js';

export interface AmortisedHostileOptions extends RunOptions {
  /** Attack packets to inject at least (default 3,000). */
  readonly attacks?: number;
  /** Honest data messages during the attacks, at least (default 1,200). */
  readonly honest?: number;
}

export interface Row extends KindCounts {
  /** Reported with a reason code while processed. */
  rejected: number;
  /** Held for a manifest, then reported BAD_SIGNATURE (by a manifest that lists another digest, or by the hold timer). */
  rejectedLater: number;
  /** Dropped silently as a copy of a message already accepted or held (stats().duplicates). */
  duplicates: number;
  /** A no-op by design (a manifest already stored, or one that lists nothing held). */
  ignored: number;
  /** The model's outcome is outside the set this kind may come to. */
  outOfSet: number;
}

export interface AmortisedHostileResult extends RunResult<Row> {
  readonly outOfSet: number;
  readonly timerMismatches: number;
  readonly unsettledHeld: number;
  readonly honestLostOnPurpose: Record<string, number>;
  readonly honestLostUnexplained: number;
  readonly forgedDeliveries: number;
  /** Honest messages delivered although the proxy dropped their manifest (must be 0). */
  readonly deliveredWithoutManifest: number;
  readonly outOfOrderReleases: number;
  readonly timerRejections: number;
  readonly served: boolean;
}

const PREFIX = 'pqc-iiot/v1';
const DAY = 86_400_000;
const CH1 = 'plant/line1/#';
const CH2 = 'plant/line2/#';
const T1 = ['plant/line1/temp', 'plant/line1/pressure', 'plant/line1/flow'];
const T1_SIGNED = 'plant/line1/state'; // retained: always sealed signed (docs/PROTOCOL.md)
const T2 = ['plant/line2/level', 'plant/line2/valve'];
const HOLD_MS = 1_500;
const GRACE_MS = 1_000;
const SUBS = ['sub-1', 'sub-2'] as const;
const SENTINEL_TOPIC = `${PREFIX}/sentinel`;
const MQTT_ID = (id: string): string => `${id}-mqtt`;

/**
 * What each attack kind may come to, from the check orders of docs/PROTOCOL.md (amortised envelope, batch manifest,
 * signed group envelope) and the client's dispatch. The model gives the one outcome of each packet; this table is
 * the coarser promise per kind, and the model's answer must lie within it. 'held' means held for a manifest, then
 * BAD_SIGNATURE (checked separately: every held attack must end rejected); 'duplicate' a silent drop; 'none' a no-op.
 */
const KIND_OUTCOMES: Record<string, readonly Outcome[]> = {
  // Copies of an honest amortised message already delivered or held: the window, or the hold buffer, has it.
  duplicate: ['duplicate'],
  'duplicate-dup-flag': ['duplicate'],
  'replay-later': ['duplicate', 'REPLAY'],
  'replay-old': ['duplicate', 'REPLAY'],
  'replay-retained': ['UNSUPPORTED_VERSION'], // amortised messages are never accepted retained
  'replay-old-epoch': ['STALE_EPOCH'],
  // The digest binds the topic: a stored manifest of the target topic that covers the seq lists another digest
  // (BAD_SIGNATURE); else the channel's window already holds the seq (duplicate: the window is per channel, not
  // per topic, and a copy of an accepted number is not checked against a digest once its manifest is forgotten);
  // else the topic, part of the AAD, fails decryption.
  'redirect-same-channel': ['BAD_SIGNATURE', 'duplicate', 'DECRYPT_FAILED'],
  'redirect-other-channel': ['TOPIC_MISMATCH'],
  'redirect-command': ['TOPIC_MISMATCH'],
  'redirect-control': ['MALFORMED'],
  truncate: ['MALFORMED'],
  extend: ['MALFORMED'],
  empty: ['MALFORMED'],
  garbage: ['MALFORMED', 'UNSUPPORTED_VERSION'], // UNSUPPORTED_VERSION: a random first byte that is a type byte, a version that is not 1
  'garbage-typed': ['MALFORMED'],
  'bitflip-header': ['MALFORMED', 'UNSUPPORTED_VERSION'],
  'bitflip-epoch': ['UNKNOWN_EPOCH', 'STALE_EPOCH'],
  'bitflip-seq': ['MALFORMED', 'REPLAY', 'BAD_SIGNATURE', 'duplicate', 'DECRYPT_FAILED'],
  'bitflip-timestamp': ['MALFORMED', 'STALE_EPOCH', 'FROM_FUTURE', 'TOO_OLD', 'BAD_SIGNATURE', 'duplicate', 'DECRYPT_FAILED'],
  // Changed bytes change the digest: a stored manifest says BAD_SIGNATURE, the window duplicate, else GCM fails.
  'bitflip-ciphertext': ['BAD_SIGNATURE', 'duplicate', 'DECRYPT_FAILED'],
  bitflip: ['MALFORMED', 'UNSUPPORTED_VERSION', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'UNKNOWN_EPOCH', 'STALE_EPOCH', 'REPLAY', 'BAD_SIGNATURE', 'duplicate', 'FROM_FUTURE', 'TOO_OLD', 'DECRYPT_FAILED'],
  'byte-randomise': ['MALFORMED', 'UNSUPPORTED_VERSION', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'UNKNOWN_EPOCH', 'STALE_EPOCH', 'REPLAY', 'BAD_SIGNATURE', 'duplicate', 'FROM_FUTURE', 'TOO_OLD', 'DECRYPT_FAILED'],
  splice: ['BAD_SIGNATURE', 'duplicate', 'DECRYPT_FAILED'],
  'version-downgrade': ['UNSUPPORTED_VERSION'],
  'suite-downgrade': ['UNSUPPORTED_VERSION'],
  'flags-signed': ['MALFORMED'], // an amortised body claiming SIGNED: the signature field is missing
  'flags-other': ['UNSUPPORTED_VERSION'],
  // D/G/Q/N/C: another layout (MALFORMED); D and B read the header first and refuse flags 0x02 (UNSUPPORTED_VERSION).
  'type-confusion': ['MALFORMED', 'UNSUPPORTED_VERSION'],
  'sender-swap': ['NOT_AUTHORISED', 'UNKNOWN_EPOCH'], // UNKNOWN_EPOCH: rogue-1 may publish on the channel but has no epoch
  'channel-swap': ['TOPIC_MISMATCH', 'NOT_AUTHORISED'],
  'epoch-newer': ['UNKNOWN_EPOCH'],
  'epoch-max': ['UNKNOWN_EPOCH'],
  // UNKNOWN_EPOCH while the older epoch's grant may still be accepted (graceMs after the newer one's arrived), then STALE_EPOCH.
  'epoch-older': ['STALE_EPOCH', 'UNKNOWN_EPOCH'],
  'seq-future-dated': ['FROM_FUTURE'],
  'seq-expired': ['TOO_OLD'],
  'seq-fresh-forged': ['DECRYPT_FAILED'], // the nonce derives from the seq
  'seq-reuse': ['BAD_SIGNATURE', 'duplicate'],
  'seq-below-window': ['REPLAY', 'BAD_SIGNATURE'],
  'seq-over-2^53': ['MALFORMED'],
  'timestamp-far-future': ['STALE_EPOCH'], // after the epoch's notAfter
  'timestamp-zero': ['TOO_OLD', 'duplicate', 'BAD_SIGNATURE'],
  // Insiders (sub-2 holds the epoch key) sealing in pub-1's name: decrypts, so held; never listed by a real manifest.
  'insider-fresh': ['held'],
  // Two insider-next forgeries for the same sequence number, topic and millisecond are byte-identical: the second is
  // a copy of one already held (DUPLICATE, silent). Seen about once in 14 runs.
  'insider-next': ['held', 'BAD_SIGNATURE', 'duplicate'],
  'insider-reuse': ['BAD_SIGNATURE', 'duplicate'],
  'insider-manifest': ['BAD_SIGNATURE'],
  // Manifests.
  'manifest-duplicate': ['none'],
  'manifest-duplicate-dup-flag': ['none'],
  'manifest-replay': ['none'], // a manifest needs no window: it can only list what was delivered or is held
  'manifest-replay-old-epoch': ['none'],
  'manifest-retained': ['UNSUPPORTED_VERSION'],
  'manifest-redirect-same-channel': ['BAD_SIGNATURE'], // the topic is signed
  'manifest-redirect-other-channel': ['TOPIC_MISMATCH'],
  'manifest-redirect-command': ['TOPIC_MISMATCH'],
  'manifest-redirect-control': ['MALFORMED'],
  'manifest-truncate': ['MALFORMED'],
  'manifest-extend': ['MALFORMED'],
  'manifest-garbage': ['MALFORMED'],
  'manifest-empty-count': ['MALFORMED'],
  'manifest-bitflip': ['MALFORMED', 'UNSUPPORTED_VERSION', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'FROM_FUTURE', 'TOO_OLD', 'BAD_SIGNATURE'],
  'manifest-bitflip-entries': ['BAD_SIGNATURE', 'MALFORMED'],
  'manifest-bitflip-signature': ['BAD_SIGNATURE', 'MALFORMED'],
  'manifest-wrong-digest': ['BAD_SIGNATURE'],
  'manifest-version': ['UNSUPPORTED_VERSION'],
  'manifest-suite': ['UNSUPPORTED_VERSION'],
  'manifest-flags': ['UNSUPPORTED_VERSION'],
  'manifest-type-confusion': ['MALFORMED', 'UNSUPPORTED_VERSION', 'BAD_SIGNATURE', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'UNKNOWN_EPOCH', 'STALE_EPOCH', 'REPLAY', 'FROM_FUTURE', 'TOO_OLD'],
  'manifest-sender-swap': ['NOT_AUTHORISED', 'BAD_SIGNATURE'],
  'manifest-channel-swap': ['TOPIC_MISMATCH', 'NOT_AUTHORISED'],
  'manifest-future-dated': ['FROM_FUTURE'],
  'manifest-expired': ['TOO_OLD'],
  'manifest-epoch-swap': ['BAD_SIGNATURE'],
  'manifest-forged-signer': ['BAD_SIGNATURE'],
  'manifest-rogue-signer': ['BAD_SIGNATURE'],
  // Signed envelopes (the retained topic) dressed as amortised, and copies.
  'signed-flags-amortised': ['MALFORMED'],
  'signed-duplicate': ['duplicate'],
};
const NOOP_KINDS = new Set(['manifest-duplicate', 'manifest-duplicate-dup-flag', 'manifest-replay', 'manifest-replay-old-epoch']);

const until = untilFor('amortised hostile');

/** One value per synchronous run: the model and the client read the same `now` for the same packet (see amortised-model.ts). */
let tickNow: number | undefined;
export function tickClock(): number {
  if (tickNow === undefined) {
    tickNow = Date.now();
    queueMicrotask(() => {
      tickNow = undefined;
    });
  }
  return tickNow;
}

interface Honest {
  readonly id: number;
  readonly sender: string;
  readonly topic: string;
  readonly payload: Uint8Array;
  seq?: number;
  epoch?: number;
  readonly afterArming: boolean;
}

interface Arrival {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retain: boolean;
  readonly meta: WriteMeta | undefined;
  readonly injected: boolean;
  readonly tagged: boolean;
}

interface Bucket {
  readonly arrival: Arrival;
  readonly origin: Origin;
  readonly prediction: Prediction;
  readonly duplicatesBefore: number;
  readonly events: ReasonCode[];
  readonly deliveries: string[];
}

interface PoolItem {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly epoch: number;
  readonly seq: number;
  readonly sender: string;
}

const emptyRow = (): Row => ({ attacks: 0, rejected: 0, rejectedLater: 0, duplicates: 0, ignored: 0, accepted: 0, mismatches: 0, outOfSet: 0, expected: {} });

export async function runAmortisedHostile(options: AmortisedHostileOptions = {}): Promise<AmortisedHostileResult> {
  const started = Date.now();
  const { seed, attackTarget, honestTarget, log, rng } = runSettings(options, { seed: 20261126, attacks: 3_000, honest: 1_200 });
  const { phasesMs: phases, phase } = phaseTimer(log);
  const testbed = await startTestbed();
  const { proxy } = testbed;
  const clients = new Map<string, SecureMqttClient>();
  try {
    // ------------------------------------------------------------ fleet
    const ca = CertificateAuthority.generate('operator-ca');
    const now0 = Date.now();
    const certs: Certificate[] = [];
    const identities = new Map<string, Identity>();
    const party = async (id: string, publish: string[], subscribe: string[]): Promise<Certificate> => {
      const identity = await generateIdentity(id);
      identities.set(id, identity);
      const cert = issueCertificate(ca, { subject: id, serial: 1, notBefore: now0 - DAY, notAfter: now0 + 365 * DAY, keyEpoch: 1, publicKeys: identity.publicKeys, publish, subscribe });
      certs.push(cert);
      return cert;
    };
    await party('pub-1', [CH1], []);
    await party('pub-2', [CH2], []);
    await party('sub-1', [], ['plant/#']);
    await party('sub-2', [], ['plant/#']);
    await party('rogue-1', [CH1], []); // certified for CH1, never connects: its real key signs forged manifests
    const mallory = await generateIdentity('pub-1'); // an impostor's own keys under pub-1's name
    const identity = (id: string): Identity => identities.get(id)!;

    const provenance = new Provenance();
    const models = new Map<string, AmortisedModel>();
    for (const id of SUBS) {
      models.set(id, new AmortisedModel({ id, certificates: certs, provenance, holdMs: HOLD_MS, maxManifests: 100_000, maxHeld: 100_000, graceMs: GRACE_MS }));
    }

    // ------------------------------------------------------- accounting
    const tally = new Tally(emptyRow);
    const row = (kind: string): Row => tally.row(kind);
    const sample = (line: string): void => tally.sample(line);
    const errors: string[] = [];
    let armed = false;
    let mismatches = 0;
    let outOfSet = 0;
    let timerMismatches = 0;
    let timerRejections = 0;
    let outOfOrderReleases = 0;
    const honest: Honest[] = [];
    const honestByKey = new Map<string, Honest>(); // deliveryKey -> honest
    const honestByHash = new Map<string, Honest>(); // hash|topic -> honest
    const pendingPublish = new Map<string, number[]>([
      ['pub-1', []],
      ['pub-2', []],
    ]);
    const droppedFor = new Map<string, Set<number>>(SUBS.map((s) => [s, new Set<number>()]));
    /** topic|seq of honest messages whose manifest the proxy dropped or delayed beyond holdMs, per subscriber. */
    const manifestLostFor = new Map<string, Map<string, string>>(SUBS.map((s) => [s, new Map<string, string>()]));
    const lostOnPurpose: Record<string, number> = {};
    let lostUnexplained = 0;
    const deliveredKeys = new Map<string, Set<string>>(SUBS.map((s) => [s, new Set<string>()]));
    const deliveredPayloads = new Map<string, { topic: string; payload: Uint8Array; sender: string; seq: number; epoch: number | undefined }[]>(SUBS.map((s) => [s, []]));

    const originOf = (a: Arrival, packet: number): Origin => {
      if (isAttackRecord(a)) return { attack: String(a.meta?.kind ?? 'unlabelled'), packet };
      const h = honestByHash.get(`${hashOf(a.payload)}|${a.topic}`);
      return h ? { honest: h.id, packet } : { packet };
    };

    const settleLater = (me: string, items: readonly HeldItem[], how: string): void => {
      for (const h of items) {
        if (h.origin.attack !== undefined) {
          row(h.origin.attack).rejectedLater++;
          tally.code(`BAD_SIGNATURE (${how})`);
        } else if (h.origin.honest !== undefined) {
          const hm = honest[h.origin.honest]!;
          const lost = manifestLostFor.get(me)!.get(`${h.topic}|${h.seq}`);
          if (!hm.afterArming) continue;
          if (lost !== undefined) lostOnPurpose[lost] = (lostOnPurpose[lost] ?? 0) + 1;
          else {
            lostUnexplained++;
            sample(`honest ${hm.id} (${hm.sender} ${hm.topic} seq ${h.seq}) held by ${me} and rejected (${how}) though its manifest was not dropped`);
          }
        }
      }
    };

    const closeBucket = (me: string, b: Bucket, duplicatesNow: number): void => {
      const p = b.prediction;
      const observedDup = duplicatesNow - b.duplicatesBefore;
      const expectedCodes = Object.entries(p.rejected).filter(([, n]) => (n ?? 0) > 0).map(([c, n]) => `${c}x${n}`).sort().join(',');
      const counts = new Map<string, number>();
      for (const c of b.events) counts.set(c, (counts.get(c) ?? 0) + 1);
      const observedCodes = [...counts].map(([c, n]) => `${c}x${n}`).sort().join(',');
      const expectedDeliveries = p.delivered.map((d) => d.key).join(' ');
      const observedDeliveries = b.deliveries.join(' ');
      const ok = observedDup === p.duplicates && expectedCodes === observedCodes && expectedDeliveries === observedDeliveries;
      const kind = b.origin.attack;
      const describe = (): string =>
        `${me} ${kind ? `attack ${kind}` : b.origin.honest !== undefined ? `honest ${b.origin.honest}` : 'other'} on ${b.arrival.topic} (${b.arrival.payload.length} B): ` +
        `expected ${p.outcome} [dup ${p.duplicates}; ${expectedCodes}; ${expectedDeliveries}], observed [dup ${observedDup}; ${observedCodes}; ${observedDeliveries}]`;
      if (!ok && armed) {
        mismatches++;
        sample(describe());
      }
      // Releases of one manifest come in sequence order.
      for (let i = 1; i < b.deliveries.length; i++) {
        const [s0, t0, e0, q0] = b.deliveries[i - 1]!.split('|');
        const [s1, t1, e1, q1] = b.deliveries[i]!.split('|');
        if (s0 === s1 && t0 === t1 && e0 === e1 && Number(q1) <= Number(q0)) outOfOrderReleases++;
      }
      settleLater(me, p.forged, 'manifest');
      if (kind === undefined) {
        if (!ok && armed) row('honest traffic').mismatches++;
        return;
      }
      if (kind === 'sentinel') return;
      const r = tally.attack(kind, p.outcome, ok);
      const allowed = KIND_OUTCOMES[kind];
      if (!allowed || !allowed.includes(p.outcome)) {
        r.outOfSet++;
        outOfSet++;
        sample(`OUT OF SET ${describe()}`);
      }
      // The packet's own outcome. A manifest (even a replayed one) may release honest held messages: those are
      // honest deliveries, checked above and by the honest accounting; anything else delivered is an accepted attack.
      const predicted = new Set(p.delivered.map((d) => d.key));
      const unexpected = b.deliveries.filter((k) => !predicted.has(k));
      if (p.outcome === 'deliver' || p.delivered.some((d) => d.origin.attack !== undefined) || unexpected.length > 0) {
        tally.accept(r, 'ACCEPTED', describe());
      } else if (p.outcome === 'held') {
        // Resolved later (manifest or timer): counted in rejectedLater then.
      } else if (p.outcome === 'duplicate') {
        r.duplicates++;
        tally.code('DUPLICATE (silent)');
      } else if (p.outcome === 'none' || p.outcome === 'await') {
        if (NOOP_KINDS.has(kind)) r.ignored++;
        else tally.accept(r, 'ABSORBED', describe());
      } else {
        r.rejected++;
        tally.code(p.outcome);
      }
    };

    // ---------------------------------------------------------- observer
    class SubObserver {
      readonly arrivals: Arrival[] = [];
      bucket: Bucket | undefined;
      started = 0;
      sentinels = 0;
      readonly timerErrors = new WeakSet<SecurityError>();
      packetCounter = 0;
      constructor(
        readonly me: string,
        readonly client: SecureMqttClient,
        readonly model: AmortisedModel,
      ) {
        client.on('message', (topic, payload, meta) => {
          const key = deliveryKey(meta.sender, topic, meta.epoch ?? -1, meta.seq);
          deliveredKeys.get(me)!.add(key);
          deliveredPayloads.get(me)!.push({ topic, payload: payload.slice(), sender: meta.sender, seq: meta.seq, epoch: meta.epoch });
          if (this.bucket) this.bucket.deliveries.push(key);
          else if (armed) errors.push(`${me}: a delivery outside any packet: ${key}`);
        });
        client.on('security', (e: SecurityEvent) => {
          if (this.timerErrors.has(e.error)) return;
          if (this.bucket) this.bucket.events.push(e.code);
          else errors.push(`${me}: a security event outside any packet: ${e.code} ${e.message}`);
        });
        client.on('error', (err) => errors.push(`${me}: ${err.name}: ${err.message}`));
      }

      start(): void {
        const poll = (): void => {
          const m = this.client.mqttClient;
          const km = this.client.keyManager;
          if (m && km) this.#install(m);
          else setImmediate(poll);
        };
        poll();
      }

      #install(m: MqttClient): void {
        const inner = m.handleMessage.bind(m);
        m.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void): void => {
          const payload = packetBytes(packet);
          const tag = proxyTag(packet);
          const record = tag ? proxy.connectionById(tag.conn)?.takeRecord(tag.n) : undefined;
          const arrival: Arrival = { topic: packet.topic, payload, retain: packet.retain, meta: record?.meta, injected: record?.injected ?? false, tagged: record !== undefined };
          if (!arrival.tagged) errors.push(`${this.me}: an untagged PUBLISH on ${packet.topic}`);
          this.#prepare(arrival).then(
            () => {
              this.arrivals.push(arrival);
              inner(packet, done);
            },
            (err: unknown) => {
              errors.push(`${this.me}: preparing a packet failed: ${(err as Error).stack ?? String(err)}`);
              this.arrivals.push(arrival);
              inner(packet, done);
            },
          );
        };
        const topics = this.client.topics;
        const parse = topics.parse.bind(topics);
        topics.parse = (topic: string) => {
          this.#onStart(topic);
          return parse(topic);
        };
        const km = this.client.keyManager!;
        const expire = km.expireAmortised.bind(km);
        km.expireAmortised = () => {
          const result = expire();
          const now = tickClock();
          for (const e of result.rejected) this.timerErrors.add(e);
          const expected = this.model.expire(now);
          const key = (sender: string | undefined, topic: string | undefined, seq: number | string): string => `${sender}|${topic}|${seq}`;
          const want = expected.map((h) => key(h.sender, h.topic, h.seq)).sort();
          const got = result.rejected.map((e) => key(e.sender, e.topic, /amortised message (\d+):/.exec(e.message)?.[1] ?? '?')).sort();
          timerRejections += got.length;
          if (want.join(' ') !== got.join(' ') || !result.rejected.every((e) => e.code === 'BAD_SIGNATURE')) {
            timerMismatches++;
            sample(`${this.me} hold timer: expected [${want.join(' ')}], rejected [${got.join(' ')}]`);
          }
          settleLater(this.me, expected, 'timer');
          return result;
        };
      }

      /** Grants addressed to us: decrypt them with our identity (the model needs the epochs; sub-2 is also the insider). */
      async #prepare(a: Arrival): Promise<void> {
        if (a.topic !== `${PREFIX}/grants/${this.me}` || a.payload[0] !== ENVELOPE_TYPE.grant || a.injected) return;
        const h = hashOf(a.payload);
        if (provenance.grants.has(h)) return;
        const f = decodeDirect(a.payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES);
        const sender = certs.find((c) => c.subject === f.sender)!;
        const { inspected } = await openDirectEnvelope(
          a.payload,
          ENVELOPE_TYPE.grant,
          {
            recipient: identity(this.me),
            receivedTopic: f.topic,
            trust: { get: () => sender },
            now: f.timestamp,
            replay: { check: () => ({ ok: true }), accept: async () => undefined },
            maxPayloadBytes: MAX_GRANT_PAYLOAD_BYTES,
          },
          (plaintext) => decodeGrantPayload(plaintext.slice()),
        );
        provenance.grants.set(h, inspected);
        if (this.me === 'sub-2') insiderKeys.set(`${f.sender}|${inspected.channel}|${inspected.epoch}`, await deriveGroupKeys(inspected.epochKey.slice(), f.sender, inspected.channel, inspected.epoch));
      }

      #onStart(topic: string): void {
        if (this.bucket) this.#close();
        const a = this.arrivals.shift();
        if (!a) {
          errors.push(`${this.me}: the observer is out of step (no arrival for ${topic})`);
          return;
        }
        if (a.topic !== topic) errors.push(`${this.me}: the observer is out of step (${a.topic} arrived, ${topic} started)`);
        this.started++;
        if (a.meta?.kind === 'sentinel') this.sentinels++;
        const origin = originOf(a, ++this.packetCounter);
        const prediction = this.model.predict(topic, a.payload, a.retain, tickClock(), origin);
        this.bucket = { arrival: a, origin, prediction, duplicatesBefore: this.client.stats().duplicates, events: [], deliveries: [] };
      }

      #close(): void {
        const b = this.bucket!;
        this.bucket = undefined;
        closeBucket(this.me, b, this.client.stats().duplicates);
      }

      /** Closes the last packet's bucket (call when the client is idle: after a sentinel started). */
      finish(): void {
        if (this.bucket) this.#close();
      }
    }

    // ---------------------------------------------------------- attacker
    const insiderKeys = new Map<string, GroupEpochKeys>();
    const envPool = new Map<string, Ring<PoolItem>>(SUBS.map((s) => [s, new Ring<PoolItem>(3000)]));
    const manifestPool = new Map<string, Ring<PoolItem>>(SUBS.map((s) => [s, new Ring<PoolItem>(600)]));
    const signedPool = new Map<string, Ring<PoolItem>>(SUBS.map((s) => [s, new Ring<PoolItem>(100)]));
    const observers = new Map<string, SubObserver>();
    let attacking = false;
    let injected = 0;
    let pendingWrites = 0;
    const reorder = new ReorderHold();
    /** Manifest-first reordering: envelopes of (conn, topic) held until the next manifest of that topic. */
    const manifestFirst = new Map<string, { releases: (() => void)[]; timer: NodeJS.Timeout }>();
    const perPacket = (): number => Math.max(1, Math.ceil((attackTarget * 1.08) / Math.max(1, honestTarget * 2.3)));
    const meta = (kind: string): WriteMeta => ({ kind, attack: true });
    const subOf = (connId: number): string | undefined => {
      const c = proxy.connectionById(connId);
      const id = c?.clientId?.replace(/-mqtt$/, '');
      return id && (SUBS as readonly string[]).includes(id) ? id : undefined;
    };
    const inject = (me: string, kind: string, topic: string, payload: Uint8Array, extra: { retain?: boolean; qos?: 0 | 1; dup?: boolean } = {}): void => {
      const conn = proxy.connectionOf(MQTT_ID(me));
      if (!conn || conn.closed) return;
      conn.inject('toClient', { topic, payload, qos: extra.qos ?? (rng.chance(0.5) ? 1 : 0), retain: extra.retain ?? false, dup: extra.dup ?? false }, meta(kind));
      injected++;
    };
    const fresh = (seq: number): number => seq + 1_000_000_000 + rng.int(1_000_000);
    const sameChannel = (topic: string): string[] => (topic.startsWith('plant/line1/') ? [...T1, T1_SIGNED] : T2).filter((t) => t !== topic);
    const otherChannel = (topic: string): string[] => (topic.startsWith('plant/line1/') ? T2 : T1);
    const controlTopics = (me: string): string[] => [`${PREFIX}/grants/${me}`, `${PREFIX}/key-requests/${me}`, `${PREFIX}/certs/pub-1`, `${PREFIX}/crl`];
    /** The field offsets of an amortised envelope (header, sender, seq, epoch, timestamp, ciphertext). */
    const envLayout = (b: Uint8Array) => {
      const f = decodeAmortised(b);
      const senderEnd = 4 + 2 + new TextEncoder().encode(f.sender).length;
      const h = f.header.length; // ... epoch u32 | seq u64 | timestamp u64
      return { f, senderEnd, epochAt: h - 20, seqAt: h - 16, tsAt: h - 8, ctAt: h + 4 };
    };
    /** A bit anywhere but in the sender id (an unknown sender would wait 30 s for a certificate). */
    const bitOutsideSender = (len: number, senderEnd: number): number => {
      for (;;) {
        const bit = rng.int(len * 8);
        if (bit < 32 || bit >= senderEnd * 8) return bit;
      }
    };
    const delivered = (me: string, x: PoolItem): boolean => deliveredKeys.get(me)!.has(deliveryKey(x.sender, x.topic, x.epoch, x.seq));

    type Attack = { kind: string; topic: string; payload: Uint8Array; retain?: boolean; qos?: 0 | 1; dup?: boolean } | undefined;

    /** Attacks derived from an honest amortised envelope `m` written to `me` now. */
    const envelopeAttack = (me: string, m: { topic: string; payload: Uint8Array }, forwardedNow: boolean, ctx: PublishContext): Attack => {
      const { f, senderEnd, epochAt, seqAt, tsAt, ctAt } = envLayout(m.payload);
      const pool = envPool.get(me)!.items;
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
          ctx.forward(kind === 'duplicate' ? undefined : { dup: true, qos: 1 }, meta(kind));
          injected++;
          return undefined;
        case 'replay-later':
        case 'replay-old':
        case 'replay-retained': {
          if (pool.length === 0) return undefined;
          const x = kind === 'replay-old' ? pool[rng.int(Math.max(1, Math.floor(pool.length / 3)))]! : rng.pick(pool);
          if (!delivered(me, x)) return undefined;
          return { kind, topic: x.topic, payload: x.payload, retain: kind === 'replay-retained' };
        }
        case 'redirect-same-channel':
          return A(b, { topic: rng.pick(sameChannel(m.topic).filter((t) => t !== T1_SIGNED)) });
        case 'redirect-other-channel':
          return A(b, { topic: rng.pick(otherChannel(m.topic)) });
        case 'redirect-command':
          return A(b, { topic: `cmd/${me}` });
        case 'redirect-control':
          return A(b, { topic: rng.pick(controlTopics(me)) });
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
          return A(flipBit(b, bitOutsideSender(b.length, senderEnd)));
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
            const at = Math.floor(bitOutsideSender(b.length, senderEnd) / 8);
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
          return A(editAmortised(b, { seq: fresh(f.seq), timestamp: Date.now() + rng.range(120_000, 1_800_000) }));
        case 'seq-expired':
          return A(editAmortised(b, { seq: fresh(f.seq), timestamp: Date.now() - rng.range(420_000, 7 * DAY) }));
        case 'seq-fresh-forged':
          return A(editAmortised(b, { seq: fresh(f.seq) }));
        case 'seq-reuse': {
          const o = pool.filter((x) => x.sender === f.sender && x.epoch === f.epoch && delivered(me, x));
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
    };

    /** Attacks derived from an honest manifest `m` written to `me` now (or from the pool). */
    const manifestAttack = (me: string, m: { topic: string; payload: Uint8Array }, forwardedNow: boolean, ctx: PublishContext): Attack => {
      const b = m.payload;
      const f = decodeManifest(b);
      const senderEnd = 4 + 2 + new TextEncoder().encode(f.sender).length;
      const entriesAt = f.tbs.length - f.entries.length * 40;
      const pool = manifestPool.get(me)!.items;
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
      });
      const A = (payload: Uint8Array, extra: Partial<NonNullable<Attack>> = {}): Attack => ({ kind, topic: m.topic, payload, ...extra });
      switch (kind) {
        case 'manifest-duplicate':
        case 'manifest-duplicate-dup-flag':
          if (!forwardedNow) return undefined;
          ctx.forward(kind === 'manifest-duplicate' ? undefined : { dup: true, qos: 1 }, meta(kind));
          injected++;
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
          return A(b, { topic: rng.pick(controlTopics(me)) });
        case 'manifest-truncate':
          return A(truncate(b, rng.int(b.length)));
        case 'manifest-extend':
          return A(extend(b, rng.bytes(rng.range(1, 64))));
        case 'manifest-garbage':
          return A(extend(new Uint8Array([MANIFEST_TYPE, 1, 1, 1]), rng.bytes(rng.int(1500))));
        case 'manifest-empty-count':
          return A(editManifest(b, { count: 0, entries: [] }));
        case 'manifest-bitflip':
          return A(flipBit(b, bitOutsideSender(b.length, senderEnd)));
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
          const signer = kind === 'manifest-forged-signer' ? mallory : identity('rogue-1');
          // The signer's own key; the sender field is the real publisher's (rogue-1 is even certified for CH1).
          const forged = sealManifest({ sender: signer, channel: f.channel, epoch: f.epoch, topic: m.topic, entries: f.entries, now: Date.now() });
          return A(signer.id === f.sender ? forged : editManifest(forged, { sender: f.sender }));
        }
      }
      return undefined;
    };

    /** sub-2 (an insider: it holds the epoch keys) seals amortised messages in pub-1's name; to sub-1 or itself. */
    const insiderAttack = async (me: string, m: { topic: string; payload: Uint8Array } | undefined): Promise<Attack[]> => {
      const base = m && m.payload[0] === ENVELOPE_TYPE.group && m.payload[3] === FLAGS.amortised ? decodeAmortised(m.payload) : undefined;
      if (!base) return [];
      const keys = insiderKeys.get(`${base.sender}|${base.channel}|${base.epoch}`);
      if (!keys) return [];
      const kind = rng.weighted({ 'insider-fresh': 3, 'insider-next': 4, 'insider-reuse': 3, 'insider-manifest': 1.5 });
      const topic = rng.chance(0.7) ? m!.topic : rng.pick(base.channel === CH1 ? T1 : T2);
      let seq: number;
      if (kind === 'insider-fresh' || kind === 'insider-manifest') seq = fresh(base.seq);
      else if (kind === 'insider-next') seq = base.seq + rng.range(1, 4);
      else {
        const o = envPool.get(me)!.items.filter((x) => x.sender === base.sender && x.epoch === base.epoch && delivered(me, x));
        if (!o.length) return [];
        seq = rng.pick(o).seq;
      }
      const payload = new TextEncoder().encode(`h/999999/${base.sender}/${topic}/forged by an insider`);
      const { bytes, digest } = await sealAmortised({ sender: base.sender, keys, topic, payload, seq, now: Date.now() });
      provenance.addSealed(bytes, topic);
      const out: Attack[] = [{ kind: kind === 'insider-manifest' ? 'insider-fresh' : kind, topic, payload: bytes }];
      if (kind === 'insider-manifest') {
        // A manifest listing the forgery, signed with the insider's own key under the publisher's name.
        const forged = sealManifest({ sender: identity('sub-2'), channel: base.channel, epoch: base.epoch, topic, entries: [{ seq, digest }], now: Date.now() });
        out.push({ kind, topic, payload: editManifest(forged, { sender: base.sender }) });
      }
      return out;
    };

    const launch = (me: string, a: Attack): void => {
      if (!a) return;
      inject(me, a.kind, a.topic, a.payload, { ...(a.retain !== undefined && { retain: a.retain }), ...(a.qos !== undefined && { qos: a.qos }), ...(a.dup !== undefined && { dup: a.dup }) });
    };

    // ------------------------------------------------------------ hooks
    const PENDING_KINDS = new Set(['delay', 'reorder', 'manifest-delay', 'manifest-late', 'manifest-first']);
    proxy.onWrite((conn, direction, out, m, isInjected) => {
      if (direction !== 'toClient') return;
      const me = subOf(conn.id);
      if (!me) return;
      if (!isInjected && PENDING_KINDS.has(String(m.kind))) pendingWrites--;
      if (isInjected || m['attack'] === true || out.topic.startsWith(PREFIX)) return;
      const b = out.payload;
      if (b[0] === ENVELOPE_TYPE.group && b[3] === FLAGS.amortised) {
        const f = decodeAmortised(b);
        envPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.seq, sender: f.sender });
      } else if (b[0] === MANIFEST_TYPE) {
        const f = decodeManifest(b);
        manifestPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.entries[0]!.seq, sender: f.sender });
      } else if (b[0] === ENVELOPE_TYPE.group) {
        const f = tryGroup(b);
        if (f) signedPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.seq, sender: f.sender });
      }
    });

    proxy.onPublish(async (ctx) => {
      const p = ctx.packet;
      if (ctx.direction === 'toBroker') {
        const pub = ctx.conn.clientId?.replace(/-mqtt$/, '');
        const b = p.payload;
        if (p.topic.startsWith(PREFIX) || !pub || !pendingPublish.has(pub)) return;
        if (b[0] === MANIFEST_TYPE) {
          provenance.addManifest(b, p.topic);
          return;
        }
        const id = pendingPublish.get(pub)!.shift();
        const h = id === undefined ? undefined : honest[id];
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
        honestByHash.set(`${hashOf(b)}|${p.topic}`, h);
        honestByKey.set(deliveryKey(h.sender, h.topic, h.epoch!, h.seq!), h);
        return;
      }
      const me = subOf(ctx.conn.id);
      if (!me || p.topic.startsWith(PREFIX)) return;
      const b = p.payload;
      const isManifest = b[0] === MANIFEST_TYPE;
      const isEnvelope = b[0] === ENVELOPE_TYPE.group && b[3] === FLAGS.amortised;
      const releasePrevious = reorder.takeHeld(ctx.conn.id);
      const mfKey = `${ctx.conn.id}|${p.topic}`;
      const mf = manifestFirst.get(mfKey);
      let forwardedNow = false;
      const x = attacking ? rng.float() : 1;
      if (isManifest) {
        const entries = decodeManifest(b).entries;
        const lose = (kind: string): void => {
          for (const e of entries) manifestLostFor.get(me)!.set(`${p.topic}|${e.seq}`, kind);
        };
        if (x < 0.03) {
          ctx.drop({ kind: 'manifest-drop' });
          lose('manifest dropped');
          tally.action('manifest-drop');
        } else if (x < 0.05) {
          pendingWrites++;
          ctx.later(rng.range(50, 300), undefined, { kind: 'manifest-delay' });
          tally.action('manifest-delay');
        } else if (x < 0.06) {
          pendingWrites++;
          ctx.later(HOLD_MS + 800, undefined, { kind: 'manifest-late' });
          lose('manifest delayed beyond holdMs');
          tally.action('manifest-late');
        } else {
          ctx.forward(undefined, mf ? { kind: 'manifest-before-messages' } : {});
          forwardedNow = true;
        }
        if (mf) {
          // The manifest went first (or was dropped/delayed): the messages held behind it follow now.
          manifestFirst.delete(mfKey);
          clearTimeout(mf.timer);
          for (const r of mf.releases) r();
        }
      } else if (isEnvelope && mf) {
        pendingWrites++;
        mf.releases.push(ctx.hold(undefined, { kind: 'manifest-first' }));
      } else if (isEnvelope && x < 0.005) {
        ctx.drop({ kind: 'drop' });
        const h = honestByHash.get(`${hashOf(b)}|${p.topic}`);
        if (h) droppedFor.get(me)!.add(h.id);
        tally.action('drop');
      } else if (isEnvelope && x < 0.02) {
        pendingWrites++;
        ctx.later(rng.range(5, 200), undefined, { kind: 'delay' });
        tally.action('delay');
      } else if (isEnvelope && x < 0.035 && !releasePrevious) {
        pendingWrites++;
        reorder.hold(ctx, { kind: 'reorder' });
        tally.action('reorder');
      } else if (isEnvelope && x < 0.05) {
        // Manifest-first: hold this message and the next ones of its topic until their manifest has gone through.
        pendingWrites++;
        const entry = { releases: [ctx.hold(undefined, { kind: 'manifest-first' })], timer: setTimeout(() => undefined, 0) };
        entry.timer = setTimeout(() => {
          if (manifestFirst.get(mfKey) === entry) manifestFirst.delete(mfKey);
          for (const r of entry.releases) r();
        }, 600);
        manifestFirst.set(mfKey, entry);
        tally.action('manifest-first');
      } else {
        ctx.forward();
        forwardedNow = true;
      }
      releasePrevious?.();
      if (!attacking || injected >= attackTarget) return;
      for (let i = perPacket(); i > 0; i--) {
        const c = rng.weighted({ envelope: 58, manifest: 30, insider: 8, signed: 4 });
        if (c === 'envelope') {
          const base = isEnvelope ? p : rng.chance(0.5) && envPool.get(me)!.items.length ? rng.pick(envPool.get(me)!.items) : undefined;
          if (base) launch(me, envelopeAttack(me, base, isEnvelope && forwardedNow, ctx));
        } else if (c === 'manifest') {
          const base = isManifest ? p : manifestPool.get(me)!.items.length ? rng.pick(manifestPool.get(me)!.items) : undefined;
          if (base) launch(me, manifestAttack(me, base, isManifest && forwardedNow, ctx));
        } else if (c === 'insider') {
          for (const a of await insiderAttack(me, isEnvelope ? p : undefined)) launch(me, a);
        } else {
          const s = signedPool.get(me)!.items;
          const x2 = s.length ? rng.pick(s) : undefined;
          if (x2 && delivered(me, x2)) {
            if (rng.chance(0.6)) launch(me, { kind: 'signed-flags-amortised', topic: x2.topic, payload: editGroup(x2.payload, { flags: FLAGS.amortised }) });
            else launch(me, { kind: 'signed-duplicate', topic: x2.topic, payload: x2.payload });
          }
        }
      }
    });

    // ------------------------------------------------------------ clients
    const optionsFor = (id: string, extra: Partial<SecureClientOptions>): SecureClientOptions => ({
      identity: identity(id),
      certificate: certs.find((c) => c.subject === id)!,
      trustAnchor: ca.trustAnchor,
      storage: new MemoryStorage(),
      certificates: certs.filter((c) => c.subject !== id),
      ...extra,
      mqtt: { clientId: MQTT_ID(id), reconnectPeriod: 500, protocolVersion: 5 },
    });
    const open = async (id: string, extra: Partial<SecureClientOptions>): Promise<SecureMqttClient> => {
      const client = new SecureMqttClient(proxy.url, optionsFor(id, extra));
      if ((SUBS as readonly string[]).includes(id)) {
        const o = new SubObserver(id, client, models.get(id)!);
        observers.set(id, o);
        const connecting = client.connect();
        o.start();
        await connecting;
      } else {
        client.on('error', (err) => errors.push(`${id}: ${err.name}: ${err.message}`));
        client.on('security', (e) => errors.push(`${id}: unexpected security event ${e.code}: ${e.message}`));
        await client.connect();
      }
      clients.set(id, client);
      return client;
    };
    const amortise = { maxBatch: 8, maxDelayMs: 20 };
    const pub1 = await open('pub-1', { amortise });
    const pub2 = await open('pub-2', { amortise });
    const subOptions: Partial<SecureClientOptions> = {
      acceptAmortised: { holdMs: HOLD_MS, maxHeld: 100_000, maxManifests: 100_000 },
      rotation: { graceMs: GRACE_MS },
      maintenanceIntervalMs: 200,
      clock: tickClock,
    };
    const s1 = await open('sub-1', subOptions);
    const s2 = await open('sub-2', subOptions);
    await s1.subscribeAsync('plant/#', { qos: 1 });
    await s2.subscribeAsync('plant/#', { qos: 0 });
    phase('setup');

    // ------------------------------------------------------------ publishing
    let gateOpen = true;
    const publishOne = async (who: 'pub-1' | 'pub-2'): Promise<void> => {
      const id = honest.length;
      const client = who === 'pub-1' ? pub1 : pub2;
      const signed = who === 'pub-1' && id % 25 === 7;
      const topic = signed ? T1_SIGNED : rng.pick(who === 'pub-1' ? T1 : T2);
      const payload = honestPayload(rng, id, who, topic, 200);
      honest.push({ id, sender: who, topic, payload, afterArming: armed });
      pendingPublish.get(who)!.push(id);
      await client.publishAsync(topic, payload, { qos: signed || rng.chance(0.85) ? 1 : 0, retain: signed });
    };
    const backlog = (): number => {
      let n = 0;
      for (const [id, o] of observers) {
        const c = proxy.connectionOf(MQTT_ID(id));
        if (c) n += c.publishedToClient + c.backlog('toClient') - o.started;
      }
      return n;
    };
    const publishUntil = async (done: () => boolean): Promise<void> => {
      const loop = async (who: 'pub-1' | 'pub-2', share: number): Promise<void> => {
        while (!done()) {
          while (!gateOpen || backlog() > 400) await sleep(5);
          if (rng.float() < share) await publishOne(who);
          else await sleep(1);
        }
      };
      await Promise.all([loop('pub-1', 1), loop('pub-2', 0.5)]);
    };
    const sentinel = async (): Promise<void> => {
      for (const id of SUBS) {
        const o = observers.get(id)!;
        const want = o.sentinels + 1;
        const conn = proxy.connectionOf(MQTT_ID(id))!;
        conn.inject('toClient', { topic: SENTINEL_TOPIC, payload: new Uint8Array(0), qos: 1 }, { kind: 'sentinel', attack: true });
        await until(() => o.sentinels >= want, `${id} to reach the sentinel`, 30_000);
      }
    };
    const quiesce = async (what: string): Promise<void> => {
      attacking = false;
      await until(() => pendingWrites === 0 && manifestFirst.size === 0, `${what}: the proxy's delayed writes`, 20_000);
      // Late manifests may still be on their way: pendingWrites counts them.
      await sentinel();
      await until(() => backlog() === 0, `${what}: every subscriber to start on what it was sent`, 30_000);
    };

    // Warm-up: keys flow (the first batch of each channel is lost to UNKNOWN_EPOCH, its manifest asks for the key).
    const deliveredFrom = (id: string, who: string): number => deliveredPayloads.get(id)!.filter((d) => d.sender === who).length;
    await publishUntil(() => SUBS.every((id) => deliveredFrom(id, 'pub-1') >= 10 && deliveredFrom(id, 'pub-2') >= 5) || honest.length > 2_000);
    await quiesce('warm-up');
    await until(() => SUBS.every((id) => models.get(id)!.heldCount === 0 && models.get(id)!.needsKeys === 0), 'warm-up: nothing held, no key needed', 20_000);
    for (const id of SUBS) {
      const c = clients.get(id)!;
      if (c.keyManager!.needsKey().length) throw new Error(`${id} still needs keys after the warm-up`);
    }
    for (const o of observers.values()) o.finish();
    armed = true;
    phase('warm-up');

    // ------------------------------------------------------------ main phase
    attacking = true;
    const armedAt = honest.length;
    const deadline = Date.now() + 90_000;
    await publishUntil(() => (honest.length - armedAt >= honestTarget && injected >= attackTarget) || Date.now() > deadline);
    if (Date.now() > deadline) log(`main phase stopped at its deadline: ${injected} attacks`);
    await quiesce('main');
    phase('main');

    // ------------------------------------------------------------ rotation
    const oldEpoch = models.get('sub-1')!.epochsOf('pub-1', CH1);
    await pub1.keyManager!.rotate(CH1);
    const before = honest.length;
    await publishUntil(() => honest.length >= before + 30);
    await quiesce('rotation');
    await until(() => SUBS.every((id) => models.get(id)!.epochsOf('pub-1', CH1).some((e) => !oldEpoch.includes(e))), 'the subscribers to get the new epoch', 20_000);
    await sleep(GRACE_MS + 1_200); // past the subscribers' grace period for the old epoch (the oracle decides, not this wait)
    for (const me of SUBS) {
      const env = envPool.get(me)!.items.filter((x) => x.sender === 'pub-1' && oldEpoch.includes(x.epoch) && delivered(me, x));
      const man = manifestPool.get(me)!.items.filter((x) => x.sender === 'pub-1' && oldEpoch.includes(x.epoch));
      for (let i = 0; i < Math.min(40, env.length); i++) {
        const item = rng.pick(env);
        inject(me, 'replay-old-epoch', item.topic, item.payload, { qos: 1 });
      }
      for (let i = 0; i < Math.min(10, man.length); i++) {
        const item = rng.pick(man);
        inject(me, 'manifest-replay-old-epoch', item.topic, item.payload, { qos: 1 });
      }
    }
    await quiesce('rotation replays');
    phase('rotation');

    // ------------------------------------------------------------ drain
    // Held forgeries and messages whose manifest never came are rejected by the hold timer.
    await until(() => SUBS.every((id) => models.get(id)!.heldCount === 0), 'every held message to be settled', HOLD_MS + 10_000);
    await sleep(300); // the timer's security events are emitted right after expireAmortised returns
    phase('drain');

    // ------------------------------------------------------------ still serving
    const finalFrom = honest.length;
    await publishUntil(() => honest.length >= finalFrom + 10);
    const finalWanted = honest.slice(finalFrom);
    await until(
      () => SUBS.every((id) => finalWanted.every((h) => deliveredPayloads.get(id)!.some((d) => hashOf(d.payload) === hashOf(h.payload)))),
      'the final honest messages',
      30_000,
    ).catch((err: unknown) => errors.push(String(err)));
    await quiesce('final');
    for (const o of observers.values()) o.finish();
    phase('final');

    // ------------------------------------------------------------ verdict
    let honestExpected = 0;
    let honestDelivered = 0;
    let honestDuplicated = 0;
    let forgedDeliveries = 0;
    let deliveredWithoutManifest = 0;
    for (const id of SUBS) {
      const got = honestDeliveryCounts(
        deliveredPayloads.get(id)!,
        honest,
        (h, d) => h.topic === d.topic && h.sender === d.sender && h.seq === d.seq && h.epoch === d.epoch && hashOf(h.payload) === hashOf(d.payload),
        (d, text) => {
          forgedDeliveries++;
          sample(`FORGED or altered delivery to ${id} on ${d.topic} from ${d.sender} seq ${d.seq}: ${text.slice(0, 60)}`);
        },
      );
      for (const h of honest) {
        if (!h.afterArming) continue;
        const n = got.get(h.id) ?? 0;
        if (n > 1) {
          honestDuplicated += n - 1;
          sample(`DUPLICATED honest ${h.id} for ${id}: ${n} times`);
        }
        if (droppedFor.get(id)!.has(h.id)) {
          lostOnPurpose['message dropped'] = (lostOnPurpose['message dropped'] ?? 0) + 1;
          if (n > 0) sample(`dropped honest ${h.id} reached ${id} anyway`);
          continue;
        }
        const key = h.seq === undefined ? undefined : `${h.topic}|${h.seq}`;
        if (key !== undefined && manifestLostFor.get(id)!.get(key) === 'manifest dropped') {
          // Its manifest never reached this subscriber: it must never be delivered (its loss was counted when the timer rejected it).
          if (n > 0) {
            deliveredWithoutManifest++;
            sample(`honest ${h.id} delivered to ${id} although its manifest was dropped`);
          }
          continue;
        }
        if (n === 0 && key !== undefined && manifestLostFor.get(id)!.has(key)) continue; // counted when the timer rejected it
        honestExpected++;
        if (n > 0) honestDelivered++;
        else {
          lostUnexplained++;
          sample(`LOST honest ${h.id} (${h.sender} on ${h.topic}, seq ${h.seq}) for ${id}`);
        }
      }
    }
    let unprocessedAttacks = 0;
    for (const c of proxy.connections) if (subOf(c.id)) unprocessedAttacks += unprocessedAttacksOn(c);
    for (const o of observers.values()) if (o.arrivals.length) unprocessedAttacks += o.arrivals.length;
    const unsettledHeld = SUBS.reduce((n, id) => n + models.get(id)!.heldItems().length, 0);
    const connected: Record<string, boolean> = {};
    for (const [id, c] of clients) connected[id] = c.connected;
    return {
      seed,
      attacks: tally.attacks,
      ...tally.report(),
      mismatches,
      outOfSet,
      timerMismatches,
      unprocessedAttacks,
      unsettledHeld,
      honestSent: honest.length - armedAt,
      honestExpected,
      honestDelivered,
      honestLostOnPurpose: lostOnPurpose,
      honestLostUnexplained: lostUnexplained,
      honestDuplicated,
      forgedDeliveries,
      deliveredWithoutManifest,
      outOfOrderReleases,
      timerRejections,
      errors,
      connected,
      served: finalWanted.length === 10,
      phasesMs: phases,
      durationMs: Date.now() - started,
    };
  } finally {
    await endClients(clients.values());
    await testbed.close();
  }
}

/** The result as a table: attacks by kind and how they ended. */
export function formatAmortisedResult(r: AmortisedHostileResult): string {
  const widths = { attacks: 8, rejected: 9, later: 7, dup: 6, 'no-op': 7, accepted: 9, mismatch: 9 };
  // An outcome outside its kind's set counts as a mismatch: the oracle broke the promise made for the kind.
  const lines = kindTable(r.byKind, 32, widths, (row) => [row.attacks, row.rejected, row.rejectedLater, row.duplicates, row.ignored, row.accepted, row.mismatches + row.outOfSet]);
  lines.push('("later": held for a manifest, then BAD_SIGNATURE from a manifest listing another digest or from the hold timer)');
  lines.push('');
  lines.push(`reason codes: ${byFrequency(r.byCode)}`);
  lines.push(
    `honest (after warm-up): ${r.honestSent} published, ${r.honestExpected} deliveries expected, ${r.honestDelivered} delivered, duplicated ${r.honestDuplicated}, ` +
      `lost on purpose: ${listed(r.honestLostOnPurpose) || 'none'}; unexplained losses ${r.honestLostUnexplained}; forged or altered deliveries ${r.forgedDeliveries}; delivered without their manifest ${r.deliveredWithoutManifest}`,
  );
  lines.push(`broker actions on honest traffic: ${listed(r.brokerActions)}`);
  lines.push(
    `hold-timer rejections ${r.timerRejections} (timer runs unlike the model: ${r.timerMismatches}); mismatches ${r.mismatches}; outcomes outside their kind's set ${r.outOfSet}; ` +
      `releases out of sequence order ${r.outOfOrderReleases}; unprocessed attacks ${r.unprocessedAttacks}; held and never settled ${r.unsettledHeld}; errors ${r.errors.length}`,
  );
  lines.push(`connected: ${listed(r.connected)}; served a final round: ${r.served}; phases (ms): ${listed(r.phasesMs)}; total ${r.durationMs} ms; seed ${r.seed}`);
  lines.push(...findingLines(r.samples, r.errors));
  return lines.join('\n');
}
