// The amortised-mode run's clients (all SecureMqttClient, MQTT 5, through
// the proxy): the two publishers with `amortise`, which must see no security
// event at all, and the two subscribers with `acceptAmortised`, each watched
// by a SubObserver. Every client is given the others' certificates.

import type { SecureClientOptions } from '../../../src/client/options.js';
import { SecureMqttClient } from '../../../src/client/secure-client.js';
import { MemoryStorage } from '../../../src/storage/memory.js';
import { endClients } from '../harness.js';
import { mqttClientId } from '../plant.js';
import { tickClock } from './clock.js';
import { GRACE_MS, HOLD_BOUNDS, HOLD_MS, SUBS } from './fleet.js';
import { SubObserver, type ObserverWorld } from './sub-observer.js';

/** The publishers' options (one object per run, shared by both): small batches, sent soon. */
export const publisherOptions = (): Partial<SecureClientOptions> => ({ amortise: { maxBatch: 8, maxDelayMs: 20 } });

/** The subscribers' options (one object per run, shared by both): the models' hold time, grace and clock (tickClock: the model reads the same `now`). */
export const subscriberOptions = (): Partial<SecureClientOptions> => ({
  acceptAmortised: { holdMs: HOLD_MS, maxManifests: 100_000, ...HOLD_BOUNDS },
  rotation: { graceMs: GRACE_MS },
  maintenanceIntervalMs: 200,
  clock: tickClock,
});

export class AmortisedClients {
  /** The connected clients by id. */
  readonly clients = new Map<string, SecureMqttClient>();
  /** The subscribers' observers by id. */
  readonly observers = new Map<string, SubObserver>();
  readonly #world: ObserverWorld;

  constructor(world: ObserverWorld) {
    this.#world = world;
  }

  /** Connects client `id` (a subscriber with its observer in place before the first packet). */
  async open(id: string, extra: Partial<SecureClientOptions>): Promise<SecureMqttClient> {
    const { proxy, fleet, accounting } = this.#world;
    const { certs, ca } = fleet;
    const errors = accounting.errors;
    const optionsFor = (): SecureClientOptions => ({
      identity: fleet.identity(id),
      certificate: certs.find((c) => c.subject === id)!,
      trustAnchor: ca.trustAnchor,
      storage: new MemoryStorage(),
      certificates: certs.filter((c) => c.subject !== id),
      ...extra,
      mqtt: { clientId: mqttClientId(id), reconnectPeriod: 500, protocolVersion: 5 },
    });
    const client = new SecureMqttClient(proxy.url, optionsFor());
    if ((SUBS as readonly string[]).includes(id)) {
      const o = new SubObserver(id, client, fleet.models.get(id)!, this.#world);
      this.observers.set(id, o);
      // The restart rule counts from the KeyManager's opening, a few ms into connect().
      fleet.models.get(id)!.starting(Date.now());
      const connecting = client.connect();
      o.start();
      await connecting;
    } else {
      client.on('error', (err) => errors.push(`${id}: ${err.name}: ${err.message}`));
      client.on('security', (e) => errors.push(`${id}: unexpected security event ${e.code}: ${e.message}`));
      await client.connect();
    }
    this.clients.set(id, client);
    return client;
  }

  /** Closes every subscriber's last bucket (the clients are idle: a sentinel started). */
  finish(): void {
    for (const o of this.observers.values()) o.finish();
  }

  async end(): Promise<void> {
    await endClients(this.clients.values());
  }
}
