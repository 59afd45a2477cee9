// The expected outcome of every PUBLISH a SecureMqttClient processes, from a
// model of its state and the check order of docs/PROTOCOL.md (and of
// src/client/dispatch.ts). The hostile test asks the model
// about each packet just before the client processes it (packets are handled
// one at a time, in arrival order), so the model's state is exactly what the
// client has seen, and its clock is the client's.
//
// What the model takes from the SDK: the parsers (decodeGroup, decodeDirect,
// decodeKeyRequest, decodeAnnouncement, decodeRevocationList,
// decodeGrantPayload: fuzzed separately, in test/fuzz), the topic-filter
// functions, and openDirectEnvelope to read the plaintext of genuine grants
// (so it knows the epochs, first sequence numbers and ends a client holds).
// What it does not take: any verdict. Signatures are not checked: a message is
// "genuine" iff its bytes (and, for group envelopes, the topic it was sealed
// for) are exactly what an honest party or the test's own signer produced;
// everything else is a forgery. Order of checks, replay windows, epochs,
// grace, held messages, retained sessions, nonces, trust state and
// anti-rollback are all modelled here, independently of the client's code.
//
// Where each part lives (test/hostile/model/):
// - delta.ts: what a packet does to stats(), predictions, matching;
// - genuine.ts: what is genuine (bytes honest parties and the test signed);
// - state.ts: the client's state (durable, volatile) and the steps every
//   check takes on it;
// - client-model.ts: ClientModel, the dispatch and the failure reporting;
// - trust.ts: certificates, announcements, revocation lists;
// - replay.ts: replay windows and time checks;
// - group.ts: group envelopes, epochs, held messages;
// - direct.ts: direct envelopes and grants;
// - key-request.ts: key requests.

export { ClientModel } from './model/client-model.js';
export { addOutcome, alternativeDelta, emptyDelta, formatDelta, isRejection, matches, sameDelta, type Delta, type Prediction } from './model/delta.js';
export { Genuine } from './model/genuine.js';
export { KEY_REQUEST_TAMPERED_DUPLICATE } from './model/key-request.js';
export type { ModelConfig } from './model/state.js';
