// An MQTT-aware man in the middle for hostile-broker tests: a TCP proxy on
// 127.0.0.1 between MQTT clients and a real broker (Mosquitto), parsing every
// packet in both directions with mqtt-packet (MQTT 3.1, 3.1.1 and 5), that
// lets a script (or the seeded random policy below) act on PUBLISH packets:
// drop, delay, duplicate, reorder, replay, redirect, rewrite, and inject
// packets of its own.
//
//   const proxy = await startMitmProxy({ brokerPort: mosquitto.port });
//   proxy.onPublish((ctx) => {                       // every PUBLISH, both directions, in order
//     if (ctx.direction === 'toClient' && rng.chance(0.01)) return ctx.drop({ kind: 'drop' });
//     ctx.forward();                                  // the original (its acknowledgement goes back)
//     ctx.forward({ topic: 'other/topic' }, { kind: 'redirect', expect: 'TOPIC_MISMATCH' }); // a copy
//   });
//   proxy.onWrite((conn, dir, out, meta) => ...);     // every PUBLISH the proxy writes, in write order
//   mqtt.connect(proxy.url) ...
//
// MQTT-level correctness. The proxy owns the packet identifiers on both of its
// sides: every QoS 1/2 PUBLISH (and SUBSCRIBE/UNSUBSCRIBE) it writes gets an
// identifier it allocated for that side, and acknowledgements are mapped back:
// - an original forwarded PUBLISH is acknowledged to its sender only when the
//   receiver acknowledges it (so QoS 1 keeps its meaning through the proxy);
// - a dropped original is acknowledged to its sender by the proxy at once (so
//   neither side keeps a packet in flight for ever);
// - copies and injected packets are proxy-owned: the receiver's
//   acknowledgements for them are swallowed (QoS 2: the proxy answers PUBREC
//   with PUBREL itself);
// - a PUBLISH written at QoS 0 whose original needed an acknowledgement is
//   acknowledged by the proxy when written.
// Topic aliases are switched off (topicAliasMaximum is removed from CONNECT
// and CONNACK), so every PUBLISH carries its topic and a redirect is a plain
// rewrite.
//
// Ordering. Packets from each side are handled one at a time, in arrival
// order; the onPublish hook may be async (the next packet waits). Everything
// the proxy writes to one side goes through one ordered write queue, through
// the onWrite hook (which may be async too, and may veto a write), so the
// order in which a client receives PUBLISH packets is exactly the order in
// which onWrite saw them. Delayed and held writes join that queue when they
// are released.
//
// Tagging. To MQTT 5 clients every PUBLISH carries a user property
// `x-mitm` = "<connection id>:<n>", n counting the PUBLISH packets written to
// that client; records(n) returns what the proxy did (kind, expectation,
// injected or not), so a test can match each packet the client processes with
// the record of what it is. MQTT 3.1.1 clients get no property: match by order.
//
// Attack log. Every write, drop and injection that carries a `kind` is logged
// (kind, expectation, connection, topic, time); counts() sums them by kind.

import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { generate, parser as mqttParser, type IPublishPacket, type Packet, type Parser } from 'mqtt-packet';
import { LOOPBACK } from './ports.js';

export type Direction = 'toClient' | 'toBroker';
export type QoS = 0 | 1 | 2;

/** A PUBLISH as the proxy writes it. */
export interface OutPublish {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly properties?: IPublishPacket['properties'];
}

/** What a write is, for the log and for the onWrite hook. Free-form beyond kind/expect. */
export interface WriteMeta {
  /** The attack or action kind ('replay', 'bitflip', ...); absent for plain forwarding. */
  readonly kind?: string;
  /** The outcome the script expects at the receiver (a reason code, 'duplicate', 'deliver', ...). */
  readonly expect?: string;
  readonly [key: string]: unknown;
}

/** What the proxy wrote (or dropped): one entry of the attack log. */
export interface LogEntry {
  readonly at: number;
  readonly conn: number;
  readonly clientId: string | undefined;
  readonly direction: Direction;
  readonly action: 'write' | 'drop' | 'skip' | 'raw';
  readonly kind: string;
  readonly expect: string | undefined;
  readonly topic: string | undefined;
  readonly bytes: number;
  /** The tag (n) of a PUBLISH written to a client. */
  readonly n: number | undefined;
}

/** What the proxy knows about the n-th PUBLISH written to a client. */
export interface DeliveryRecord {
  readonly n: number;
  /** When the proxy wrote it (ms since 1970). */
  readonly at: number;
  readonly topic: string;
  readonly qos: QoS;
  readonly retain: boolean;
  /** False for the original of a forwarded packet, true for copies and injections. */
  readonly injected: boolean;
  /** The meta after onWrite (which may add to it, e.g. an expected outcome). */
  readonly meta: WriteMeta;
}

/** Returned by onWrite: replace the meta (e.g. add an expectation), or veto the write. */
export type WriteDecision = { readonly skip: true; readonly reason?: string } | { readonly skip?: false; readonly meta?: WriteMeta } | void;

export type WriteHook = (conn: MitmConnection, direction: Direction, out: OutPublish, meta: WriteMeta, injected: boolean) => WriteDecision | Promise<WriteDecision>;

/** One PUBLISH on its way through the proxy. Call at most one of forward/later/hold/drop for the original; more calls write copies. */
export interface PublishContext {
  readonly conn: MitmConnection;
  readonly direction: Direction;
  /** The packet as received (payload is a copy the hook may keep). */
  readonly packet: OutPublish & { readonly messageId: number | undefined };
  /** Writes the packet (with changes) now. The first of forward/later/hold writes the original; later calls write copies. */
  forward(change?: Partial<OutPublish>, meta?: WriteMeta): void;
  /** Writes it after `ms`. */
  later(ms: number, change?: Partial<OutPublish>, meta?: WriteMeta): void;
  /** Writes it when the returned function is called (reordering); never, if the connection closes first. */
  hold(change?: Partial<OutPublish>, meta?: WriteMeta): () => void;
  /** The original is not written (its sender is acknowledged by the proxy). */
  drop(meta?: WriteMeta): void;
}

export type PublishHook = (ctx: PublishContext) => void | Promise<void>;

export interface MitmProxyOptions {
  readonly brokerPort: number;
  readonly brokerHost?: string;
  /** Tag PUBLISH packets to MQTT 5 clients with the `x-mitm` user property (default true). */
  readonly tag?: boolean;
  /** Keep delivery records for tagged packets until taken (default true). */
  readonly records?: boolean;
  /** Keep at most this many log entries (oldest dropped; counts() still counts all). Default 200,000. */
  readonly maxLog?: number;
}

export const TAG_PROPERTY = 'x-mitm';

/** Packet identifiers 1..65535 for one side of one connection. */
class IdSpace {
  #next = 1;
  readonly #used = new Set<number>();

  alloc(): number {
    if (this.#used.size >= 65535) throw new Error('mitm-proxy: every packet identifier is in use');
    for (;;) {
      const id = this.#next;
      this.#next = id === 65535 ? 1 : id + 1;
      if (!this.#used.has(id)) {
        this.#used.add(id);
        return id;
      }
    }
  }

  free(id: number): void {
    this.#used.delete(id);
  }
}

/** The sender's side of an original PUBLISH that awaits an acknowledgement. */
interface Source {
  readonly id: number;
  readonly qos: QoS;
}

/** Where an acknowledgement for a PUBLISH/SUBSCRIBE the proxy wrote must go. */
interface Pending {
  readonly cmd: 'publish' | 'subscribe' | 'unsubscribe';
  /** The sender's identifier of the original, or undefined for a proxy-owned packet. */
  readonly source: number | undefined;
  readonly qos: QoS;
}

const other = (d: Direction): Direction => (d === 'toClient' ? 'toBroker' : 'toClient');

export class MitmConnection {
  readonly id: number;
  clientId: string | undefined;
  protocolVersion: 3 | 4 | 5 = 4;
  readonly openedAt = Date.now();
  #closed = false;
  readonly #proxy: MitmProxy;
  readonly #client: Socket;
  readonly #broker: Socket;
  readonly #fromClient: Parser;
  #fromBroker: Parser | undefined;
  readonly #brokerBacklog: Buffer[] = [];
  /** Identifiers the proxy uses when writing to the client / to the broker. */
  readonly #ids: Record<Direction, IdSpace> = { toClient: new IdSpace(), toBroker: new IdSpace() };
  /** Packets the proxy wrote to a side and awaits an acknowledgement for, by the identifier it used. */
  readonly #pending: Record<Direction, Map<number, Pending>> = { toClient: new Map(), toBroker: new Map() };
  /** QoS 2 originals: the sender's identifier -> the identifier the proxy used on the other side (for PUBREL). */
  readonly #qos2: Record<Direction, Map<number, number>> = { toClient: new Map(), toBroker: new Map() };
  /** QoS 2 originals the proxy dropped (it answered PUBREC itself; it answers the PUBREL with PUBCOMP). */
  readonly #qos2Dropped: Record<Direction, Set<number>> = { toClient: new Set(), toBroker: new Set() };
  /** Ordered processing of incoming packets, per source side. */
  readonly #inQueue: Record<Direction, Promise<void>> = { toClient: Promise.resolve(), toBroker: Promise.resolve() };
  /** Ordered writes, per destination side. */
  readonly #outQueue: Record<Direction, Promise<void>> = { toClient: Promise.resolve(), toBroker: Promise.resolve() };
  readonly #outDepth: Record<Direction, number> = { toClient: 0, toBroker: 0 };
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #records = new Map<number, DeliveryRecord>();
  #published = 0;
  readonly #closeListeners: (() => void)[] = [];

  constructor(id: number, proxy: MitmProxy, client: Socket, broker: Socket) {
    this.id = id;
    this.#proxy = proxy;
    this.#client = client;
    this.#broker = broker;
    this.#fromClient = mqttParser();
    this.#fromClient.on('packet', (p: Packet) => this.#incoming('toBroker', p));
    this.#fromClient.on('error', (err: Error) => this.#fail(`client sent an invalid packet: ${err.message}`));
    client.on('data', (d: Buffer) => this.#fromClient.parse(d));
    broker.on('data', (d: Buffer) => {
      if (this.#fromBroker) this.#fromBroker.parse(d);
      else this.#brokerBacklog.push(d);
    });
    for (const s of [client, broker]) {
      s.setNoDelay(true);
      s.on('error', () => this.destroy());
      s.on('close', () => this.destroy());
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** PUBLISH packets written to the client so far (the last tag). */
  get publishedToClient(): number {
    return this.#published;
  }

  /** Packets waiting in the write queue towards `direction`. */
  backlog(direction: Direction): number {
    return this.#outDepth[direction];
  }

  /** The record of the n-th PUBLISH written to the client (removed when taken). */
  takeRecord(n: number): DeliveryRecord | undefined {
    const r = this.#records.get(n);
    this.#records.delete(n);
    return r;
  }

  /** Records not taken yet. */
  untakenRecords(): DeliveryRecord[] {
    return [...this.#records.values()];
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#closeListeners.push(listener);
  }

  /** Writes a proxy-owned PUBLISH towards `direction` (QoS 1/2 get a proxy identifier; their acks are swallowed). */
  inject(direction: Direction, out: Partial<OutPublish> & { topic: string; payload: Uint8Array }, meta: WriteMeta = {}): void {
    this.#enqueueWrite(direction, normalise(out), meta, undefined, true);
  }

  /** Writes any MQTT packet towards `direction` as is (no identifier mapping): e.g. spurious acknowledgements. */
  injectPacket(direction: Direction, packet: Packet, meta: WriteMeta = {}): void {
    this.#serialWrite(direction, async () => {
      this.#proxy.record(this, direction, 'raw', meta, undefined, 0, undefined);
      this.#send(direction, packet);
    });
  }

  /** Writes raw bytes towards `direction` (invalid MQTT: the receiver will drop the connection). */
  injectBytes(direction: Direction, bytes: Uint8Array, meta: WriteMeta = {}): void {
    this.#serialWrite(direction, async () => {
      this.#proxy.record(this, direction, 'raw', meta, undefined, bytes.length, undefined);
      this.#socket(direction).write(bytes);
    });
  }

  /** Resolves once every write queued so far towards `direction` has been written (and the socket drained). */
  flushed(direction: Direction): Promise<void> {
    return new Promise<void>((resolve) => this.#serialWrite(direction, async () => resolve(), () => resolve()));
  }

  /** Closes both sides at once (a network fault). */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#client.destroy();
    this.#broker.destroy();
    for (const l of this.#closeListeners.splice(0)) l();
    this.#proxy.forget(this);
  }

  // ------------------------------------------------------------ internals

  #socket(direction: Direction): Socket {
    return direction === 'toClient' ? this.#client : this.#broker;
  }

  #fail(reason: string): void {
    this.#proxy.record(this, 'toBroker', 'raw', { kind: 'protocol-error', note: reason }, undefined, 0, undefined);
    this.destroy();
  }

  #send(direction: Direction, packet: Packet): void {
    if (this.#closed) return;
    let bytes: Buffer;
    try {
      bytes = generate(packet, { protocolVersion: this.protocolVersion });
    } catch (err) {
      this.#fail(`cannot encode ${packet.cmd}: ${(err as Error).message}`);
      return;
    }
    this.#socket(direction).write(bytes);
  }

  /** Runs `task` in the write queue towards `direction`; waits for the socket to drain after it. */
  #serialWrite(direction: Direction, task: () => Promise<void>, onClosed?: () => void): void {
    this.#outDepth[direction]++;
    const src = this.#socket(other(direction));
    if (this.#outDepth[direction] > 2000) src.pause();
    this.#outQueue[direction] = this.#outQueue[direction]
      .then(async () => {
        if (this.#closed) {
          onClosed?.();
          return;
        }
        await task();
        const sock = this.#socket(direction);
        if (sock.writableNeedDrain && !this.#closed) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              sock.off('drain', done);
              sock.off('close', done);
              resolve();
            };
            sock.on('drain', done);
            sock.on('close', done);
          });
        }
      })
      .catch((err: unknown) => this.#fail(`write failed: ${(err as Error).message}`))
      .finally(() => {
        this.#outDepth[direction]--;
        if (this.#outDepth[direction] < 200 && !this.#closed) src.resume();
      });
  }

  /** Queues a PUBLISH towards `direction`: `source` is the sender's side of an original awaiting an ack. */
  #enqueueWrite(direction: Direction, out: OutPublish, meta: WriteMeta, source: Source | undefined, injected: boolean): void {
    this.#serialWrite(
      direction,
      async () => {
        const decision = await this.#proxy.beforeWrite(this, direction, out, meta, injected);
        if (this.#closed) return;
        if (decision && decision.skip) {
          this.#proxy.record(this, direction, 'skip', meta, out.topic, out.payload.length, undefined);
          if (source !== undefined) this.#ackSource(other(direction), source);
          return;
        }
        const finalMeta = (decision && decision.meta) ?? meta;
        // An original written at another QoS cannot carry its sender's acknowledgement: the proxy gives it now.
        if (source !== undefined && source.qos !== out.qos) {
          this.#ackSource(other(direction), source);
          source = undefined;
        }
        this.#writePublish(direction, out, finalMeta, source, injected);
      },
      () => {
        // Closed before the write: nothing to acknowledge (the sender's connection is gone too).
      },
    );
  }

  #writePublish(direction: Direction, out: OutPublish, meta: WriteMeta, source: Source | undefined, injected: boolean): void {
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: out.topic,
      payload: Buffer.from(out.payload.buffer, out.payload.byteOffset, out.payload.byteLength),
      qos: out.qos,
      retain: out.retain,
      dup: out.dup,
    };
    let n: number | undefined;
    if (direction === 'toClient') {
      n = ++this.#published;
      if (this.#proxy.keepRecords) {
        this.#records.set(n, Object.freeze({ n, at: Date.now(), topic: out.topic, qos: out.qos, retain: out.retain, injected, meta }));
      }
    }
    if (this.protocolVersion === 5) {
      const properties = { ...(out.properties ?? {}) };
      delete properties.topicAlias;
      if (direction === 'toClient' && this.#proxy.tagging) {
        properties.userProperties = { ...(properties.userProperties ?? {}), [TAG_PROPERTY]: `${this.id}:${n}` };
      }
      if (Object.keys(properties).length > 0) packet.properties = properties;
    }
    if (out.qos > 0) {
      const id = this.#ids[direction].alloc();
      packet.messageId = id;
      this.#pending[direction].set(id, { cmd: 'publish', source: source?.id, qos: out.qos });
      if (source !== undefined && out.qos === 2) this.#qos2[direction].set(source.id, id);
    }
    this.#proxy.record(this, direction, 'write', meta, out.topic, out.payload.length, n);
    this.#send(direction, packet);
  }

  /** Acknowledges an original the proxy will not (or not at the same QoS) deliver, to its sender on side `toSender`. */
  #ackSource(toSender: Direction, source: Source): void {
    if (source.qos === 1) {
      this.#serialWrite(toSender, async () => this.#send(toSender, { cmd: 'puback', messageId: source.id }));
    } else if (source.qos === 2) {
      this.#qos2Dropped[toSender].add(source.id);
      this.#serialWrite(toSender, async () => this.#send(toSender, { cmd: 'pubrec', messageId: source.id }));
    }
  }

  /** A packet arrived travelling towards `direction` (from the other side). */
  #incoming(direction: Direction, packet: Packet): void {
    this.#inQueue[direction] = this.#inQueue[direction]
      .then(() => this.#handle(direction, packet))
      .catch((err: unknown) => this.#fail(`handling ${packet.cmd} failed: ${(err as Error).stack ?? String(err)}`));
  }

  async #handle(direction: Direction, packet: Packet): Promise<void> {
    if (this.#closed) return;
    const back = other(direction); // the side the packet came from
    switch (packet.cmd) {
      case 'connect': {
        this.clientId = packet.clientId;
        this.protocolVersion = (packet.protocolVersion ?? 4) as 3 | 4 | 5;
        if (packet.properties) delete packet.properties.topicAliasMaximum;
        this.#fromBroker = mqttParser({ protocolVersion: this.protocolVersion });
        this.#fromBroker.on('packet', (p: Packet) => this.#incoming('toClient', p));
        this.#fromBroker.on('error', (err: Error) => this.#fail(`broker sent an invalid packet: ${err.message}`));
        this.#serialWrite(direction, async () => this.#send(direction, packet));
        for (const d of this.#brokerBacklog.splice(0)) this.#fromBroker.parse(d);
        return;
      }
      case 'connack': {
        if (packet.properties) delete packet.properties.topicAliasMaximum;
        this.#serialWrite(direction, async () => this.#send(direction, packet));
        return;
      }
      case 'publish':
        await this.#publish(direction, packet);
        return;
      case 'puback':
      case 'pubcomp': {
        // Acknowledges a PUBLISH the proxy wrote to the side it came from.
        const id = packet.messageId ?? 0;
        const p = this.#pending[back].get(id);
        if (!p) return; // unknown or proxy-owned QoS 2 completion: swallowed
        this.#pending[back].delete(id);
        this.#ids[back].free(id);
        if (p.source !== undefined) {
          if (p.qos === 2) this.#qos2[back].delete(p.source);
          this.#serialWrite(direction, async () => this.#send(direction, { ...packet, messageId: p.source }));
        }
        return;
      }
      case 'pubrec': {
        const id = packet.messageId ?? 0;
        const p = this.#pending[back].get(id);
        if (!p) return;
        if (p.source !== undefined) {
          this.#serialWrite(direction, async () => this.#send(direction, { ...packet, messageId: p.source }));
        } else {
          // Proxy-owned QoS 2: complete it ourselves.
          this.#serialWrite(back, async () => this.#send(back, { cmd: 'pubrel', messageId: id }));
        }
        return;
      }
      case 'pubrel': {
        // The sender of a QoS 2 original releases it: map to the identifier the proxy used on the other side.
        const source = packet.messageId ?? 0;
        if (this.#qos2Dropped[back].delete(source)) {
          this.#serialWrite(back, async () => this.#send(back, { cmd: 'pubcomp', messageId: source }));
          return;
        }
        const id = this.#qos2[direction].get(source);
        if (id === undefined) {
          this.#serialWrite(back, async () => this.#send(back, { cmd: 'pubcomp', messageId: source }));
          return;
        }
        this.#serialWrite(direction, async () => this.#send(direction, { ...packet, messageId: id }));
        return;
      }
      case 'subscribe':
      case 'unsubscribe': {
        const id = this.#ids[direction].alloc();
        this.#pending[direction].set(id, { cmd: packet.cmd, source: packet.messageId, qos: 1 });
        this.#serialWrite(direction, async () => this.#send(direction, { ...packet, messageId: id }));
        return;
      }
      case 'suback':
      case 'unsuback': {
        const id = packet.messageId ?? 0;
        const p = this.#pending[back].get(id);
        if (!p) return;
        this.#pending[back].delete(id);
        this.#ids[back].free(id);
        if (p.source !== undefined) this.#serialWrite(direction, async () => this.#send(direction, { ...packet, messageId: p.source }));
        return;
      }
      default:
        this.#serialWrite(direction, async () => this.#send(direction, packet));
    }
  }

  async #publish(direction: Direction, packet: IPublishPacket): Promise<void> {
    const payload = typeof packet.payload === 'string' ? new TextEncoder().encode(packet.payload) : new Uint8Array(packet.payload);
    const properties = packet.properties ? { ...packet.properties } : undefined;
    if (properties?.userProperties && TAG_PROPERTY in properties.userProperties) {
      const { [TAG_PROPERTY]: _dropped, ...rest } = properties.userProperties;
      properties.userProperties = rest;
    }
    const original: OutPublish = {
      topic: packet.topic,
      payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      ...(properties ? { properties } : {}),
    };
    const source: Source | undefined = packet.qos > 0 && packet.messageId !== undefined ? { id: packet.messageId, qos: packet.qos } : undefined;
    let originalUsed = false;
    let dropped = false;
    /** The first write of the packet is its original (it carries the acknowledgement); later ones are copies. */
    const take = (): { original: boolean; source: Source | undefined } => {
      if (originalUsed || dropped) return { original: false, source: undefined };
      originalUsed = true;
      return { original: true, source };
    };
    const build = (change?: Partial<OutPublish>): OutPublish => ({ ...original, ...(change ?? {}) });
    const ctx: PublishContext = {
      conn: this,
      direction,
      packet: { ...original, messageId: packet.messageId },
      forward: (change, meta = {}) => {
        const t = take();
        this.#enqueueWrite(direction, build(change), meta, t.source, !t.original);
      },
      later: (ms, change, meta = {}) => {
        const t = take();
        const out = build(change);
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#enqueueWrite(direction, out, meta, t.source, !t.original);
        }, ms);
        this.#timers.add(timer);
      },
      hold: (change, meta = {}) => {
        const t = take();
        const out = build(change);
        let released = false;
        return () => {
          if (released || this.#closed) return;
          released = true;
          this.#enqueueWrite(direction, out, meta, t.source, !t.original);
        };
      },
      drop: (meta = {}) => {
        if (originalUsed || dropped) return;
        dropped = true;
        this.#proxy.record(this, direction, 'drop', { kind: 'drop', ...meta }, original.topic, original.payload.length, undefined);
      },
    };
    await this.#proxy.runHook(ctx);
    if (!originalUsed && !dropped) ctx.forward();
    if (dropped && source !== undefined) this.#ackSource(other(direction), source);
  }
}

function normalise(out: Partial<OutPublish> & { topic: string; payload: Uint8Array }): OutPublish {
  return {
    topic: out.topic,
    payload: out.payload,
    qos: out.qos ?? 0,
    retain: out.retain ?? false,
    dup: out.dup ?? false,
    ...(out.properties ? { properties: out.properties } : {}),
  };
}

export class MitmProxy {
  readonly port: number;
  readonly tagging: boolean;
  readonly keepRecords: boolean;
  readonly #server: Server;
  readonly #brokerPort: number;
  readonly #brokerHost: string;
  readonly #conns = new Set<MitmConnection>();
  /** Every connection ever accepted (closed ones too: their records may still be taken). */
  readonly #all = new Map<number, MitmConnection>();
  readonly #log: LogEntry[] = [];
  readonly #maxLog: number;
  readonly #counts = new Map<string, { write: number; drop: number; skip: number; raw: number }>();
  #nextId = 1;
  #publishHook: PublishHook | undefined;
  #writeHook: WriteHook | undefined;
  readonly #connectionListeners: ((conn: MitmConnection) => void)[] = [];
  #closed = false;

  private constructor(server: Server, port: number, options: MitmProxyOptions) {
    this.#server = server;
    this.port = port;
    this.#brokerPort = options.brokerPort;
    this.#brokerHost = options.brokerHost ?? LOOPBACK;
    this.tagging = options.tag ?? true;
    this.keepRecords = options.records ?? true;
    this.#maxLog = options.maxLog ?? 200_000;
  }

  static async start(options: MitmProxyOptions): Promise<MitmProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: LOOPBACK, exclusive: true }, () => resolve());
    });
    const proxy = new MitmProxy(server, (server.address() as AddressInfo).port, options);
    server.on('connection', (client) => proxy.#accept(client));
    return proxy;
  }

  /** `mqtt://127.0.0.1:PORT` */
  get url(): string {
    return `mqtt://${LOOPBACK}:${this.port}`;
  }

  /** Open connections, oldest first. */
  get connections(): MitmConnection[] {
    return [...this.#conns];
  }

  /** The newest open connection of an MQTT client id. */
  connectionOf(clientId: string): MitmConnection | undefined {
    let found: MitmConnection | undefined;
    for (const c of this.#conns) if (c.clientId === clientId) found = c;
    return found;
  }

  /** A connection by id, open or closed. */
  connectionById(id: number): MitmConnection | undefined {
    return this.#all.get(id);
  }

  /** Sets the hook for every PUBLISH (both directions). Without one, everything is forwarded as is. */
  onPublish(hook: PublishHook | undefined): void {
    this.#publishHook = hook;
  }

  /** Sets the hook every PUBLISH write goes through (in write order, per direction and connection). */
  onWrite(hook: WriteHook | undefined): void {
    this.#writeHook = hook;
  }

  onConnection(listener: (conn: MitmConnection) => void): void {
    this.#connectionListeners.push(listener);
  }

  /** The attack log (the newest `maxLog` entries). */
  log(): readonly LogEntry[] {
    return this.#log;
  }

  /** Writes, drops, vetoed writes and raw injections by kind (every entry ever logged). */
  counts(): Record<string, { write: number; drop: number; skip: number; raw: number }> {
    return Object.fromEntries([...this.#counts].map(([k, v]) => [k, { ...v }]));
  }

  /** Stops accepting, closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#conns]) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ------------------------------------------- used by MitmConnection

  /** @internal */
  async runHook(ctx: PublishContext): Promise<void> {
    if (this.#publishHook) await this.#publishHook(ctx);
  }

  /** @internal */
  async beforeWrite(conn: MitmConnection, direction: Direction, out: OutPublish, meta: WriteMeta, injected: boolean): Promise<WriteDecision> {
    return this.#writeHook ? await this.#writeHook(conn, direction, out, meta, injected) : undefined;
  }

  /** @internal */
  record(conn: MitmConnection, direction: Direction, action: LogEntry['action'], meta: WriteMeta, topic: string | undefined, bytes: number, n: number | undefined): void {
    const kind = meta.kind;
    if (kind === undefined) return;
    let c = this.#counts.get(kind);
    if (!c) this.#counts.set(kind, (c = { write: 0, drop: 0, skip: 0, raw: 0 }));
    c[action]++;
    if (this.#log.length >= this.#maxLog) this.#log.splice(0, this.#log.length - this.#maxLog + 1);
    this.#log.push(
      Object.freeze({ at: Date.now(), conn: conn.id, clientId: conn.clientId, direction, action, kind, expect: meta.expect, topic, bytes, n }),
    );
  }

  /** @internal */
  forget(conn: MitmConnection): void {
    this.#conns.delete(conn);
  }

  #accept(client: Socket): void {
    if (this.#closed) {
      client.destroy();
      return;
    }
    const broker = netConnect({ port: this.#brokerPort, host: this.#brokerHost });
    // Bytes from the client before the broker is reachable are buffered by the socket.
    const conn = new MitmConnection(this.#nextId++, this, client, broker);
    this.#conns.add(conn);
    this.#all.set(conn.id, conn);
    for (const l of this.#connectionListeners) l(conn);
  }
}

export function startMitmProxy(options: MitmProxyOptions): Promise<MitmProxy> {
  return MitmProxy.start(options);
}

// ------------------------------------------------------------------ helpers

/** A small seeded PRNG (xorshift128+ on 32-bit halves via sfc32): reproducible attack schedules. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** Uniform in [0, 2^32). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let x = this.float() * total;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** A copy of `bytes` with bit `bit` (0 = most significant bit of byte 0) flipped. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  const i = Math.floor(bit / 8);
  if (i >= out.length) throw new RangeError(`bit ${bit} is beyond ${out.length} bytes`);
  out[i]! ^= 0x80 >>> bit % 8;
  return out;
}

/** The first `length` bytes. */
export function truncate(bytes: Uint8Array, length: number): Uint8Array {
  return bytes.slice(0, Math.max(0, Math.min(length, bytes.length)));
}

/** `bytes` followed by `extra`. */
export function extend(bytes: Uint8Array, extra: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + extra.length);
  out.set(bytes);
  out.set(extra, bytes.length);
  return out;
}

/** The first `headerLength` bytes of `head` followed by `body` from offset `bodyOffset`. */
export function splice(head: Uint8Array, headerLength: number, body: Uint8Array, bodyOffset: number): Uint8Array {
  return extend(head.subarray(0, headerLength), body.subarray(bodyOffset));
}

/** `bytes` with `replacement` written at `offset` (same length). */
export function overwrite(bytes: Uint8Array, offset: number, replacement: Uint8Array): Uint8Array {
  const out = bytes.slice();
  out.set(replacement.subarray(0, Math.max(0, out.length - offset)), offset);
  return out;
}

export interface RandomPolicyRates {
  readonly drop?: number;
  readonly delay?: number;
  readonly duplicate?: number;
  readonly reorder?: number;
  readonly replay?: number;
  readonly flip?: number;
  readonly truncate?: number;
  readonly extend?: number;
  readonly redirect?: number;
}

export interface RandomPolicyOptions {
  readonly seed: number;
  readonly rates: RandomPolicyRates;
  /** Which packets to act on (default: every PUBLISH towards a client). */
  readonly select?: (ctx: PublishContext) => boolean;
  /** Topics a redirect may use, given the original topic. */
  readonly redirectTo?: (topic: string) => string | undefined;
  /** Maximum delay (ms) of delay and replay actions (default 300). */
  readonly maxDelayMs?: number;
  /** The expected outcome of an action, for the log (default none). */
  readonly expect?: (kind: string, original: OutPublish, written: OutPublish) => string | undefined;
}

/**
 * A seeded random policy over the proxy's primitives: per selected PUBLISH,
 * with the given probabilities, drop it, delay it, duplicate it, hold it until
 * the next one (reorder), replay an earlier one, or forward it plus a mutated
 * copy (bit flip, truncation, extension, redirect). Reproducible for a seed
 * and a packet sequence.
 */
export function randomPolicy(options: RandomPolicyOptions): PublishHook {
  const rng = new Rng(options.seed);
  const r = options.rates;
  const maxDelay = options.maxDelayMs ?? 300;
  const history: OutPublish[] = [];
  const heldByConn = new Map<number, () => void>();
  const select = options.select ?? ((ctx: PublishContext) => ctx.direction === 'toClient');
  return (ctx) => {
    const releasePrevious = heldByConn.get(ctx.conn.id);
    if (!select(ctx)) {
      ctx.forward();
      return;
    }
    const p = ctx.packet;
    const meta = (kind: string, written: OutPublish): WriteMeta => ({ kind, expect: options.expect?.(kind, p, written) });
    const x = rng.float();
    let acc = 0;
    const hit = (rate: number | undefined): boolean => {
      acc += rate ?? 0;
      return x < acc;
    };
    if (hit(r.drop)) ctx.drop({ kind: 'drop' });
    else if (hit(r.delay)) ctx.later(rng.int(maxDelay), undefined, { kind: 'delay' });
    else if (hit(r.reorder) && !releasePrevious) heldByConn.set(ctx.conn.id, ctx.hold(undefined, { kind: 'reorder' }));
    else {
      ctx.forward();
      const copy = (kind: string, change: Partial<OutPublish>): void => {
        const written = { ...p, ...change };
        ctx.forward(change, meta(kind, written));
      };
      if (hit(r.duplicate)) copy('duplicate', {});
      else if (hit(r.replay) && history.length > 0) {
        const old = rng.pick(history);
        const written = { ...old };
        ctx.conn.inject(ctx.direction, written, meta('replay', written));
      } else if (hit(r.flip) && p.payload.length > 0) copy('bitflip', { payload: flipBit(p.payload, rng.int(p.payload.length * 8)) });
      else if (hit(r.truncate)) copy('truncate', { payload: truncate(p.payload, rng.int(p.payload.length)) });
      else if (hit(r.extend)) copy('extend', { payload: extend(p.payload, rng.bytes(rng.range(1, 64))) });
      else if (hit(r.redirect)) {
        const to = options.redirectTo?.(p.topic);
        if (to !== undefined) copy('redirect', { topic: to });
      }
    }
    if (releasePrevious && heldByConn.get(ctx.conn.id) === releasePrevious) {
      heldByConn.delete(ctx.conn.id);
      releasePrevious();
    }
    history.push({ ...p });
    if (history.length > 1024) history.shift();
  };
}
