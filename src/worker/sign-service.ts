// The signing worker's side: a Falcon-512 key expanded once in the worker's
// own wasm instance, served through comlink. Environment-neutral: the Node
// entry (node-sign-worker.ts) passes its parentPort, a browser entry would
// pass `self`. Only this worker's caller can reach it, and it signs whatever
// it is given: it is the caller's key, moved off the caller's thread.

import { expose, type Endpoint } from 'comlink';
import { falcon512, init, type ExpandedSigningKey } from '../../bindings/index.js';

export interface SignServiceOptions {
  /** The wasm build the caller runs (bindings' falconBuild()): both sides then sign byte-identically. */
  readonly falcon: 'fast' | 'strict';
}

/** What a signing worker offers (through comlink every method returns a promise on the caller's side). */
export interface SignService {
  /** Loads the wasm core and expands `secretKey`; the copy it was given is wiped, whatever happens. */
  open(options: SignServiceOptions, secretKey: Uint8Array): Promise<void>;
  /** A Falcon-512 signature of `message` (randomised, as Identity.sign without a seed). */
  sign(message: Uint8Array): Uint8Array;
  /** Wipes the expanded key; sign() fails afterwards. */
  close(): void;
}

/** Serves one signing key on `endpoint` until close(). */
export function serveSigner(endpoint: Endpoint): void {
  let key: ExpandedSigningKey | undefined;
  const service: SignService = {
    async open(options, secretKey) {
      try {
        if (key !== undefined) throw new Error('this signing worker already holds a key');
        await init({ falcon: options.falcon });
        key = falcon512.expand(secretKey);
      } finally {
        secretKey.fill(0);
      }
    },
    sign(message) {
      if (key === undefined || key.destroyed) throw new Error('this signing worker holds no key (closed, or open() failed)');
      return key.sign(message);
    },
    close() {
      key?.destroy();
      key = undefined;
    },
  };
  expose(service, endpoint);
}
