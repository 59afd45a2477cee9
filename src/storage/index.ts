// Storage for browser and Node alike: the interface and the in-memory store.
// FileStorage is Node-only (node:fs) and deliberately not re-exported here, so
// browser bundles never pull it in: import it from './file.js' directly. The
// SequenceAllocator (browser-safe) lives in './sequence.js'.
export type { Storage } from './types.js';
export { MemoryStorage, MAX_KEY_BYTES, DEFAULT_MAX_VALUE_BYTES } from './memory.js';
export type { MemoryStorageOptions } from './memory.js';
