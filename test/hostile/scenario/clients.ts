// The signed-mode run's clients: the four SecureMqttClients (through the
// proxy, each watched by an Observer that asks its model about every
// packet), and the operator CA's own channel to the broker (not through the
// proxy) that announces the two devices that never connect and publishes the
// revocation lists.

import mqtt, { type MqttClient } from 'mqtt';
import { createAnnouncement } from '../../../src/certs/announce.js';
import { issueRevocationList, type RevocationEntry } from '../../../src/certs/revocation.js';
import type { SecureClientOptions } from '../../../src/client/options.js';
import { SecureMqttClient } from '../../../src/client/secure-client.js';
import { endClients } from '../harness.js';
import { Observer, type Observation } from '../observer.js';
import { PREFIX, mqttClientId } from '../plant.js';
import type { Attacker } from './attacker.js';
import { SUB1_GRACE_MS, type Fleet, type Party } from './fleet.js';

export class HostileClients {
  /** The connected clients by id (the current instance of a restarted one). */
  readonly clients = new Map<string, SecureMqttClient>();
  /** One per client instance, in the order they were opened. */
  readonly observers: Observer[] = [];
  readonly #fleet: Fleet;
  readonly #atk: Attacker;
  readonly #account: (o: Observation) => void;
  readonly #options: Record<string, SecureClientOptions>;
  #ca: MqttClient | undefined;

  constructor(fleet: Fleet, atk: Attacker, account: (o: Observation) => void) {
    this.#fleet = fleet;
    this.#atk = atk;
    this.#account = account;
    const optionsFor = (p: Party, extra: Partial<SecureClientOptions> & { mqtt: NonNullable<SecureClientOptions['mqtt']> }): SecureClientOptions => ({
      identity: p.identity,
      certificate: p.cert,
      trustAnchor: fleet.anchor,
      storage: p.storage,
      ...extra,
      mqtt: { clientId: mqttClientId(p.id), reconnectPeriod: 500, ...extra.mqtt },
    });
    // Both MQTT versions; sub-1 keeps its session (messages queue at the broker while it restarts).
    this.#options = {
      'pub-1': optionsFor(fleet.pub1, { mqtt: { protocolVersion: 5 } }),
      'pub-2': optionsFor(fleet.pub2, { mqtt: { protocolVersion: 4 } }),
      'sub-1': optionsFor(fleet.sub1, { rotation: { graceMs: SUB1_GRACE_MS }, mqtt: { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } } }),
      'sub-2': optionsFor(fleet.sub2, { mqtt: { protocolVersion: 4 } }),
    };
  }

  /** Connects client `id` with its observer in place before the first packet. */
  async open(id: string): Promise<SecureMqttClient> {
    const proxy = this.#atk.proxy;
    const client = new SecureMqttClient(proxy.url, this.#options[id]!);
    const observer = new Observer(id, client, this.#fleet.models.get(id)!, proxy, mqttClientId(id), this.#account);
    this.observers.push(observer);
    // The restart rule counts from the KeyManager's opening, inside connect(): the model gets the bracket.
    const model = this.#fleet.models.get(id)!;
    const before = Date.now();
    model.starting(before);
    const connecting = client.connect();
    observer.start();
    await connecting;
    model.starting(before, Date.now());
    this.clients.set(id, client);
    return client;
  }

  /** Messages delivered to `id`, over all its instances. */
  deliveredBy(id: string): number {
    return this.observers.filter((o) => o.label === id).reduce((s, o) => s + o.delivered.length, 0);
  }

  async connectCa(brokerUrl: string): Promise<void> {
    this.#ca = await mqtt.connectAsync(brokerUrl, { clientId: 'operator-ca-tool' });
  }

  /** The CA announces `p`'s certificate (retained). */
  async announce(p: Party): Promise<void> {
    const a = createAnnouncement(p.identity, p.cert);
    this.#fleet.genuine.addSigned(a);
    this.#atk.announcements.set(p.id, a);
    await this.#ca!.publishAsync(`${PREFIX}/certs/${p.id}`, Buffer.from(a), { qos: 1, retain: true });
  }

  /** The CA publishes revocation list `number` (retained). */
  async publishList(number: number, entries: RevocationEntry[]): Promise<Uint8Array> {
    const l = issueRevocationList(this.#fleet.ca, { number, issuedAt: Date.now(), entries });
    this.#fleet.genuine.addSigned(l.bytes);
    this.#atk.lists.push({ bytes: l.bytes, number });
    await this.#ca!.publishAsync(`${PREFIX}/crl`, Buffer.from(l.bytes), { qos: 1, retain: true });
    return l.bytes;
  }

  /** Ends every client at once, then the CA's channel. */
  async end(): Promise<void> {
    await endClients(this.clients.values());
    await this.#ca?.endAsync(true).catch(() => undefined);
  }
}
