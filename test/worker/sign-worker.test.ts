// Falcon signing on worker threads (src/worker): real worker threads running
// the real wasm core, signatures checked against the identity's public key;
// failures (a worker that never answers, one that misses its deadline, one
// that dies) fall back to signing on this thread without losing a signature.
// Then a SecureMqttClient signing on a worker, over Aedes, in both modes.
import { Worker } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512, init } from '../../bindings/index.js';
import type { MessageMeta, SecurityEvent } from '../../src/client/index.js';
import { ConfigError } from '../../src/errors.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { nodeSignWorker, type NodeSignWorkerHandle } from '../../src/worker/node-spawn.js';
import { WorkerSigner, type SignWorkerHandle } from '../../src/worker/worker-signer.js';
import { useAedesClients } from '../support/aedes-clients.js';
import { str, text, until } from '../support/fleet.js';

let identity: Identity;
beforeAll(async () => {
  await init();
  identity = await generateIdentity('sign-worker-test');
});

const valid = (sig: Uint8Array, msg: Uint8Array): boolean => falcon512.verify(sig, msg, identity.publicKeys.falcon);

/** A real worker thread that never answers (its program only keeps itself alive). */
function silentWorker(): SignWorkerHandle & { exited: Promise<number> } {
  const worker = new Worker('setInterval(() => {}, 1000);', { eval: true });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { endpoint: nodeEndpoint(worker), exited, onFailure: (l) => worker.once('error', l), terminate: () => worker.terminate() };
}

describe('WorkerSigner', () => {
  it('signs on worker threads: every signature verifies under the identity key, and differs from message to message', async () => {
    const errors: Error[] = [];
    const signer = await WorkerSigner.start(identity, { spawn: nodeSignWorker, count: 2 }, (e) => errors.push(e));
    try {
      expect(signer.workers).toBe(2);
      const messages = Array.from({ length: 200 }, (_, i) => text(`message ${i}`));
      const sigs = await Promise.all(messages.map((m) => signer.sign(m)));
      expect(sigs.every((s, i) => valid(s, messages[i]!))).toBe(true);
      expect(valid(sigs[0]!, messages[1]!)).toBe(false);
      expect(errors).toEqual([]);
      expect(signer.workers).toBe(2);
    } finally {
      await signer.close();
    }
    await expect(signer.sign(text('after close'))).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it("leaves the identity's own secret key untouched (a worker gets a copy)", async () => {
    const before = identity.falcon.secretKey.slice();
    const signer = await WorkerSigner.start(identity, { spawn: nodeSignWorker });
    await signer.close();
    expect(identity.falcon.secretKey).toEqual(before);
    expect(before.some((b) => b !== 0)).toBe(true);
  });

  it('fails to start with ConfigError SIGN_WORKER when a worker never answers, and stops it', async () => {
    const spawned: ReturnType<typeof silentWorker>[] = [];
    const start = WorkerSigner.start(identity, { spawn: () => (spawned.push(silentWorker()), spawned.at(-1)!), startTimeoutMs: 300 });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toMatchObject({ code: 'SIGN_WORKER' });
    expect(spawned.length).toBe(1);
    await spawned[0]!.exited; // terminated, not left running
  });

  it('a signature that misses its deadline is made here instead: nothing is lost, the worker is dropped, the error reported once', async () => {
    const errors: Error[] = [];
    const signer = await WorkerSigner.start(identity, { spawn: nodeSignWorker, timeoutMs: 1 }, (e) => errors.push(e));
    try {
      // A worker round trip takes longer than 1 ms (a signature alone is a few hundred microseconds).
      const messages = Array.from({ length: 20 }, (_, i) => text(`late ${i}`));
      const sigs = await Promise.all(messages.map((m) => signer.sign(m)));
      expect(sigs.every((s, i) => valid(s, messages[i]!))).toBe(true);
      expect(signer.workers).toBe(0);
      expect(errors.length).toBe(1);
      expect(errors[0]).toMatchObject({ code: 'SIGN_WORKER' });
      expect(valid(await signer.sign(text('here')), text('here'))).toBe(true);
    } finally {
      await signer.close();
    }
  });

  it('a worker that dies is dropped at once and signing goes on here', async () => {
    const errors: Error[] = [];
    const handles: NodeSignWorkerHandle[] = [];
    const spawn = (): SignWorkerHandle => (handles.push(nodeSignWorker()), handles.at(-1)!);
    const signer = await WorkerSigner.start(identity, { spawn, timeoutMs: 60_000 }, (e) => errors.push(e));
    try {
      expect(valid(await signer.sign(text('before')), text('before'))).toBe(true);
      // The thread ends under the signer, as a crash would (not through the handle's terminate(), a deliberate stop).
      const pending = signer.sign(text('in flight'));
      await handles[0]!.thread.terminate();
      await until(() => errors.length > 0, 'the failure to be reported');
      expect(errors[0]).toMatchObject({ code: 'SIGN_WORKER' });
      expect(signer.workers).toBe(0);
      // The signature in flight when it died is not lost: made here (at once, not after the 60 s deadline).
      expect(valid(await pending, text('in flight'))).toBe(true);
      expect(valid(await signer.sign(text('after')), text('after'))).toBe(true);
      expect(errors.length).toBe(1);
    } finally {
      await signer.close();
    }
  });
});

const setup = useAedesClients();

describe('SecureMqttClient with signWorkers over Aedes', () => {
  it('signed and amortised messages signed on a worker thread are delivered verified, in order', async () => {
    const pubM = await setup.fleet().member('sw-pub', { publish: ['sw/#'] });
    const subM = await setup.fleet().member('sw-sub', { subscribe: ['sw/#'] });
    const sub = await setup.open(subM, { acceptAmortised: { holdMs: 2_000 } });
    const messages: { topic: string; payload: string; meta: MessageMeta }[] = [];
    const security: SecurityEvent[] = [];
    sub.on('message', (topic, payload, meta) => messages.push({ topic, payload: str(payload), meta }));
    sub.on('security', (e) => security.push(e));
    await sub.subscribeAsync('sw/#', { qos: 1 });
    const errors: Error[] = [];
    const signed = await setup.open(pubM, { signWorkers: { spawn: nodeSignWorker } });
    signed.on('error', (e) => errors.push(e));
    await Promise.all(Array.from({ length: 30 }, (_, i) => signed.publishAsync('sw/signed', text(`s${i}`), { qos: 1 })));
    await until(() => messages.length >= 30, '30 signed messages');
    await signed.endAsync();

    const amortised = await setup.open(pubM, { signWorkers: { spawn: nodeSignWorker }, amortise: { maxBatch: 8, maxDelayMs: 20 } });
    amortised.on('error', (e) => errors.push(e));
    await until(() => (sub.keyManager?.heldEpochs('sw-pub', 'sw/#').length ?? 0) > 0, 'the subscriber to get the key');
    await Promise.all(Array.from({ length: 30 }, (_, i) => amortised.publishAsync('sw/amortised', text(`a${i}`), { qos: 1 })));
    // A graceful end() still publishes the manifests being signed on the worker.
    await amortised.endAsync();
    await until(() => messages.length >= 60, '30 amortised messages');
    expect(messages.slice(0, 30).map((m) => m.payload)).toEqual(Array.from({ length: 30 }, (_, i) => `s${i}`));
    expect(messages.slice(30).map((m) => m.payload)).toEqual(Array.from({ length: 30 }, (_, i) => `a${i}`));
    expect(messages.every((m) => m.meta.sender === 'sw-pub')).toBe(true);
    expect(security).toEqual([]);
    expect(errors).toEqual([]);
  });
});
