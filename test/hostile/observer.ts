// Watches one SecureMqttClient packet by packet: wraps the handleMessage hook
// the client installs on its mqtt.js client (mqtt.js runs it for one PUBLISH
// at a time, in arrival order), asks the model what the packet must come to
// just before the client processes it, and records what it did come to
// (deliveries, silent duplicates, security events) next to the proxy's record
// of what the packet is (honest, or which attack).
//
// The wrapper must be in place before the first PUBLISH arrives: start() polls
// (setImmediate) for the mqtt.js client, which SecureMqttClient creates and
// hooks in one synchronous step; the first PUBLISH can only arrive several
// event-loop turns later (CONNACK, SUBACK first).

import type { IPublishPacket, MqttClient } from 'mqtt';
import type { MessageMeta, SecureMqttClient, SecurityEvent } from '../../src/client/index.js';
import type { ReasonCode } from '../../src/errors.js';
import { TAG_PROPERTY, type DeliveryRecord, type MitmProxy } from '../support/mitm-proxy.js';
import { addOutcome, emptyDelta, type ClientModel, type Delta, type Prediction } from './model.js';

export interface Observation {
  readonly label: string;
  readonly conn: number | undefined;
  readonly n: number | undefined;
  readonly topic: string;
  readonly bytes: number;
  readonly retained: boolean;
  readonly record: DeliveryRecord | undefined;
  readonly prediction: Prediction;
  readonly observed: Delta;
  /** Milliseconds between the proxy writing the packet and the client starting on it. */
  readonly lagMs: number | undefined;
}

export interface Delivered {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly meta: MessageMeta;
}

/** The payload as bytes (mqtt.js types it as a Buffer or a string). */
export const packetBytes = (packet: IPublishPacket): Uint8Array =>
  typeof packet.payload === 'string' ? new TextEncoder().encode(packet.payload) : new Uint8Array(packet.payload);

/** Which proxy connection wrote this packet, and which of its PUBLISHes it was: the proxy's tag (MQTT 5 only). */
export function proxyTag(packet: IPublishPacket): { conn: number; n: number } | undefined {
  const tag = packet.properties?.userProperties?.[TAG_PROPERTY];
  const text = Array.isArray(tag) ? tag[tag.length - 1] : tag;
  if (typeof text !== 'string') return undefined;
  const [c, k] = text.split(':');
  return { conn: Number(c), n: Number(k) };
}

/** A security event the client raises from its maintenance timer (a message that waited too long for its sender). */
export const isTimerEvent = (e: SecurityEvent): boolean => e.code === 'UNKNOWN_SENDER' && e.message.includes('arrived within');

export class Observer {
  readonly label: string;
  readonly client: SecureMqttClient;
  readonly model: ClientModel;
  readonly delivered: Delivered[] = [];
  readonly errors: string[] = [];
  /** Security events from the maintenance timer (awaited messages that expired), by code. */
  timerEvents = 0;
  /** Security events raised outside any packet and not from the timer (should not happen). */
  readonly strayEvents: SecurityEvent[] = [];
  processed = 0;
  #installed = false;
  #stopped = false;
  #current: { timer: number; events: ReasonCode[] } | undefined;
  #orderCounters = new Map<number, number>();
  readonly #proxy: MitmProxy;
  readonly #clientId: string;
  readonly #sink: (o: Observation) => void;

  constructor(label: string, client: SecureMqttClient, model: ClientModel, proxy: MitmProxy, clientId: string, sink: (o: Observation) => void) {
    this.label = label;
    this.client = client;
    this.model = model;
    this.#proxy = proxy;
    this.#clientId = clientId;
    this.#sink = sink;
    // Deliveries are counted from stats() (the client holds back 'message' events until connect() resolves).
    client.on('message', (topic, payload, meta) => this.delivered.push({ topic, payload: payload.slice(), meta }));
    client.on('security', (e) => {
      if (isTimerEvent(e)) {
        this.timerEvents++;
        if (this.#current) this.#current.timer++;
      } else if (this.#current) this.#current.events.push(e.code);
      else this.strayEvents.push(e);
    });
    client.on('error', (err) => this.errors.push(`${label}: ${err.name}: ${err.message}`));
  }

  /** Installs the wrapper as soon as the client has created its mqtt.js client. Call right after client.connect(). */
  start(): void {
    const poll = (): void => {
      if (this.#stopped || this.#installed) return;
      const m = this.client.mqttClient;
      if (m) this.#install(m);
      else setImmediate(poll);
    };
    poll();
  }

  stop(): void {
    this.#stopped = true;
  }

  #install(m: MqttClient): void {
    this.#installed = true;
    const inner = m.handleMessage.bind(m);
    m.on('connect', (connack) => this.model.onConnect(connack.sessionPresent));
    m.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void): void => {
      const started = Date.now();
      const payload = packetBytes(packet);
      const { conn, n } = this.#locate(packet);
      const record = conn !== undefined && n !== undefined ? this.#proxy.connectionById(conn)?.takeRecord(n) : undefined;
      this.model.predict(packet.topic, payload, packet.retain).then(
        (prediction) => {
          const bucket = { timer: 0, events: [] as ReasonCode[] };
          this.#current = bucket;
          const before = this.client.stats();
          inner(packet, (err?: Error) => {
            this.#current = undefined;
            this.processed++;
            const after = this.client.stats();
            const observed = emptyDelta();
            observed.delivered = after.delivered - before.delivered;
            observed.duplicates = after.duplicates - before.duplicates;
            for (const code of bucket.events) addOutcome(observed, code);
            this.#sink({
              label: this.label,
              conn,
              n,
              topic: packet.topic,
              bytes: payload.length,
              retained: packet.retain,
              record,
              prediction,
              observed,
              lagMs: record ? started - record.at : undefined,
            });
            done(err);
          });
        },
        (err: unknown) => {
          this.errors.push(`${this.label}: the model failed: ${(err as Error).stack ?? String(err)}`);
          inner(packet, done);
        },
      );
    };
  }

  /** Which proxy connection and which of its PUBLISH packets this is: the tag (MQTT 5) or the arrival order (3.1.1). */
  #locate(packet: IPublishPacket): { conn: number | undefined; n: number | undefined } {
    const tagged = proxyTag(packet);
    if (tagged) return tagged;
    const conn = this.#proxy.connectionOf(this.#clientId);
    if (!conn) return { conn: undefined, n: undefined };
    const n = (this.#orderCounters.get(conn.id) ?? 0) + 1;
    this.#orderCounters.set(conn.id, n);
    return { conn: conn.id, n };
  }
}
