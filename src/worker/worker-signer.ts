// Falcon-512 signing on worker threads (Node) or Web Workers (browsers),
// through comlink: the caller's thread keeps the MQTT client, the codec and
// the cheap crypto, the workers do the one expensive operation (a signature
// costs a few hundred microseconds in wasm). Environment-neutral: how a worker
// is started comes from outside (nodeSignWorker in pqc-iiot/node).
//
// Nothing is lost when a worker fails: a signature that fails, or does not
// come back within timeoutMs, is made on the caller's thread instead, the
// worker is stopped and not used again, and onError hears about it once.

import { aoptInt } from '../../bindings/assert-sdk.js';
import { transfer, wrap, type Endpoint, type Remote } from 'comlink';
import { falcon512, falconBuild } from '../../bindings/index.js';
import { ConfigError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { withTimeout } from '../util/timeout.js';
import type { SignService } from './sign-service.js';

/** A started worker, as the signer needs it. */
export interface SignWorkerHandle {
  /** Where comlink talks to the worker (for Node, comlink's nodeEndpoint(worker)). */
  readonly endpoint: Endpoint;
  /** Registers the listener called once if the worker fails or exits by itself. */
  onFailure(listener: (err: Error) => void): void;
  /** Stops the worker (its memory, the expanded key included, goes with it). */
  terminate(): unknown;
}

export interface SignWorkerOptions {
  /** Starts one signing worker (nodeSignWorker from 'pqc-iiot/node' in Node). */
  readonly spawn: () => SignWorkerHandle;
  /** Workers to start, 1..16. Default 1: a second core for signing. */
  readonly count?: number;
  /** A signature not back within this long is made on the caller's thread. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** Starting (wasm load, key expansion, a signature checked) must finish within this long. Default 10,000 ms. */
  readonly startTimeoutMs?: number;
}

interface Slot {
  readonly handle: SignWorkerHandle;
  readonly remote: Remote<SignService>;
  inFlight: number;
  failed: boolean;
  /** Rejects when the slot fails: calls in flight on it stop waiting at once (comlink would wait for ever). */
  readonly dead: Promise<never>;
  kill(err: Error): void;
}

function newSlot(handle: SignWorkerHandle): Slot {
  let kill: (err: Error) => void = () => undefined;
  const dead = new Promise<never>((_, reject) => (kill = reject));
  dead.catch(() => undefined);
  return { handle, remote: wrap<SignService>(handle.endpoint), inFlight: 0, failed: false, dead, kill };
}

const PROBE = new TextEncoder().encode('pqc-iiot/v1/sign-worker/probe');

export class WorkerSigner {
  readonly #identity: Identity;
  readonly #slots: Slot[];
  readonly #timeoutMs: number;
  readonly #onError: (err: Error) => void;
  #closed = false;

  private constructor(identity: Identity, slots: Slot[], timeoutMs: number, onError: (err: Error) => void) {
    this.#identity = identity;
    this.#slots = slots;
    this.#timeoutMs = timeoutMs;
    this.#onError = onError;
    for (const slot of slots) slot.handle.onFailure((err) => this.#fail(slot, err));
  }

  /**
   * Starts the workers, hands each a copy of the identity's Falcon secret key
   * (moved, then wiped there once expanded) and checks one signature of each
   * against the identity's public key before trusting it.
   * @throws ConfigError('SIGN_WORKER') if a worker cannot be started (the ones started are stopped).
   */
  static async start(identity: Identity, options: SignWorkerOptions, onError: (err: Error) => void = () => undefined): Promise<WorkerSigner> {
    const count = aoptInt(options.count, 1, 1, 16, 'signWorkers.count');
    const timeoutMs = aoptInt(options.timeoutMs, 5_000, 1, 600_000, 'signWorkers.timeoutMs');
    const startTimeoutMs = aoptInt(options.startTimeoutMs, 10_000, 1, 600_000, 'signWorkers.startTimeoutMs');
    const falcon = falconBuild();
    if (falcon === undefined) throw new ConfigError('NOT_INITIALISED', 'call init() before starting signing workers');
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const handle = options.spawn();
        const slot = newSlot(handle);
        slots.push(slot);
        const failed = new Promise<never>((_, reject) => handle.onFailure(reject));
        failed.catch(() => undefined);
        const secretKey = identity.falcon.secretKey.slice();
        const ready = (async () => {
          await slot.remote.open({ falcon }, transfer(secretKey, [secretKey.buffer]));
          const probe = await slot.remote.sign(PROBE);
          if (!falcon512.verify(probe, PROBE, identity.publicKeys.falcon)) throw new Error('its signature does not verify under our public key');
        })();
        try {
          await withTimeout(Promise.race([ready, failed]), startTimeoutMs, () => new Error(`not ready within ${startTimeoutMs} ms`));
        } finally {
          if (secretKey.buffer.byteLength > 0) secretKey.fill(0); // still ours if the transfer did not happen
        }
      }
    } catch (err) {
      for (const s of slots) s.handle.terminate();
      throw new ConfigError('SIGN_WORKER', `could not start a signing worker: ${(err as Error).message}`, { cause: err });
    }
    return new WorkerSigner(identity, slots, timeoutMs, onError);
  }

  /** Workers still in use. */
  get workers(): number {
    return this.#slots.filter((s) => !s.failed).length;
  }

  /** A Falcon-512 signature of `message` by the identity: on the least busy worker, or here if none is left. */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) throw new ConfigError('CLOSED', 'the signing workers were closed');
    let slot: Slot | undefined;
    for (const s of this.#slots) if (!s.failed && (slot === undefined || s.inFlight < slot.inFlight)) slot = s;
    if (slot === undefined) return this.#identity.sign(message);
    slot.inFlight++;
    try {
      return await withTimeout(Promise.race([slot.remote.sign(message), slot.dead]), this.#timeoutMs, () => new Error(`no signature within ${this.#timeoutMs} ms`));
    } catch (err) {
      if (this.#closed) throw new ConfigError('CLOSED', 'the signing workers were closed', { cause: err });
      this.#fail(slot, err instanceof Error ? err : new Error(String(err)));
      return this.#identity.sign(message);
    } finally {
      slot.inFlight--;
    }
  }

  #fail(slot: Slot, err: Error): void {
    if (slot.failed || this.#closed) return;
    slot.failed = true;
    slot.kill(err);
    slot.handle.terminate();
    this.#onError(new ConfigError('SIGN_WORKER', `a signing worker failed (${err.message}); signing on this thread instead`, { cause: err }));
  }

  /** Wipes the workers' keys and stops them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (s) => {
        if (!s.failed) await withTimeout(s.remote.close(), 1_000, () => new Error('close timed out')).catch(() => undefined);
        await s.handle.terminate();
      }),
    );
  }
}
