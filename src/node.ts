// pqc-iiot/node: the parts that need Node.js (the file system).
export { FileStorage } from './storage/file.js';
