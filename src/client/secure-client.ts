// SecureMqttClient: mqtt.js with every payload sealed on the way out and
// verified on the way in. The MQTT side (connection, reconnect, QoS, offline
// queue) is mqtt.js's; this class adds the envelope, key distribution on the
// reserved control topics, typed errors, bounded waits and security events.
//
// This file is the facade users import: the lifecycle (connect, end) and the
// publish and subscribe calls. The rooms beside it hold the rest: session.ts
// (trust store, signing workers, key manager), connection.ts (mqtt.js's client,
// its events, what each connection starts with), inbound.ts (the inbound queue
// and when mqtt.js acknowledges), dispatch.ts (where each inbound message
// goes), certificates.ts (messages waiting for their sender's certificate),
// key-distribution.ts (key requests and grants), subscriptions.ts,
// manifests.ts (amortised mode's manifests), delivery.ts (what reaches the
// application, and the counters), events.ts (the event types).

import { abytes, aint } from '../../bindings/assert-sdk.js';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { init } from '../../bindings/index.js';
import { decodeCertificate, type Certificate } from '../certs/certificate.js';
import type { TrustStore } from '../certs/trust-store.js';
import { systemClock, type Clock } from '../clock.js';
import { SecurityError } from '../errors.js';
import { validateTopicName } from '../topic/grammar.js';
import type { KeyManager } from '../protocol/key-manager.js';
import type { WorkerSigner } from '../worker/worker-signer.js';
import { Semaphore } from '../util/semaphore.js';
import { withTimeout } from '../util/timeout.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { AwaitingCertificates } from './certificates.js';
import { ConnectionSetup, openConnection } from './connection.js';
import { ControlTopics } from './control-topics.js';
import { asError, type ClientCore } from './core.js';
import { Delivery } from './delivery.js';
import { Dispatch } from './dispatch.js';
import { ConnectionError, PublishError, SubscribeError } from './errors.js';
import type { ClientStats, SecureClientEvents } from './events.js';
import { InboundQueue } from './inbound.js';
import { KeyDistribution } from './key-distribution.js';
import { Manifests } from './manifests.js';
import { CLIENT_DEFAULTS, type SecureClientOptions, type SecurePublishOptions, type SecureSubscribeOptions } from './options.js';
import { OwnCertificate } from './own-certificate.js';
import { openSession } from './session.js';
import { Subscriptions } from './subscriptions.js';

export type { ClientStats, MessageMeta, SecureClientEvents, SecurityEvent } from './events.js';

export class SecureMqttClient extends TypedEmitter<SecureClientEvents> {
  readonly id: string;
  readonly topics: ControlTopics;
  #mqtt: MqttClient | undefined;
  #keys: KeyManager | undefined;
  #signer: WorkerSigner | undefined;
  #trust: TrustStore | undefined;
  #certificate: Certificate | undefined;
  readonly #opts: SecureClientOptions;
  readonly #clock: Clock;
  readonly #core: ClientCore;
  readonly #inflight: Semaphore;
  readonly #subscriptions: Subscriptions;
  #own: OwnCertificate | undefined;
  readonly #delivery: Delivery;
  readonly #awaiting: AwaitingCertificates;
  #distribution: KeyDistribution | undefined;
  #dispatch: Dispatch | undefined;
  #inbound: InboundQueue | undefined;
  #manifests: Manifests | undefined;
  #queued = 0;
  #maintenance: ReturnType<typeof setInterval> | undefined;
  #ending = false;
  #ready: Promise<void> | undefined;
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
      aint(b, 1, 65535, 'port');
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
    this.#core = {
      id: this.id,
      topics: this.topics,
      clock: this.#clock,
      mqtt: () => this.#mqtt,
      ending: () => this.#ending,
      error: (err) => this.#error(asError(err)),
    };
    this.#delivery = new Delivery(this, () => (this.#keys?.needsKey().length ?? 0) > 0);
    this.#awaiting = new AwaitingCertificates(this.#clock, this.#delivery.stats, options.awaitingCertificates);
    this.#subscriptions = new Subscriptions(options);
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
    return this.#delivery.snapshot();
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
      setTimeout(() => this.#delivery.open(), 0);
    }).catch((err: unknown) => {
      this.#mqtt?.end(true);
      throw err instanceof ConnectionError ? err : new ConnectionError('CONNECT_FAILED', `could not connect to ${this.#url}: ${(err as Error).message}`, { cause: err });
    });
    return this.#ready;
  }

  async #start(): Promise<void> {
    await init();
    const o = this.#opts;
    const { trust, certificate, signer, keys, storage } = await openSession(o, this.#clock, this.topics, this.#core.error);
    await this.#subscriptions.attach(storage, certificate);
    this.#trust = trust;
    this.#certificate = certificate;
    this.#own = new OwnCertificate(trust, certificate);
    this.#signer = signer;
    const distribution = new KeyDistribution(this.#core, keys, trust, certificate, this.#delivery.stats);
    this.#distribution = distribution;
    this.#keys = keys;
    keys.on('rotated', (event) => {
      this.emit('rotated', event);
      distribution.sendGrants(event.grants);
    });
    keys.on('keyNeeded', (need) => {
      this.#delivery.stats.held++;
      distribution.sendKeyRequest(need.publisher, need.channel);
    });
    const dispatch = new Dispatch(this.#core, keys, trust, this.#delivery, this.#awaiting, distribution, this.#subscriptions);
    this.#dispatch = dispatch;
    const inbound = new InboundQueue(dispatch);
    this.#inbound = inbound;
    const { client, first } = openConnection(this.#url, o, this.#core, this, (packet, done) => inbound.enqueue(packet, done));
    this.#mqtt = client;
    const setup = new ConnectionSetup(client, this.#core, o.identity, certificate, this.#subscriptions.filters, distribution);
    client.on('connect', (connack) => {
      this.#awaiting.connected(); // the retained announcements come again: certificates may arrive for a while
      const receiveMaximum = connack.properties?.receiveMaximum;
      if (receiveMaximum) this.#inflight.resize(Math.min(this.#opts.maxInflight ?? CLIENT_DEFAULTS.maxInflight, receiveMaximum));
      this.#subscriptions.connected(connack.sessionPresent).catch(this.#core.error);
      if (!connack.sessionPresent) keys.resetRetainedSession();
      void setup.run(connack.sessionPresent)
        .then(() => this.emit('connect', { sessionPresent: connack.sessionPresent }))
        .catch(this.#core.error);
    });
    const sessionPresent = await first;
    await setup.run(sessionPresent);
    const interval = this.#opts.maintenanceIntervalMs ?? CLIENT_DEFAULTS.maintenanceIntervalMs;
    this.#maintenance = setInterval(() => {
      keys.maintain().catch(this.#core.error);
      this.#awaiting.expire((error, topic) => this.#delivery.reject(error, topic));
      if (keys.acceptsAmortised) this.#delivery.amortisedOutcome(keys.expireAmortised(), 1);
    }, interval);
    (this.#maintenance as { unref?: () => void }).unref?.();
    // Amortised publishing: batches that did not fill up are signed about maxDelayMs after their first message.
    const delay = o.amortise ? (o.amortise.maxDelayMs ?? 25) : undefined;
    if (delay !== undefined) this.#manifests = new Manifests(this.#core, keys, delay);
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
    return this.#settle(this.publishAsync(topic, payload, options), callback);
  }

  /** Calls back mqtt.js-style: `callback()` on success, `callback(err)` on failure, an 'error' event if there is no callback. */
  #settle(done: Promise<void>, callback: ((err?: Error) => void) | undefined): this {
    done.then(
      () => callback?.(),
      (err: Error) => (callback ? callback(err) : this.#error(err)),
    );
    return this;
  }

  /**
   * Seals `payload` for `topic` (group key of its channel, or for one
   * recipient with `{ to }`) and publishes it. Resolves when the broker
   * acknowledged it (QoS 1/2) or it was written (QoS 0).
   * @throws PublishError INVALID_TOPIC, NOT_AUTHORISED, REVOKED (our own certificate), TOO_LARGE, QUEUE_FULL, TIMEOUT, CLOSED
   */
  async publishAsync(topic: string, payload: Uint8Array, options: SecurePublishOptions = {}): Promise<void> {
    abytes(payload, undefined, 'payload');
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
    if (this.#own!.revoked()) {
      throw new PublishError('REVOKED', topic, `our certificate (${keys.certificate.subject}, serial ${keys.certificate.serial}) is revoked by revocation list ${this.#trust!.revocationListNumber}: re-enrol this device`);
    }
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
        this.#manifests?.flush(false);
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
    return this.#settle(this.subscribeAsync(filter, options), callback);
  }

  /**
   * Subscribes and asks every known publisher of matching channels for their keys.
   * @throws SubscribeError INVALID_FILTER, NOT_AUTHORISED, TIMEOUT, BROKER_REFUSED, CLOSED
   */
  async subscribeAsync(filter: string | string[], options: SecureSubscribeOptions = {}): Promise<void> {
    const filters = Array.isArray(filter) ? filter : [filter];
    await this.#whenStarted(() => new SubscribeError('CLOSED', filters, 'not connected: call connect() first (or the client was ended)'));
    await this.#subscriptions.subscribe(this.#mqtt!, this.#trust!, this.#certificate!, this.#distribution!, filters, options.qos ?? 0);
  }

  unsubscribe(filter: string | string[], callback?: (err?: Error) => void): this {
    return this.#settle(this.unsubscribeAsync(filter), callback);
  }

  async unsubscribeAsync(filter: string | string[]): Promise<void> {
    const filters = Array.isArray(filter) ? filter : [filter];
    const client = this.#mqtt;
    if (!client || this.#ending) throw new SubscribeError('CLOSED', filters, 'not connected');
    await this.#subscriptions.unsubscribe(client, filters);
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
    this.#manifests?.stop(force); // unless forced, the last batches' manifests, before DISCONNECT
    const client = this.#mqtt;
    try {
      if (!force && this.#manifests?.signing) await this.#manifests.signed(this.#opts.timeouts?.end ?? CLIENT_DEFAULTS.endTimeoutMs);
      if (client) {
        await withTimeout(client.endAsync(force), this.#opts.timeouts?.end ?? CLIENT_DEFAULTS.endTimeoutMs, () => new ConnectionError('CLOSED', 'end() timed out'));
      }
    } finally {
      if (client && !client.disconnected) client.end(true);
      // Amortised messages acknowledged on arrival may still be queued: a graceful end processes them first.
      if (!force) await withTimeout(this.#inbound?.drained ?? Promise.resolve(), this.#opts.timeouts?.end ?? CLIENT_DEFAULTS.endTimeoutMs, () => new ConnectionError('CLOSED', 'end() timed out')).catch(() => undefined);
      if (this.#dispatch) this.#dispatch.closed = true; // what is still queued (after a forced end) is dropped, not reported
      await this.#keys?.close();
      await this.#signer?.close();
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
