// pqc-iiot: end-to-end post-quantum security over MQTT.
//
// The root entry holds what a user of the client, the core and the
// certificates needs, and nothing else. Other entries:
//   'pqc-iiot/protocol'  the envelope-level API without MQTT (seal/open, grants,
//                        KeyManager, replay guard, sequence allocator)
//   'pqc-iiot/bindings'  the whole wasm core (SHAKE-256, the AE, build info)
//   'pqc-iiot/node'      Node-only parts (FileStorage, signing workers)
// Everything else is internal. Browser-safe.

// The wasm core: ML-KEM and Falcon.
export { init, isReady, type InitOptions, type WasmSource } from '../bindings/index.js';
export {
  mlKem512,
  mlKem768,
  mlKem1024,
  falcon512,
  falcon1024,
  falconPadded512,
  falconPadded1024,
  KEM_PARAMS,
  SIGNER_PARAMS,
  type Kem,
  type KemKeyPair,
  type KemLengths,
  type Encapsulation,
  type Signer,
  type SignKeyPair,
  type SignerLengths,
  type ExpandedSigningKey,
  type Verifier,
} from '../bindings/index.js';
// The MQTT client.
export {
  connect,
  connectAsync,
  SecureMqttClient,
  CLIENT_DEFAULTS,
  ConnectionError,
  PublishError,
  SubscribeError,
  type ClientStats,
  type MessageMeta,
  type SecureClientEvents,
  type SecureClientOptions,
  type SecurePublishOptions,
  type SecureSubscribeOptions,
  type SecurityEvent,
} from './client/index.js';
export type { SignWorkerHandle, SignWorkerOptions } from './worker/worker-signer.js';
// Identities, certificates, trust, revocation.
export * from './identity/index.js';
export * from './certs/index.js';
// Where the client keeps its state.
export * from './storage/index.js';
export { systemClock, type Clock } from './clock.js';
// One error hierarchy.
export { PqcError, type PqcErrorCode } from '../bindings/index.js';
export {
  PqcIiotError,
  SecurityError,
  StorageError,
  ConfigError,
  REASONS,
  isSecurityError,
  type HeldMessage,
  type ReasonCode,
  type ConfigErrorCode,
  type StorageErrorCode,
} from './errors.js';
