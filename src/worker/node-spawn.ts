// Starting a Node signing worker thread (pqc-iiot/node). The worker's program
// is node-sign-worker.js beside this module in dist/; in a source checkout it
// is the .ts file, run through tsx as the rest of the sources are.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { SignWorkerHandle } from './worker-signer.js';

/** tsx's ESM API (its 'import' export: the require one does not load from a worker's eval'd code). */
function tsxApi(): string {
  const resolve = (import.meta as ImportMeta & { resolve?: (specifier: string) => string }).resolve;
  if (typeof resolve === 'function') return resolve('tsx/esm/api');
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return pathToFileURL(join(dirname(pkg), 'dist/esm/api/index.mjs')).href;
}

/** The worker's program, or (source checkout) a bootstrap that registers tsx in the worker first. */
function startWorker(): Worker {
  const built = new URL('./node-sign-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return new Worker(built);
  const source = new URL('./node-sign-worker.ts', import.meta.url);
  if (!existsSync(fileURLToPath(source))) throw new Error(`the signing worker's program is missing (${fileURLToPath(built)}): rebuild the package`);
  // Loaders registered on this thread do not reach worker threads.
  const api = tsxApi();
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

/** A Node signing worker: its thread is there to inspect (threadId, resourceUsage), not to stop. */
export interface NodeSignWorkerHandle extends SignWorkerHandle {
  readonly thread: Worker;
}

/** Starts one signing worker thread: pass it as `signWorkers: { spawn: nodeSignWorker }`. */
export function nodeSignWorker(): NodeSignWorkerHandle {
  const worker = startWorker();
  let stopping = false;
  return {
    thread: worker,
    endpoint: nodeEndpoint(worker),
    onFailure(listener) {
      worker.once('error', (err: Error) => listener(err));
      worker.once('exit', (code: number) => {
        if (!stopping) listener(new Error(`the worker exited (code ${code})`));
      });
    },
    terminate() {
      stopping = true;
      return worker.terminate();
    },
  };
}
