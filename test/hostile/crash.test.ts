// Crashes of real processes, with FileStorage:
// 1. A publisher (a child process: test/hostile/publisher-child.ts) is killed
//    with SIGKILL mid-stream CRASH_KILLS times (default 10) and restarted on
//    the same storage each time. No sequence number is ever used for two
//    different envelopes, each restart starts a higher epoch, every message
//    the broker acknowledged reaches the subscriber exactly once, and no
//    honest message is rejected.
// 2. The subscriber is restarted on its FileStorage; everything it accepted
//    before, replayed by the broker afterwards, is rejected (a silent
//    duplicate or a reason code), never delivered again, while new messages
//    still are.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init } from '../../bindings/index.js';
import { encodeTrustAnchor } from '../../src/certs/certificate.js';
import { SecureMqttClient, type MessageMeta, type SecurityEvent } from '../../src/client/index.js';
import { exportIdentity } from '../../src/identity/index.js';
import { decodeGroup } from '../../src/protocol/group.js';
import { FileStorage } from '../../src/storage/file.js';
import { makeFleet, str, until, type Fleet, type Member } from '../support/fleet.js';
import { Rng } from '../support/mitm-proxy.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 10);
const CHILD = fileURLToPath(new URL('./publisher-child.ts', import.meta.url));

let broker: MosquittoHarness;
let fleet: Fleet;
let dir = '';
let raw: MqttClient | undefined;
const children = new Set<ChildProcess>();
const clients: SecureMqttClient[] = [];

beforeAll(async () => {
  await init();
  broker = await startMosquitto();
  fleet = await makeFleet();
  dir = await mkdtemp(join(tmpdir(), 'pqc-iiot-hostile-crash-'));
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await raw?.endAsync(true).catch(() => undefined);
  await broker?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Delivery {
  readonly payload: string;
  readonly meta: MessageMeta;
}

/** One publisher run: resolves with the messages the broker acknowledged before the kill (or before `keep` acks, left running). */
function runPublisher(run: number, killAfterAcks: number, killDelayMs: number, keep: boolean): Promise<{ acked: number[]; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const args = [CHILD, dir, broker.url, String(run), ...(keep ? [String(killAfterAcks)] : [])];
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const acked: number[] = [];
    let out = '';
    let err = '';
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      resolve({ acked, child });
    };
    const watchdog = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`publisher run ${run} stalled: ${acked.length} acks; stderr: ${err}`));
    }, 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        const m = /^A (\d+)$/.exec(l);
        if (m) acked.push(Number(m[1]));
      }
      if (acked.length >= killAfterAcks && !settled) {
        if (keep) done();
        else
          setTimeout(() => {
            child.kill('SIGKILL');
          }, killDelayMs);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (err += c));
    child.on('close', (code, signal) => {
      children.delete(child);
      if (keep && !settled) reject(new Error(`publisher run ${run} exited (${code ?? signal}): ${err}`));
      else if (signal !== 'SIGKILL' && !settled) reject(new Error(`publisher run ${run} exited (${code ?? signal}): ${err}`));
      else done();
    });
  });
}

async function openSubscriber(member: Member, storageDir: string, log: { delivered: Delivery[]; security: SecurityEvent[]; errors: string[] }): Promise<SecureMqttClient> {
  const storage = await FileStorage.open(storageDir);
  const client = new SecureMqttClient(broker.url, member.options({ storage, mqtt: { clientId: 'crash-subscriber', reconnectPeriod: 200 } }));
  client.on('message', (_topic, payload, meta) => log.delivered.push({ payload: str(payload), meta }));
  client.on('security', (e) => log.security.push(e));
  client.on('error', (e) => log.errors.push(e.message));
  await client.connect();
  clients.push(client);
  await client.subscribeAsync('crash/#', { qos: 1 });
  return client;
}

it(`publisher SIGKILLed ${KILLS} times mid-stream and restarted from FileStorage; then the subscriber restarts and rejects every replay`, { timeout: 300_000 }, async () => {
  const pub = await fleet.member('crash-pub', { publish: ['crash/#'] });
  const sub = await fleet.member('crash-sub', { subscribe: ['crash/#'] });
  await writeFile(join(dir, 'identity.bin'), await exportIdentity(pub.identity));
  await writeFile(join(dir, 'certificate.bin'), pub.certificate.bytes);
  await writeFile(join(dir, 'anchor.bin'), encodeTrustAnchor(fleet.ca.trustAnchor));

  // Everything the broker distributes on the data topic, as sent.
  raw = await mqtt.connectAsync(broker.url, { clientId: 'crash-recorder' });
  const wire: Uint8Array[] = [];
  raw.on('message', (_t, payload) => wire.push(new Uint8Array(payload)));
  await raw.subscribeAsync('crash/data', { qos: 1 });

  const log = { delivered: [] as Delivery[], security: [] as SecurityEvent[], errors: [] as string[] };
  const subscriber = await openSubscriber(sub, join(dir, 'sub-storage'), log);

  // ---- 1. the publisher dies KILLS times
  const rng = new Rng(4242);
  const acked = new Map<number, number[]>();
  for (let run = 0; run < KILLS; run++) {
    const { acked: a } = await runPublisher(run, rng.range(1, 30), rng.int(15), false);
    acked.set(run, a);
  }
  const { acked: lastAcked, child: last } = await runPublisher(KILLS, 20, 0, true);
  acked.set(KILLS, lastAcked);
  const wanted = [...acked].flatMap(([run, list]) => list.map((i) => `crash/${run}/${i}`));
  await until(() => wanted.every((w) => log.delivered.some((d) => d.payload === w)), 'every acknowledged message to reach the subscriber', 60_000);

  const names = log.delivered.map((d) => d.payload);
  expect(new Set(names).size, 'a message delivered twice').toBe(names.length);
  expect(log.security.map((e) => `${e.code}: ${e.message}`), 'honest messages rejected').toEqual([]);
  // No sequence number was used for two different envelopes (across epochs and restarts).
  const bySeq = new Map<number, string>();
  for (const bytes of wire) {
    const f = decodeGroup(bytes);
    const key = Buffer.from(bytes).toString('base64');
    const seen = bySeq.get(f.seq);
    expect(seen === undefined || seen === key, `sequence number ${f.seq} used twice`).toBe(true);
    bySeq.set(f.seq, key);
  }
  // Each restart starts a higher epoch, and its sequence numbers are above every earlier run's.
  const runOf = (d: Delivery): number => Number(d.payload.split('/')[1]);
  const runs = [...new Set(log.delivered.map(runOf))].sort((a, b) => a - b);
  for (let i = 1; i < runs.length; i++) {
    const prev = log.delivered.filter((d) => runOf(d) === runs[i - 1]);
    const cur = log.delivered.filter((d) => runOf(d) === runs[i]);
    expect(Math.min(...cur.map((d) => d.meta.epoch!)), `run ${runs[i]} epoch`).toBeGreaterThan(Math.max(...prev.map((d) => d.meta.epoch!)));
    expect(Math.min(...cur.map((d) => d.meta.seq)), `run ${runs[i]} sequence numbers`).toBeGreaterThan(Math.max(...prev.map((d) => d.meta.seq)));
  }
  console.log(
    `publisher crashes: ${KILLS} SIGKILLs, ${wanted.length} acknowledged messages all delivered once, ${log.delivered.length} delivered in all, ` +
      `${wire.length} envelopes on the wire with ${bySeq.size} distinct sequence numbers, epochs ${Math.min(...log.delivered.map((d) => d.meta.epoch!))}..${Math.max(...log.delivered.map((d) => d.meta.epoch!))}`,
  );

  // ---- 2. the subscriber restarts on its storage; the broker replays what it delivered before
  // (A key request within regrantIntervalMs (1 s) of the publisher's last grant to the same subscriber gets no new
  // grant; the restarted subscriber would only get its key once a new message makes it ask again.)
  await new Promise((r) => setTimeout(r, 1_500));
  await subscriber.endAsync();
  const log2 = { delivered: [] as Delivery[], security: [] as SecurityEvent[], errors: [] as string[] };
  const subscriber2 = await openSubscriber(sub, join(dir, 'sub-storage'), log2);
  // The last publisher published its 20 messages and idles (answering key requests): the new
  // subscriber got the current epoch's key from it. No new messages: nothing queued behind the replays.
  await until(() => subscriber2.keyManager!.heldEpochs('crash-pub', 'crash/#').length > 0, 'the restarted subscriber to get the current key', 30_000);
  last.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  const currentEpoch = Math.max(...subscriber2.keyManager!.heldEpochs('crash-pub', 'crash/#'));
  // Everything the broker carried before: earlier epochs and the current one.
  const old = wire.filter((b) => decodeGroup(b).epoch !== currentEpoch);
  const current = wire.filter((b) => decodeGroup(b).epoch === currentEpoch);
  const replays = [...old, ...current];
  const before = subscriber2.stats();
  const deliveredAtReplay = log2.delivered.length;
  const securityBefore = log2.security.length;
  for (let i = 0; i < replays.length; i += 10) {
    await Promise.all(replays.slice(i, i + 10).map((b) => raw!.publishAsync('crash/data', Buffer.from(b), { qos: 1 })));
  }
  // Wait until the subscriber has been quiet for a second.
  let last2 = -1;
  for (let i = 0; i < 60; i++) {
    const now2 = subscriber2.stats().duplicates + log2.security.length + log2.delivered.length;
    if (now2 === last2) break;
    last2 = now2;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const deliveredDuringReplay = log2.delivered.length - deliveredAtReplay;
  const codes: Record<string, number> = { 'DUPLICATE (silent)': subscriber2.stats().duplicates - before.duplicates };
  for (const e of log2.security.slice(securityBefore)) codes[e.code] = (codes[e.code] ?? 0) + 1;
  const reported = Object.values(codes).reduce((a, b) => a + b, 0);
  console.log(
    `subscriber restart: ${replays.length} envelopes replayed (${old.length} of earlier epochs, ${current.length} of the current epoch ${currentEpoch}); ` +
      `delivered during the replays ${deliveredDuringReplay}; ` +
      `outcomes ${JSON.stringify(codes)}; held without a report (their epochs' replay windows were forgotten, no key will come): ${replays.length - reported}`,
  );
  // Nothing delivered twice, before or after the restart.
  const all = [...names, ...log2.delivered.map((d) => d.payload)];
  expect(all.length - new Set(all).size, 'messages delivered twice across the restart').toBe(0);
  // The current epoch's windows survived the restart: every replay of it is a duplicate or below the window.
  expect(deliveredDuringReplay, 'replays delivered after the restart').toBe(0);
  expect((codes['DUPLICATE (silent)'] ?? 0) + (codes['REPLAY'] ?? 0)).toBeGreaterThanOrEqual(current.length);
  expect(log2.security.slice(0, securityBefore).map((e) => e.code), 'honest messages rejected after the restart').toEqual([]);
  expect([...log.errors, ...log2.errors]).toEqual([]);
});
