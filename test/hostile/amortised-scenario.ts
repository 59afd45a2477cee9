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
//
// Where each part lives (test/hostile/amortised/):
// - types.ts: the options, the result, the records passed between the parts;
// - fleet.ts: the CA, the devices, the impostor, provenance, the models;
// - outcomes.ts: the outcomes each attack kind may come to;
// - clock.ts: the subscribers' clock, shared with their models;
// - ledger.ts, accounting.ts: honest traffic, and each packet scored;
// - sub-observer.ts: the hooks that watch a subscriber packet by packet;
// - attacker.ts: the broker's pools, counters and the one way it injects;
// - attacks/envelope.ts, attacks/manifest.ts, attacks/insider.ts: the
//   attacks drawn from what the broker writes, and the insider's forgeries;
// - broker.ts: the proxy hooks (withholding, reordering, manifest-first, the
//   attacks each packet triggers);
// - clients.ts, publishing.ts: the clients, the honest stream, the pauses;
// - run.ts, phases.ts: the run, phase by phase; verdict.ts, format.ts: the result.

export { tickClock } from './amortised/clock.js';
export { formatAmortisedResult } from './amortised/format.js';
export { runAmortisedHostile } from './amortised/run.js';
export type { AmortisedHostileOptions, AmortisedHostileResult, Row } from './amortised/types.js';
