// Watches one subscriber of the amortised-mode run, without changing the
// client: mqtt.js's handleMessage hook (arrival, and the proxy's tag: which
// packet this is), ControlTopics.parse (the first thing the client does with
// each packet, in arrival order: the start of its processing) and
// KeyManager.expireAmortised (the hold timer) are wrapped. The client
// acknowledges amortised messages on arrival, so the end of a packet's
// processing is the start of the next one's (finish() closes the last one
// once the client is idle). Grants to the subscriber are opened on arrival:
// the model needs their epochs, and sub-2 is also the insider.

import type { IPublishPacket, MqttClient } from 'mqtt';
import type { SecureMqttClient, SecurityEvent } from '../../../src/client/secure-client.js';
import type { SecurityError } from '../../../src/errors.js';
import { decodeDirect, openDirectEnvelope } from '../../../src/protocol/direct.js';
import { MAX_GRANT_PAYLOAD_BYTES, decodeGrantPayload } from '../../../src/protocol/grant.js';
import { deriveGroupKeys, type GroupEpochKeys } from '../../../src/protocol/group.js';
import { ENVELOPE_TYPE } from '../../../src/protocol/envelope.js';
import type { MitmProxy } from '../../support/mitm-proxy.js';
import { deliveryKey, type AmortisedModel } from '../amortised-model.js';
import { packetBytes, proxyTag } from '../observer.js';
import { hashOf } from '../oracle.js';
import { PREFIX } from '../plant.js';
import type { Accounting } from './accounting.js';
import { tickClock } from './clock.js';
import type { Fleet } from './fleet.js';
import type { HonestLedger } from './ledger.js';
import type { Arrival, Bucket } from './types.js';

/** What an observer reads and fills besides its client. */
export interface ObserverWorld {
  readonly proxy: MitmProxy;
  readonly fleet: Fleet;
  readonly accounting: Accounting;
  /** The epoch keys sub-2 (the insider) learns from its grants, by sender|channel|epoch: the attacker seals with them. */
  readonly insiderKeys: Map<string, GroupEpochKeys>;
}

export class SubObserver {
  /** Packets handed to the client, not started on yet (in order). */
  readonly arrivals: Arrival[] = [];
  /** What the client does with the packet it is processing. */
  bucket: Bucket | undefined;
  /** Packets the client started on. */
  started = 0;
  sentinels = 0;
  /** The hold timer's rejections (scored by the timer check, not as packets). */
  readonly timerErrors = new WeakSet<SecurityError>();
  packetCounter = 0;
  readonly #world: ObserverWorld;
  readonly #acc: Accounting;
  readonly #ledger: HonestLedger;

  constructor(
    readonly me: string,
    readonly client: SecureMqttClient,
    readonly model: AmortisedModel,
    world: ObserverWorld,
  ) {
    this.#world = world;
    this.#acc = world.accounting;
    this.#ledger = world.accounting.ledger;
    client.on('message', (topic, payload, meta) => {
      const key = deliveryKey(meta.sender, topic, meta.epoch ?? -1, meta.seq);
      this.#ledger.deliveredKeys.get(me)!.add(key);
      this.#ledger.deliveredPayloads.get(me)!.push({ topic, payload: payload.slice(), sender: meta.sender, seq: meta.seq, epoch: meta.epoch });
      if (this.bucket) this.bucket.deliveries.push(key);
      else if (this.#acc.armed) this.#acc.errors.push(`${me}: a delivery outside any packet: ${key}`);
    });
    client.on('security', (e: SecurityEvent) => {
      if (this.timerErrors.has(e.error)) return;
      if (this.bucket) this.bucket.events.push(e.code);
      else this.#acc.errors.push(`${me}: a security event outside any packet: ${e.code} ${e.message}`);
    });
    client.on('error', (err) => this.#acc.errors.push(`${me}: ${err.name}: ${err.message}`));
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
      const record = tag ? this.#world.proxy.connectionById(tag.conn)?.takeRecord(tag.n) : undefined;
      const arrival: Arrival = { topic: packet.topic, payload, retain: packet.retain, meta: record?.meta, injected: record?.injected ?? false, tagged: record !== undefined };
      if (!arrival.tagged) this.#acc.errors.push(`${this.me}: an untagged PUBLISH on ${packet.topic}`);
      this.#prepare(arrival).then(
        () => {
          this.arrivals.push(arrival);
          inner(packet, done);
        },
        (err: unknown) => {
          this.#acc.errors.push(`${this.me}: preparing a packet failed: ${(err as Error).stack ?? String(err)}`);
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
      this.#acc.timerRejections += got.length;
      if (want.join(' ') !== got.join(' ') || !result.rejected.every((e) => e.code === 'BAD_SIGNATURE')) {
        this.#acc.timerMismatches++;
        this.#acc.sample(`${this.me} hold timer: expected [${want.join(' ')}], rejected [${got.join(' ')}]`);
      }
      this.#acc.settleLater(this.me, expected, 'timer');
      return result;
    };
  }

  /** Grants addressed to us: decrypt them with our identity (the model needs the epochs; sub-2 is also the insider). */
  async #prepare(a: Arrival): Promise<void> {
    if (a.topic !== `${PREFIX}/grants/${this.me}` || a.payload[0] !== ENVELOPE_TYPE.grant || a.injected) return;
    const h = hashOf(a.payload);
    if (this.#world.fleet.provenance.grants.has(h)) return;
    const f = decodeDirect(a.payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES);
    const sender = this.#world.fleet.certs.find((c) => c.subject === f.sender)!;
    const { inspected } = await openDirectEnvelope(
      a.payload,
      ENVELOPE_TYPE.grant,
      {
        recipient: this.#world.fleet.identity(this.me),
        receivedTopic: f.topic,
        trust: { get: () => sender },
        now: f.timestamp,
        replay: { check: () => ({ ok: true }), accept: async () => undefined },
        maxPayloadBytes: MAX_GRANT_PAYLOAD_BYTES,
      },
      (plaintext) => decodeGrantPayload(plaintext.slice()),
    );
    this.#world.fleet.provenance.grants.set(h, inspected);
    if (this.me === 'sub-2') this.#world.insiderKeys.set(`${f.sender}|${inspected.channel}|${inspected.epoch}`, await deriveGroupKeys(inspected.epochKey.slice(), f.sender, inspected.channel, inspected.epoch));
  }

  #onStart(topic: string): void {
    if (this.bucket) this.#close();
    const a = this.arrivals.shift();
    if (!a) {
      this.#acc.errors.push(`${this.me}: the observer is out of step (no arrival for ${topic})`);
      return;
    }
    if (a.topic !== topic) this.#acc.errors.push(`${this.me}: the observer is out of step (${a.topic} arrived, ${topic} started)`);
    this.started++;
    if (a.meta?.kind === 'sentinel') this.sentinels++;
    const origin = this.#acc.originOf(a, ++this.packetCounter);
    const prediction = this.model.predict(topic, a.payload, a.retain, tickClock(), origin);
    this.bucket = { arrival: a, origin, prediction, duplicatesBefore: this.client.stats().duplicates, events: [], deliveries: [] };
  }

  #close(): void {
    const b = this.bucket!;
    this.bucket = undefined;
    this.#acc.closeBucket(this.me, b, this.client.stats().duplicates);
  }

  /** Closes the last packet's bucket (call when the client is idle: after a sentinel started). */
  finish(): void {
    if (this.bucket) this.#close();
  }
}
