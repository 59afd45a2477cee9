// The MQTT connection: mqtt.js's options from ours (a client id of our own
// unless given), the hook inbound packets go through, mqtt.js's connection
// events passed on to the application, the first CONNACK that connect()
// waits for, and what every (re)connection starts with.

import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { createAnnouncement } from '../certs/announce.js';
import type { Certificate } from '../certs/certificate.js';
import type { Identity } from '../identity/identity.js';
import type { TypedEmitter } from '../util/typed-emitter.js';
import type { ClientCore } from './core.js';
import { ConnectionError } from './errors.js';
import type { SecureClientEvents } from './events.js';
import type { KeyDistribution } from './key-distribution.js';
import { CLIENT_DEFAULTS, type SecureClientOptions } from './options.js';

export interface OpenedConnection {
  readonly client: MqttClient;
  /** The first CONNACK's sessionPresent; rejects with the first error before it. */
  readonly first: Promise<boolean>;
}

/** Starts connecting to `url`; every inbound PUBLISH goes to `handleMessage`. */
export function openConnection(
  url: string,
  o: SecureClientOptions,
  core: ClientCore,
  emitter: TypedEmitter<SecureClientEvents>,
  handleMessage: MqttClient['handleMessage'],
): OpenedConnection {
  const mqttOptions: IClientOptions = {
    clientId: o.mqtt?.clientId ?? `${core.id}-${Math.random().toString(16).slice(2, 10)}`,
    reconnectPeriod: 1000,
    connectTimeout: o.timeouts?.connect ?? CLIENT_DEFAULTS.connectTimeoutMs,
    ...o.mqtt,
  };
  const client = mqtt.connect(url, mqttOptions);
  // Set before any packet can arrive: a persistent session's queued messages follow the CONNACK at once.
  client.handleMessage = handleMessage;
  client.on('reconnect', () => emitter.emit('reconnect'));
  client.on('close', () => emitter.emit('close'));
  client.on('offline', () => emitter.emit('offline'));
  client.on('end', () => emitter.emit('end'));
  client.on('error', (err) => {
    // While closing, mqtt.js reports the socket going away ("write after end"): not news to the caller.
    if (!core.ending()) core.error(new ConnectionError('BROKER_REFUSED', err.message, { cause: err }));
  });
  const first = new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { client, first };
}

/** What every (re)connection starts with: the control subscriptions, our announcement, key requests. */
export class ConnectionSetup {
  #running: Promise<void> | undefined;
  /** This instance subscribed its control topics (a resumed session holds them, but only a SUBSCRIBE brings the retained announcements). */
  #controlSubscribed = false;

  constructor(
    private readonly client: MqttClient,
    private readonly core: ClientCore,
    private readonly identity: Identity,
    /** Our own certificate. */
    private readonly own: Certificate,
    /** The filters we subscribed to. */
    private readonly subscriptions: ReadonlyMap<string, 0 | 1 | 2>,
    private readonly distribution: KeyDistribution,
  ) {}

  /** Control subscriptions and our announcement; on every (re)connection, once per connection. */
  run(sessionPresent: boolean): Promise<void> {
    const { client, core } = this;
    this.#running ??= (async () => {
      const filters = { [core.topics.allCerts]: { qos: 1 as const }, [core.topics.crl]: { qos: 1 as const }, [core.topics.grant(core.id)]: { qos: 1 as const }, [core.topics.keyRequest(core.id)]: { qos: 1 as const } };
      // Also on this instance's first connection to a resumed session: a restarted process may not know the
      // publishers' certificates (in-memory storage), and the session would never bring their retained announcements.
      if (!sessionPresent || !this.#controlSubscribed) await client.subscribeAsync(filters);
      this.#controlSubscribed = true;
      const announcement = createAnnouncement(this.identity, this.own, { timestamp: core.clock() });
      await client.publishAsync(core.topics.cert(core.id), announcement as never, { qos: 1, retain: true });
      // Ask the publishers we know about for the keys of our subscriptions.
      for (const [filter] of this.subscriptions) this.distribution.requestKeysFor(filter);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}
