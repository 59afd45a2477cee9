// pqc-iiot/node: the parts that need Node.js (the file system).
export { FileStorage } from './storage/file.js';
export { nodeSignWorker, type NodeSignWorkerHandle } from './worker/node-spawn.js';
