// pqc-iiot: end-to-end post-quantum security over MQTT.
// Browser-safe entry point: Node-only parts (FileStorage) are in 'pqc-iiot/node'.

// The wasm core: ML-KEM, Falcon, SHAKE-256.
export * from '../bindings/index.js';
// The MQTT client.
export * from './client/index.js';
// Identities, certificates, trust, revocation.
export * from './identity/index.js';
export * from './certs/index.js';
// Wire protocol and key management (transport-independent).
export * from './protocol/index.js';
// Storage, replay protection, errors.
export * from './storage/index.js';
export { ReplayGuard, ReplayWindow } from './replay/index.js';
export { SequenceAllocator } from './storage/sequence.js';
export { systemClock, type Clock } from './clock.js';
export {
  PqcIiotError,
  SecurityError,
  StorageError,
  ConfigError,
  REASONS,
  isSecurityError,
  type ReasonCode,
  type ConfigErrorCode,
  type StorageErrorCode,
} from './errors.js';
// Signing off the caller's thread (workers started by nodeSignWorker from 'pqc-iiot/node').
export { WorkerSigner, type SignWorkerHandle, type SignWorkerOptions } from './worker/worker-signer.js';
