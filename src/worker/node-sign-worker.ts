// Entry of a Node signing worker thread (see worker-signer.ts and
// nodeSignWorker in node-spawn.ts). Not imported by anything: Node runs it.

import { parentPort } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { serveSigner } from './sign-service.js';

if (!parentPort) throw new Error('node-sign-worker runs as a worker thread: start it with nodeSignWorker() from pqc-iiot/node');
serveSigner(nodeEndpoint(parentPort));
