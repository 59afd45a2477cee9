// 'pqc-iiot/protocol': the envelope-level API, without MQTT, for applications
// that carry the bytes themselves (another transport, their own MQTT client,
// tests of a gateway): seal and open the envelopes of docs/PROTOCOL.md, grants
// and key requests, the KeyManager that runs them, and the replay guard and
// sequence allocator they need. The client in the root entry is built on this.

export * from './protocol/index.js';
export {
  ReplayGuard,
  ReplayWindow,
  DEFAULT_WINDOW_SIZE,
  MIN_WINDOW_SIZE,
  MAX_WINDOW_SIZE,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_STREAMS,
  type ReplayClass,
  type ReplayCode,
  type ReplayVerdict,
  type ReplayGuardOptions,
  type ReplayStats,
  type StreamKey,
} from './replay/index.js';
export { SequenceAllocator, type SequenceAllocatorOptions } from './storage/sequence.js';
// Signing off the caller's thread for a KeyManager (workers from nodeSignWorker in 'pqc-iiot/node').
export { WorkerSigner } from './worker/worker-signer.js';
