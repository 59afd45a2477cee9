// The hostile-broker run: honest publishers and subscribers (SecureMqttClient)
// talk through a real Mosquitto behind the MQTT-aware man in the middle
// (test/support/mitm-proxy.ts), which plays the untrusted broker: it drops,
// delays, reorders and duplicates honest traffic and injects attacks of many
// kinds (replays, redirects, splices, bit flips, truncations, rewritten
// fields, downgrades, forged and re-signed messages, forged control traffic),
// on the data topics and on every control topic, in both directions.
//
// Every PUBLISH a client processes is checked against the model
// (test/hostile/model.ts), which gives, from the documented check order, what
// the packet must come to: a delivery, a silent duplicate, a security event
// with a given reason code, or nothing (an idempotent control message). Then:
// - no attack is delivered or silently absorbed (accepted = 0);
// - every attack comes to exactly the expected outcome (mismatches = 0);
// - every honest message reaches each of its subscribers exactly once,
//   unaltered, unless the broker deliberately dropped it for that subscriber;
// - every client is still connected and serving at the end, without errors.
//
// Phases: setup and warm-up; the main phase (honest stream + attacks, with a
// subscriber restart in the middle whose persisted replay state must reject
// replays of what it accepted before); a key rotation after which replays of
// the old epoch are STALE_EPOCH; drain (messages that waited for an unknown
// sender are reported after 30 s); a final honest round.
//
// Used by test/hostile/hostile.test.ts (CI size) and scripts/hostile.ts (--long, --json).
// HOSTILE_DEBUG_TOPIC=<topic> logs every packet processed on that topic (expected and observed outcome).
//
// Where each part lives (test/hostile/scenario/):
// - types.ts: the options, the result, the records passed between the parts;
// - fleet.ts: the CA, the devices and impostors, what is genuine, the models;
// - accounting.ts: each processed packet scored against its model;
// - attacker.ts: the broker's pools, counters and the one way it injects;
// - attacks/data.ts, attacks/envelopes.ts, attacks/control.ts: the attacks
//   drawn from what the broker writes (data path; direct envelopes and
//   grants; key requests, announcements, revocation lists, MQTT noise);
// - attacks/resigned.ts: the expensive ones, freshly signed;
// - broker.ts: the proxy hooks (withholding, reordering, c2b tampering, the
//   attacks each honest message triggers);
// - honest.ts, publishing.ts: the honest stream and the pauses between phases;
// - clients.ts: the clients with their observers, and the CA's own channel;
// - run.ts, phases.ts: the run, phase by phase; verdict.ts, format.ts: the result.

export { formatResult } from './scenario/format.js';
export { runHostile } from './scenario/run.js';
export type { HostileOptions, HostileResult, KindRow } from './scenario/types.js';
