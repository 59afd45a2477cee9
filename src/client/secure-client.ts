// SecureMqttClient: mqtt.js with every payload sealed on the way out and
// verified on the way in. The MQTT side (connection, reconnect, QoS, offline
// queue) is mqtt.js's; this class adds the envelope, key distribution on the
// reserved control topics, typed errors, bounded waits and security events.
//
// Inbound messages are handled in mqtt.js's handleMessage hook, which mqtt.js
// runs one packet at a time and before it acknowledges a QoS 1/2 message: a
// message is verified and delivered to the application before the broker is
// told it arrived, so a crash in between loses nothing (it is redelivered and
// the replay window drops the copy if it had been delivered).

import mqtt from 'mqtt';
import type { IClientOptions, IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { init } from '../../bindings/index.js';
import { createAnnouncement, acceptAnnouncement } from '../certs/announce.js';
import { decodeCertificate, type Certificate } from '../certs/certificate.js';
import { TrustStore } from '../certs/trust-store.js';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, REASONS, SecurityError, type ReasonCode } from '../errors.js';
import { validateTopicFilter, validateTopicName } from '../topic/grammar.js';
import { filtersOverlap } from '../protocol/channels.js';
import { KeyManager, type DataMessage, type KeyGrant, type RotationEvent } from '../protocol/key-manager.js';
import { decodeGroup } from '../protocol/group.js';
import { claimedSender } from '../protocol/peek.js';
import { ENVELOPE_TYPE, FLAGS } from '../protocol/envelope.js';
import { MANIFEST_TYPE } from '../protocol/amortised.js';
import type { AmortisedPrefetch, AmortisedResult, ManifestToSend } from '../protocol/amortised-manager.js';
import { WorkerSigner } from '../worker/worker-signer.js';
import { MemoryStorage } from '../storage/memory.js';
import { Semaphore } from '../util/semaphore.js';
import { withTimeout } from '../util/timeout.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { ControlTopics } from './control-topics.js';
import { ConnectionError, PublishError, SubscribeError } from './errors.js';
import { CLIENT_DEFAULTS, type SecureClientOptions, type SecurePublishOptions, type SecureSubscribeOptions } from './options.js';

/** Amortised messages acknowledged on arrival and still queued, at most (see #enqueueInbound). */
const MAX_EARLY_ACKS = 64;

/** What `message` listeners learn about a verified message besides topic and payload. */
export interface MessageMeta {
  /** The verified sender's subject id. */
  readonly sender: string;
  readonly certificate: Certificate;
  /** 'group' (channel epoch key) or 'direct' (sealed for us alone). */
  readonly kind: 'group' | 'direct';
  readonly channel?: string;
  readonly epoch?: number;
  readonly seq: number;
  /** The sender's timestamp (ms since epoch). */
  readonly timestamp: number;
  readonly retained: boolean;
  readonly qos: 0 | 1 | 2;
}

/** A rejected message: never thrown, always reported. */
export interface SecurityEvent {
  readonly code: ReasonCode;
  readonly topic: string;
  readonly sender?: string;
  readonly message: string;
  readonly error: SecurityError;
}

export interface ClientStats {
  delivered: number;
  duplicates: number;
  held: number;
  rejected: Partial<Record<ReasonCode, number>>;
  grantsSent: number;
  grantsAccepted: number;
  keyRequestsSent: number;
}

export type SecureClientEvents = {
  connect: [{ readonly sessionPresent: boolean }];
  reconnect: [];
  close: [];
  offline: [];
  end: [];
  error: [Error];
  message: [string, Uint8Array, MessageMeta];
  security: [SecurityEvent];
  /** A channel of ours moved to a new epoch (rotation by count, time or revocation). */
  rotated: [RotationEvent];
};

/** Treats anything thrown while handling a message as a security event with a code. */
function asSecurityError(err: unknown, topic: string): SecurityError {
  if (err instanceof SecurityError) return err;
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new SecurityError('MALFORMED', { topic, detail });
}

const bytesOf = (payload: Uint8Array): Uint8Array => new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);

/** A message (data, command, grant or key request) from a sender whose certificate announcement has not arrived yet. */
interface AwaitingCertificate {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retained: boolean;
  readonly qos: 0 | 1 | 2;
  readonly since: number;
}


// Brokers deliver retained certificate announcements asynchronously after the
// SUBACK, so live data can overtake the announcement of its sender. Such
// messages wait (bounded in number and time) instead of being lost.
const AWAIT_CERT = Object.freeze({ maxTotal: 2_000, maxPerSender: 500, waitMs: 30_000 });

export class SecureMqttClient extends TypedEmitter<SecureClientEvents> {
  readonly id: string;
  readonly topics: ControlTopics;
  #mqtt: MqttClient | undefined;
  #keys: KeyManager | undefined;
  #signer: WorkerSigner | undefined;
  /** Manifests being signed off this thread (their publish follows): end() waits for them. */
  readonly #manifestsSigning = new Set<Promise<void>>();
  #trust: TrustStore | undefined;
  #certificate: Certificate | undefined;
  readonly #opts: SecureClientOptions;
  readonly #clock: Clock;
  readonly #inflight: Semaphore;
  readonly #subscriptions = new Map<string, 0 | 1 | 2>();
  readonly #awaitingCert = new Map<string, AwaitingCertificate[]>();
  #awaitingCount = 0;
  #queued = 0;
  #maintenance: ReturnType<typeof setInterval> | undefined;
  #manifestTimer: ReturnType<typeof setInterval> | undefined;
  #ending = false;
  #ready: Promise<void> | undefined;
  readonly #stats: ClientStats = { delivered: 0, duplicates: 0, held: 0, rejected: {}, grantsSent: 0, grantsAccepted: 0, keyRequestsSent: 0 };
  readonly #url: string;

  /**
   * `new SecureMqttClient(url, options)`, or the seed's form
   * `new SecureMqttClient(host, port, clientId, options)` (TCP, Node). Then
   * `await client.connect()`; or use connect()/connectAsync() from the package.
   */
  constructor(url: string, options: SecureClientOptions);
  constructor(host: string, port: number, clientId: string, options: SecureClientOptions);
  constructor(a: string, b: SecureClientOptions | number, c?: string, d?: SecureClientOptions) {
    super();
    let options: SecureClientOptions;
    if (typeof b === 'number') {
      if (!Number.isInteger(b) || b < 1 || b > 65535) throw new RangeError(`port must be 1..65535, got ${b}`);
      if (!d) throw new TypeError('options (identity, certificate, trustAnchor) are required');
      this.#url = `mqtt://${a}:${b}`;
      options = { ...d, mqtt: { ...d.mqtt, clientId: c ?? d.mqtt?.clientId } };
    } else {
      this.#url = a;
      options = b;
    }
    if (!options || !options.identity || !options.certificate || !options.trustAnchor) {
      throw new TypeError('options.identity, options.certificate and options.trustAnchor are required');
    }
    if (!/^(wss?|mqtts?|tcp|ssl):\/\//.test(this.#url)) {
      throw new ConnectionError('BAD_URL', `unsupported url '${this.#url}': use ws://, wss://, mqtt:// or mqtts://`);
    }
    this.#opts = options;
    this.id = options.identity.id;
    this.#clock = options.clock ?? systemClock;
    this.topics = new ControlTopics(options.controlPrefix ?? CLIENT_DEFAULTS.controlPrefix);
    this.#inflight = new Semaphore(options.maxInflight ?? CLIENT_DEFAULTS.maxInflight);
  }

  /**
   * Reports an error as an 'error' event. With no listener it is written to the
   * console instead of thrown (Node's EventEmitter would throw, which here
   * would land in mqtt.js's event loop) or silently lost.
   */
  #error(err: Error): void {
    if (!this.emit('error', err)) console.warn(`[pqc-iiot] ${err.name}: ${err.message} (listen for 'error' to handle it)`);
  }

  /** True while the MQTT connection is up. */
  get connected(): boolean {
    return this.#mqtt?.connected ?? false;
  }

  /** Counters: delivered, duplicates dropped, held awaiting keys, rejections by reason. */
  stats(): Readonly<ClientStats> {
    return { ...this.#stats, rejected: { ...this.#stats.rejected } };
  }

  /** The underlying mqtt.js client (for options this class does not mirror). */
  get mqttClient(): MqttClient | undefined {
    return this.#mqtt;
  }

  /** The key manager (epochs, subscribers), for inspection and manual rotation. */
  get keyManager(): KeyManager | undefined {
    return this.#keys;
  }

  get trustStore(): TrustStore | undefined {
    return this.#trust;
  }

  /** Connects, subscribes the control topics and announces our certificate. Resolves once all of that is done. */
  connect(): Promise<void> {
    this.#ready ??= withTimeout(
      this.#start(),
      this.#opts.timeouts?.connect ?? CLIENT_DEFAULTS.connectTimeoutMs,
      () => new ConnectionError('CONNECT_TIMEOUT', `no connection to ${this.#url} within ${this.#opts.timeouts?.connect ?? CLIENT_DEFAULTS.connectTimeoutMs} ms`),
    ).then(() => {
      // Messages a persistent session had queued arrive before connect()
      // resolves: hand them over once the caller's code after `await` has had
      // the chance to attach its 'message' listener.
      setTimeout(() => this.#openDelivery(), 0);
    }).catch((err: unknown) => {
      this.#mqtt?.end(true);
      throw err instanceof ConnectionError ? err : new ConnectionError('CONNECT_FAILED', `could not connect to ${this.#url}: ${(err as Error).message}`, { cause: err });
    });
    return this.#ready;
  }

  async #start(): Promise<void> {
    await init();
    const o = this.#opts;
    const storage = o.storage ?? new MemoryStorage();
    const now = this.#clock();
    const trust = await TrustStore.open(o.trustAnchor, { storage });
    const ownBytes = o.certificate instanceof Uint8Array ? o.certificate : o.certificate.bytes;
    let own: Certificate;
    try {
      own = await trust.addCertificate(ownBytes, now);
    } catch (err) {
      throw new ConfigError('BAD_CERTIFICATE', `our own certificate is not valid under the trust anchor: ${(err as Error).message}`, { cause: err });
    }
    if (own.subject !== o.identity.id) throw new ConfigError('IDENTITY_MISMATCH', `the certificate is for ${own.subject}, the identity is ${o.identity.id}`);
    if (o.revocationList) await trust.applyRevocationList(o.revocationList);
    for (const c of o.certificates ?? []) await trust.addCertificate(c instanceof Uint8Array ? c : c.bytes, now);
    this.#trust = trust;
    this.#certificate = own;
    if (o.signWorkers !== undefined) {
      try {
        this.#signer = await WorkerSigner.start(o.identity, o.signWorkers, (err) => this.#error(err));
      } catch (err) {
        this.#error(err instanceof Error ? err : new Error(String(err))); // signing stays on this thread
      }
    }
    const signer = this.#signer;
    const keys = await KeyManager.open({
      ...(signer !== undefined && { signer: (message: Uint8Array) => signer.sign(message) }),
      identity: o.identity,
      certificate: own,
      trust,
      storage,
      clock: this.#clock,
      ...(o.replay?.maxAgeMs !== undefined && { maxAgeMs: o.replay.maxAgeMs }),
      ...(o.replay?.clockSkewMs !== undefined && { clockSkewMs: o.replay.clockSkewMs }),
      ...(o.replay?.retainedMaxAgeMs !== undefined && { retainedMaxAgeMs: o.replay.retainedMaxAgeMs }),
      ...(o.rotation?.afterMessages !== undefined && { rotateAfterMessages: o.rotation.afterMessages }),
      ...(o.rotation?.afterMs !== undefined && { rotateAfterMs: o.rotation.afterMs }),
      ...(o.rotation?.graceMs !== undefined && { graceMs: o.rotation.graceMs }),
      ...(o.maxPayloadBytes !== undefined && { maxPayloadBytes: o.maxPayloadBytes }),
      maxHeldPerStream: o.maxHeldPerStream ?? CLIENT_DEFAULTS.maxHeldPerStream,
      grantTopic: (subscriber) => this.topics.grant(subscriber),
      ...(o.amortise !== undefined && { amortise: o.amortise }),
      ...(o.acceptAmortised !== undefined && { acceptAmortised: o.acceptAmortised }),
    });
    this.#keys = keys;
    keys.on('rotated', (event) => {
      this.emit('rotated', event);
      this.#sendGrants(event.grants);
    });
    keys.on('keyNeeded', (need) => {
      this.#stats.held++;
      this.#sendKeyRequest(need.publisher, need.channel);
    });

    const mqttOptions: IClientOptions = {
      clientId: o.mqtt?.clientId ?? `${this.id}-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 1000,
      connectTimeout: this.#opts.timeouts?.connect ?? CLIENT_DEFAULTS.connectTimeoutMs,
      ...o.mqtt,
    };
    const client = mqtt.connect(this.#url, mqttOptions);
    this.#mqtt = client;
    // Set before any packet can arrive: a persistent session's queued messages follow the CONNACK at once.
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => this.#enqueueInbound(packet, done);
    client.on('reconnect', () => this.emit('reconnect'));
    client.on('close', () => this.emit('close'));
    client.on('offline', () => this.emit('offline'));
    client.on('end', () => this.emit('end'));
    client.on('error', (err) => {
      // While closing, mqtt.js reports the socket going away ("write after end"): not news to the caller.
      if (!this.#ending) this.#error(new ConnectionError('BROKER_REFUSED', err.message, { cause: err }));
    });

    const first = new Promise<boolean>((resolve, reject) => {
      client.once('connect', (connack) => resolve(connack.sessionPresent));
      client.once('error', reject);
    });
    client.on('connect', (connack) => {
      const receiveMaximum = connack.properties?.receiveMaximum;
      if (receiveMaximum) this.#inflight.resize(Math.min(this.#opts.maxInflight ?? CLIENT_DEFAULTS.maxInflight, receiveMaximum));
      if (!connack.sessionPresent) keys.resetRetainedSession();
      void this.#onConnected(connack.sessionPresent)
        .then(() => this.emit('connect', { sessionPresent: connack.sessionPresent }))
        .catch((err: unknown) => this.#error(err instanceof Error ? err : new Error(String(err))));
    });
    const sessionPresent = await first;
    await this.#onConnected(sessionPresent);
    const interval = this.#opts.maintenanceIntervalMs ?? CLIENT_DEFAULTS.maintenanceIntervalMs;
    this.#maintenance = setInterval(() => {
      keys.maintain().catch((err: unknown) => this.#error(err instanceof Error ? err : new Error(String(err))));
      this.#expireAwaiting();
      if (keys.acceptsAmortised) this.#amortisedOutcome(keys.expireAmortised(), 1);
    }, interval);
    (this.#maintenance as { unref?: () => void }).unref?.();
    // Amortised publishing: batches that did not fill up are signed about maxDelayMs after their first message.
    const delay = o.amortise ? (o.amortise.maxDelayMs ?? 25) : undefined;
    if (delay !== undefined) {
      this.#manifestTimer = setInterval(() => this.#flushManifests(false), Math.max(1, Math.floor(delay / 2)));
      (this.#manifestTimer as { unref?: () => void }).unref?.();
    }
  }

  /** Waits for a connect() in progress; fails with `closed()` if there is none or the client ended. */
  async #whenStarted(closed: () => Error): Promise<void> {
    if (this.#ending || !this.#ready) throw closed();
    if (!this.#keys) {
      try {
        await this.#ready;
      } catch {
        throw closed();
      }
    }
    if (this.#ending) throw closed();
  }

  #connectedOnce: Promise<void> | undefined;
  /** This instance subscribed its control topics (a resumed session holds them, but only a SUBSCRIBE brings the retained announcements). */
  #controlSubscribed = false;

  /** Control subscriptions and our announcement; on every (re)connection, once per connection. */
  #onConnected(sessionPresent: boolean): Promise<void> {
    const client = this.#mqtt!;
    this.#connectedOnce ??= (async () => {
      const filters = { [this.topics.allCerts]: { qos: 1 as const }, [this.topics.crl]: { qos: 1 as const }, [this.topics.grant(this.id)]: { qos: 1 as const }, [this.topics.keyRequest(this.id)]: { qos: 1 as const } };
      // Also on this instance's first connection to a resumed session: a restarted process may not know the
      // publishers' certificates (in-memory storage), and the session would never bring their retained announcements.
      if (!sessionPresent || !this.#controlSubscribed) await client.subscribeAsync(filters);
      this.#controlSubscribed = true;
      const announcement = createAnnouncement(this.#opts.identity, this.#certificate!, { timestamp: this.#clock() });
      await client.publishAsync(this.topics.cert(this.id), announcement as never, { qos: 1, retain: true });
      // Ask the publishers we know about for the keys of our subscriptions.
      for (const [filter] of this.#subscriptions) this.#requestKeysFor(filter);
    })().finally(() => {
      this.#connectedOnce = undefined;
    });
    return this.#connectedOnce;
  }

  // --------------------------------------------------------------- publish

  /** mqtt.js-style publish; the callback gets a PublishError on failure. */
  publish(topic: string, payload: Uint8Array, options?: SecurePublishOptions, callback?: (err?: Error) => void): this;
  publish(topic: string, payload: Uint8Array, callback?: (err?: Error) => void): this;
  publish(
    topic: string,
    payload: Uint8Array,
    a?: SecurePublishOptions | ((err?: Error) => void),
    b?: (err?: Error) => void,
  ): this {
    const options = typeof a === 'function' ? {} : a ?? {};
    const callback = typeof a === 'function' ? a : b;
    this.publishAsync(topic, payload, options).then(
      () => callback?.(),
      (err: Error) => (callback ? callback(err) : this.#error(err)),
    );
    return this;
  }

  /**
   * Seals `payload` for `topic` (group key of its channel, or for one
   * recipient with `{ to }`) and publishes it. Resolves when the broker
   * acknowledged it (QoS 1/2) or it was written (QoS 0).
   * @throws PublishError INVALID_TOPIC, NOT_AUTHORISED, TOO_LARGE, QUEUE_FULL, TIMEOUT, CLOSED
   */
  async publishAsync(topic: string, payload: Uint8Array, options: SecurePublishOptions = {}): Promise<void> {
    if (!(payload instanceof Uint8Array)) throw new TypeError(`payload must be a Uint8Array, got ${typeof payload}`);
    try {
      validateTopicName(topic);
    } catch (err) {
      throw new PublishError('INVALID_TOPIC', String(topic), `cannot publish to '${topic}': ${(err as Error).message}`, { cause: err });
    }
    if (this.topics.isReserved(topic)) {
      throw new PublishError('INVALID_TOPIC', topic, `'${topic}' is under the reserved prefix '${this.topics.prefix}' (key distribution)`);
    }
    // Started and not ending: no await, so a steady stream of publishes takes no extra turn per message.
    if (this.#keys === undefined || this.#ending) await this.#whenStarted(() => new PublishError('CLOSED', topic, 'not connected: call connect() first (or the client was ended)'));
    const keys = this.#keys!;
    const client = this.#mqtt!;
    const qos = options.qos ?? 0;
    if (options.to === undefined && keys.channelFor(topic) === undefined) {
      throw new PublishError('NOT_AUTHORISED', topic, `our certificate does not allow publishing to '${topic}' (publish rights: ${keys.certificate.publish.join(', ') || 'none'})`);
    }
    const maxQueued = this.#opts.maxQueued ?? CLIENT_DEFAULTS.maxQueued;
    if (this.#queued >= maxQueued) throw new PublishError('QUEUE_FULL', topic, `${this.#queued} publishes are pending (maxQueued ${maxQueued}): wait for acknowledgements`);
    this.#queued++;
    try {
      let sealed: Uint8Array;
      try {
        // Retained messages are always signed individually (amortised mode: a manifest is not retained with them).
        sealed = options.to === undefined ? await keys.sealData(topic, payload, { signed: options.retain === true }) : await keys.sealDirect(this.#trust!.get(options.to, this.#clock()), topic, payload);
      } catch (err) {
        if (err instanceof SecurityError) {
          const code = err.code === 'TOO_LARGE' ? 'TOO_LARGE' : 'NOT_AUTHORISED';
          throw new PublishError(code, topic, `cannot seal for '${topic}': ${err.message}`, { cause: err });
        }
        throw err;
      }
      const send = (): Promise<unknown> => {
        const sent = withTimeout(
          client.publishAsync(topic, sealed as never, { qos, retain: options.retain ?? false } as IClientPublishOptions),
          this.#opts.timeouts?.publish ?? CLIENT_DEFAULTS.publishTimeoutMs,
          () => new PublishError('TIMEOUT', topic, `no acknowledgement for '${topic}' within ${this.#opts.timeouts?.publish ?? CLIENT_DEFAULTS.publishTimeoutMs} ms`),
        );
        // Amortised mode: a full batch's manifest goes out right after its last message.
        if (this.#manifestTimer !== undefined) this.#flushManifests(false);
        return sent;
      };
      try {
        await (qos === 0 ? send() : this.#inflight.run(send));
      } catch (err) {
        if (err instanceof PublishError) throw err;
        throw new PublishError(this.#ending ? 'CLOSED' : 'BROKER_REFUSED', topic, `publish to '${topic}' failed: ${(err as Error).message}`, { cause: err });
      }
    } finally {
      this.#queued--;
    }
  }

  // -------------------------------------------------------------- subscribe

  subscribe(filter: string | string[], options?: SecureSubscribeOptions, callback?: (err?: Error) => void): this {
    this.subscribeAsync(filter, options).then(
      () => callback?.(),
      (err: Error) => (callback ? callback(err) : this.#error(err)),
    );
    return this;
  }

  /**
   * Subscribes and asks every known publisher of matching channels for their keys.
   * @throws SubscribeError INVALID_FILTER, NOT_AUTHORISED, TIMEOUT, BROKER_REFUSED, CLOSED
   */
  async subscribeAsync(filter: string | string[], options: SecureSubscribeOptions = {}): Promise<void> {
    const filters = Array.isArray(filter) ? filter : [filter];
    await this.#whenStarted(() => new SubscribeError('CLOSED', filters, 'not connected: call connect() first (or the client was ended)'));
    const client = this.#mqtt!;
    for (const f of filters) {
      try {
        validateTopicFilter(f);
      } catch (err) {
        throw new SubscribeError('INVALID_FILTER', filters, `cannot subscribe to '${f}': ${(err as Error).message}`, { cause: err });
      }
      if (!this.#trust!.maySubscribe(this.#certificate!, f)) {
        throw new SubscribeError('NOT_AUTHORISED', filters, `our certificate does not allow subscribing to '${f}' (subscribe rights: ${this.#certificate!.subscribe.join(', ') || 'none'})`);
      }
    }
    const qos = options.qos ?? 0;
    let granted;
    try {
      granted = await withTimeout(
        client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos }]))),
        this.#opts.timeouts?.subscribe ?? CLIENT_DEFAULTS.subscribeTimeoutMs,
        () => new SubscribeError('TIMEOUT', filters, `no SUBACK for ${filters.join(', ')} within ${this.#opts.timeouts?.subscribe ?? CLIENT_DEFAULTS.subscribeTimeoutMs} ms`),
      );
    } catch (err) {
      if (err instanceof SubscribeError) throw err;
      throw new SubscribeError('BROKER_REFUSED', filters, `subscribe failed: ${(err as Error).message}`, { cause: err });
    }
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length) throw new SubscribeError('BROKER_REFUSED', filters, `the broker refused ${refused.map((g) => g.topic).join(', ')}`);
    for (const f of filters) {
      this.#subscriptions.set(f, qos);
      this.#requestKeysFor(f);
    }
  }

  unsubscribe(filter: string | string[], callback?: (err?: Error) => void): this {
    this.unsubscribeAsync(filter).then(
      () => callback?.(),
      (err: Error) => (callback ? callback(err) : this.#error(err)),
    );
    return this;
  }

  async unsubscribeAsync(filter: string | string[]): Promise<void> {
    const filters = Array.isArray(filter) ? filter : [filter];
    const client = this.#mqtt;
    if (!client || this.#ending) throw new SubscribeError('CLOSED', filters, 'not connected');
    await withTimeout(
      client.unsubscribeAsync(filters),
      this.#opts.timeouts?.subscribe ?? CLIENT_DEFAULTS.subscribeTimeoutMs,
      () => new SubscribeError('TIMEOUT', filters, `no UNSUBACK for ${filters.join(', ')}`),
    );
    for (const f of filters) this.#subscriptions.delete(f);
  }

  // -------------------------------------------------------------------- end

  end(force?: boolean, callback?: () => void): this {
    this.endAsync(force).then(
      () => callback?.(),
      (err: Error) => this.#error(err),
    );
    return this;
  }

  /** Closes the connection (gracefully unless `force`), stops maintenance and wipes key material. */
  async endAsync(force = false): Promise<void> {
    if (this.#ending) return;
    this.#ending = true;
    if (this.#maintenance) clearInterval(this.#maintenance);
    if (this.#manifestTimer !== undefined) {
      clearInterval(this.#manifestTimer);
      if (!force) this.#flushManifests(true, true); // the last batches' manifests, before DISCONNECT
    }
    const client = this.#mqtt;
    try {
      if (!force && this.#manifestsSigning.size > 0) {
        const signing = Promise.allSettled([...this.#manifestsSigning]);
        await withTimeout(signing, this.#opts.timeouts?.end ?? CLIENT_DEFAULTS.endTimeoutMs, () => new ConnectionError('CLOSED', 'end() timed out')).catch(() => undefined);
      }
      if (client) {
        await withTimeout(client.endAsync(force), this.#opts.timeouts?.end ?? CLIENT_DEFAULTS.endTimeoutMs, () => new ConnectionError('CLOSED', 'end() timed out'));
      }
    } finally {
      if (client && !client.disconnected) client.end(true);
      // Amortised messages acknowledged on arrival may still be queued: a graceful end processes them first.
      if (!force) await withTimeout(this.#inboundTail, this.#opts.timeouts?.end ?? CLIENT_DEFAULTS.endTimeoutMs, () => new ConnectionError('CLOSED', 'end() timed out')).catch(() => undefined);
      this.#keysClosed = true; // what is still queued (after a forced end) is dropped, not reported
      await this.#keys?.close();
      await this.#signer?.close();
    }
  }

  // ---------------------------------------------------------------- inbound

  /** Inbound packets run one at a time, in arrival order, through this chain. */
  #inboundTail: Promise<void> = Promise.resolve();
  #inboundPending = 0;
  #keysClosed = false;

  /**
   * mqtt.js's handleMessage: queues the packet and tells mqtt.js when to
   * acknowledge it (`done`). A packet is acknowledged once it was verified and
   * delivered (or rejected), with one exception: an amortised message that
   * decrypts on arrival (prefetchAmortised) is acknowledged on arrival. It is
   * acknowledged before delivery in any case (it is held until its
   * manifest), and acknowledging it at once lets mqtt.js hand over the next
   * packets without waiting for the queue. At most MAX_EARLY_ACKS of them
   * wait in the queue; beyond that mqtt.js waits as for any other packet.
   */
  #enqueueInbound(packet: IPublishPacket, done: (err?: Error) => void): void {
    const payload = typeof packet.payload === 'string' ? new TextEncoder().encode(packet.payload) : bytesOf(packet.payload);
    const keys = this.#keys;
    const ahead =
      keys?.acceptsAmortised && !packet.retain && payload[0] === ENVELOPE_TYPE.group && payload[3] === FLAGS.amortised && this.#inboundPending < MAX_EARLY_ACKS
        ? keys.prefetchAmortised(payload, packet.topic)
        : undefined;
    // Nothing queued ahead of it: handled now. The usual amortised message
    // (held for its manifest) then needs no promise at all; only what has to
    // wait (a signature check, storage) goes through the chain, in order.
    const run = this.#inboundPending === 0 ? this.#inboundNow(packet, payload, ahead) : this.#inboundTail.then(() => this.#inbound(packet, payload, ahead));
    if (run === undefined) {
      done();
      return;
    }
    this.#inboundPending++;
    this.#inboundTail = run.then(
      () => undefined,
      (err: unknown) => this.#error(err instanceof Error ? err : new Error(String(err))),
    );
    void this.#inboundTail.then(() => {
      this.#inboundPending--;
      if (!ahead) done();
    });
    if (ahead) done();
  }

  /** #inbound at once, outside the chain: undefined if it finished, else what is left of it. */
  #inboundNow(packet: IPublishPacket, payload: Uint8Array, ahead: AmortisedPrefetch | undefined): Promise<void> | undefined {
    try {
      return this.#inbound(packet, payload, ahead) ?? undefined;
    } catch (err) {
      this.#error(err instanceof Error ? err : new Error(String(err)));
      return undefined;
    }
  }

  /** Handles one inbound message; a promise only for work that has to wait. Never throws a SecurityError. */
  #inbound(packet: IPublishPacket, payload: Uint8Array, ahead: AmortisedPrefetch | undefined): Promise<void> | void {
    const topic = packet.topic;
    if (!this.#keys || this.#keysClosed) return;
    let pending: Promise<void> | void;
    try {
      pending = this.#process(topic, payload, packet.retain, packet.qos, ahead);
    } catch (err) {
      this.#inboundFailed(err, packet, payload);
      return;
    }
    if (pending) return pending.catch((err: unknown) => this.#inboundFailed(err, packet, payload));
  }

  /** A message #process refused: held for its sender's certificate, or reported. */
  #inboundFailed(err: unknown, packet: IPublishPacket, payload: Uint8Array): void {
    const topic = packet.topic;
    const error = asSecurityError(err, topic);
    if (error.code === 'UNKNOWN_SENDER' && this.#awaitCertificate(topic, payload, packet.retain, packet.qos)) return;
    if (error.awaitingKey) this.#rememberHeldQos(payload, packet.qos);
    this.#reject(error, topic, payload);
  }

  /** Routes one message to the control handlers or opens it for the application; throws SecurityError (or rejects with it). */
  #process(topic: string, payload: Uint8Array, retained: boolean, qos: 0 | 1 | 2, ahead?: AmortisedPrefetch): Promise<void> | void {
    const control = this.topics.parse(topic);
    if (control) return this.#control(control.kind, control.subject, topic, payload);
    if (this.topics.isReserved(topic)) return; // an unknown reserved topic: not ours to deliver
    const keys = this.#keys!;
    const type = payload[0];
    if (keys.acceptsAmortised && ((type === ENVELOPE_TYPE.group && payload[3] === FLAGS.amortised) || type === MANIFEST_TYPE)) {
      if (retained) throw new SecurityError('UNSUPPORTED_VERSION', { topic, detail: 'amortised messages and manifests are not accepted retained' });
      const outcome = type === MANIFEST_TYPE ? keys.acceptManifest(payload, topic) : keys.openAmortisedNow(payload, topic, ahead);
      if (outcome instanceof Promise) return outcome.then((o) => this.#amortisedOutcome(o, qos));
      this.#amortisedOutcome(outcome, qos);
      return;
    }
    return this.#openApplication(topic, payload, retained, qos);
  }

  /** Opens and delivers a signed application message; throws SecurityError. */
  async #openApplication(topic: string, payload: Uint8Array, retained: boolean, qos: 0 | 1 | 2): Promise<void> {
    const keys = this.#keys!;
    const type = payload[0];
    if (type === ENVELOPE_TYPE.group) {
      this.#deliverGroup(await keys.openData(payload, topic, { retained }), qos);
    } else if (type === ENVELOPE_TYPE.direct) {
      const m = await keys.openDirect(payload, topic);
      this.#deliver(m.topic, m.payload, {
        sender: m.sender,
        certificate: m.senderCertificate,
        kind: 'direct',
        seq: m.seq,
        timestamp: m.timestamp,
        retained,
        qos,
      });
    } else {
      throw new SecurityError('MALFORMED', { topic, detail: payload.length ? `unknown envelope type 0x${type!.toString(16)}` : 'empty payload' });
    }
  }

  /** Holds a message whose sender is not known yet; false if it cannot be held. */
  #awaitCertificate(topic: string, payload: Uint8Array, retained: boolean, qos: 0 | 1 | 2): boolean {
    const sender = claimedSender(payload);
    if (sender === undefined || this.#awaitingCount >= AWAIT_CERT.maxTotal) return false;
    const list = this.#awaitingCert.get(sender) ?? [];
    if (list.length >= AWAIT_CERT.maxPerSender) return false;
    list.push({ topic, payload: payload.slice(), retained, qos, since: this.#clock() });
    this.#awaitingCert.set(sender, list);
    this.#awaitingCount++;
    return true;
  }

  /** The certificate of `subject` arrived: open what waited for it, in arrival order. */
  async #releaseAwaiting(subject: string): Promise<void> {
    const list = this.#awaitingCert.get(subject);
    if (!list) return;
    this.#awaitingCert.delete(subject);
    this.#awaitingCount -= list.length;
    for (const m of list) {
      try {
        await this.#process(m.topic, m.payload, m.retained, m.qos);
      } catch (err) {
        this.#reject(asSecurityError(err, m.topic), m.topic, m.payload);
      }
    }
  }

  /** Messages whose sender never became known within the wait are rejected as UNKNOWN_SENDER. */
  #expireAwaiting(): void {
    const cutoff = this.#clock() - AWAIT_CERT.waitMs;
    for (const [sender, list] of this.#awaitingCert) {
      const expired = list.filter((m) => m.since <= cutoff);
      if (expired.length === 0) continue;
      const kept = list.filter((m) => m.since > cutoff);
      if (kept.length) this.#awaitingCert.set(sender, kept);
      else this.#awaitingCert.delete(sender);
      this.#awaitingCount -= expired.length;
      for (const m of expired) {
        this.#reject(new SecurityError('UNKNOWN_SENDER', { topic: m.topic, sender, detail: `no valid certificate of ${sender} arrived within ${AWAIT_CERT.waitMs} ms` }), m.topic);
      }
    }
  }

  async #control(kind: string, subject: string | undefined, topic: string, payload: Uint8Array): Promise<void> {
    const keys = this.#keys!;
    const trust = this.#trust!;
    const now = this.#clock();
    switch (kind) {
      case 'cert': {
        if (payload.length === 0) return; // a cleared retained announcement
        const cert = await acceptAnnouncement(payload, trust, { now });
        if (cert.subject !== subject) throw new SecurityError('TOPIC_MISMATCH', { topic, sender: cert.subject, detail: `an announcement of ${cert.subject} on ${topic}` });
        if (cert.subject !== this.id) {
          for (const [filter] of this.#subscriptions) this.#requestKeysFrom(cert, filter);
        }
        await this.#releaseAwaiting(cert.subject);
        return;
      }
      case 'crl': {
        if (payload.length === 0) return;
        const { newlyRevoked } = await trust.applyRevocationList(payload);
        if (newlyRevoked.length) await keys.handleRevoked(newlyRevoked); // grants go out through 'rotated'
        return;
      }
      case 'grant': {
        if (subject !== this.id) return;
        const accepted = await keys.acceptGrant(payload, topic);
        this.#stats.grantsAccepted++;
        for (const m of accepted.released) {
          this.#stats.held = Math.max(0, this.#stats.held - 1);
          this.#deliverGroup(m, this.#heldQos(m));
        }
        return;
      }
      case 'key-request': {
        if (subject !== this.id) return;
        this.#sendGrants(await keys.handleKeyRequest(payload));
        return;
      }
    }
  }

  /** Delivers what a manifest released and reports what it (or the hold timeout) rejected. */
  #amortisedOutcome(outcome: AmortisedResult, qos: 0 | 1 | 2): void {
    for (const m of outcome.released) this.#deliverGroup(m, qos);
    for (const err of outcome.rejected) this.#reject(err, err.topic ?? '');
  }

  /** Publishes the manifests of the batches that are due (every pending one with `all`). */
  #flushManifests(all: boolean, ending = false): void {
    const client = this.#mqtt;
    const keys = this.#keys;
    if (!client || !keys || (this.#ending && !ending)) return;
    if (keys.signsAsync) {
      let taken: Promise<ManifestToSend[]> | undefined;
      try {
        taken = keys.takeManifestsAsync(all);
      } catch (err) {
        this.#error(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (taken === undefined) return; // nothing due (the usual answer after a publish)
      // Published even if end() began meanwhile: end() waits for these before it disconnects.
      const signing: Promise<void> = taken.then(
        (due) => this.#publishManifests(client, due),
        (err: unknown) => this.#error(err instanceof Error ? err : new Error(String(err))),
      );
      this.#manifestsSigning.add(signing);
      void signing.finally(() => this.#manifestsSigning.delete(signing));
      return;
    }
    let due;
    try {
      due = keys.takeManifests(all);
    } catch (err) {
      this.#error(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.#publishManifests(client, due);
  }

  #publishManifests(client: MqttClient, due: readonly ManifestToSend[]): void {
    for (const m of due) {
      client.publish(m.topic, m.bytes as never, { qos: 1 }, (err) => {
        if (err && !this.#ending) this.#error(new PublishError('BROKER_REFUSED', m.topic, `batch manifest failed: ${err.message}`, { cause: err }));
      });
    }
  }

  #deliverGroup(m: DataMessage, qos: 0 | 1 | 2): void {
    this.#deliver(m.topic, m.payload, {
      sender: m.sender,
      certificate: m.senderCertificate,
      kind: 'group',
      channel: m.channel,
      epoch: m.epoch,
      seq: m.seq,
      timestamp: m.timestamp,
      retained: m.retained,
      qos,
    });
  }

  #deliver(topic: string, payload: Uint8Array, meta: MessageMeta): void {
    this.#stats.delivered++;
    if (this.#early) this.#early.push([topic, payload, Object.freeze(meta)]);
    else this.emit('message', topic, payload, Object.freeze(meta));
  }

  /** The QoS each message held for its key arrived with (the key manager holds bytes, not MQTT details). */
  readonly #heldQosByMessage = new Map<string, 0 | 1 | 2>();

  #rememberHeldQos(payload: Uint8Array, qos: 0 | 1 | 2): void {
    try {
      const f = decodeGroup(payload);
      if (this.#heldQosByMessage.size >= 10_000) this.#heldQosByMessage.delete(this.#heldQosByMessage.keys().next().value as string);
      this.#heldQosByMessage.set(`${f.sender}\n${f.channel}\n${f.epoch}\n${f.seq}`, qos);
    } catch {
      // not a group envelope: nothing is held
    }
  }

  #heldQos(m: DataMessage): 0 | 1 | 2 {
    const key = `${m.sender}\n${m.channel}\n${m.epoch}\n${m.seq}`;
    const qos = this.#heldQosByMessage.get(key) ?? 1;
    this.#heldQosByMessage.delete(key);
    return qos;
  }

  /** Messages verified before connect() resolved, waiting for the application's listener. */
  #early: [string, Uint8Array, MessageMeta][] | undefined = [];

  #openDelivery(): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const [topic, payload, meta] of early) this.emit('message', topic, payload, meta);
  }

  #reject(error: SecurityError, topic: string, payload?: Uint8Array): void {
    // A redelivery (QoS 1 retry) is expected traffic, and a message waiting
    // for its key is held, not rejected: neither is an attack.
    if (error.code === 'DUPLICATE') {
      this.#stats.duplicates++;
      return;
    }
    // An authentic message held for its key is not an attack. An amortised one
    // cannot be told from a forgery before its manifest: while a key is awaited
    // (its manifest asked for it), an unknown epoch is not reported either.
    if (error.awaitingKey) return;
    const amortised = payload !== undefined && payload[0] === ENVELOPE_TYPE.group && payload[3] === FLAGS.amortised;
    if (error.code === 'UNKNOWN_EPOCH' && amortised && this.#keys?.needsKey().length) return;
    this.#stats.rejected[error.code] = (this.#stats.rejected[error.code] ?? 0) + 1;
    this.emit('security', Object.freeze({ code: error.code, topic, sender: error.sender, message: error.message || REASONS[error.code], error }));
  }

  // --------------------------------------------------------- key distribution

  #requestKeysFor(filter: string): void {
    const trust = this.#trust;
    if (!trust) return;
    for (const subject of trust.subjects()) {
      const cert = subject === this.id ? undefined : trust.peek(subject);
      if (cert) this.#requestKeysFrom(cert, filter);
    }
  }

  /**
   * Asks `publisher` for the keys of its channels that overlap `filter`, if
   * our rights cover at least one of them entirely: a publisher grants whole
   * channels only, so asking for others would only be refused (NOT_AUTHORISED).
   */
  #requestKeysFrom(publisher: Certificate, filter: string): void {
    const own = this.#certificate;
    if (!own) return;
    const grantable = publisher.publish.some((c) => filtersOverlap(c, filter) && this.#trust!.maySubscribe(own, c));
    if (grantable) this.#sendKeyRequest(publisher.subject, filter);
  }

  #sendKeyRequest(publisher: string, filter: string): void {
    const client = this.#mqtt;
    const keys = this.#keys;
    if (!client || !keys || this.#ending) return;
    try {
      const bytes = keys.keyRequest(publisher, filter);
      this.#stats.keyRequestsSent++;
      client.publish(this.topics.keyRequest(publisher), bytes as never, { qos: 1 }, (err) => {
        if (err) this.#error(new PublishError('BROKER_REFUSED', this.topics.keyRequest(publisher), `key request failed: ${err.message}`, { cause: err }));
      });
    } catch (err) {
      this.#error(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #sendGrants(grants: readonly KeyGrant[]): void {
    const client = this.#mqtt;
    if (!client || this.#ending) return;
    for (const g of grants) {
      this.#stats.grantsSent++;
      client.publish(g.topic, g.bytes as never, { qos: 1 }, (err) => {
        if (err) this.#error(new PublishError('BROKER_REFUSED', g.topic, `grant to ${g.subscriber} failed: ${err.message}`, { cause: err }));
      });
    }
  }

  /** The certificate of `subject` if it is known and currently valid. */
  certificateOf(subject: string): Certificate | undefined {
    try {
      return this.#trust?.get(subject, this.#clock());
    } catch {
      return undefined;
    }
  }

  /** Decodes a certificate (helper for applications provisioning peers). */
  static decodeCertificate(bytes: Uint8Array): Certificate {
    return decodeCertificate(bytes);
  }
}
