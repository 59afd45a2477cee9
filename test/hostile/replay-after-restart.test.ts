// A replay across a subscriber restart, after a key rotation: the subscriber's
// replay window of the old epoch must not be forgotten while the old epoch's
// key can still be obtained.
//
// Found by the hostile tests (2026-11-25) and fixed the same day: a subscriber
// wipes an old epoch's key and forgets its replay windows (ReplayGuard.
// forgetEpoch) when ITS grace period ends, while the publisher keeps the old
// key for late key requests until ITS grace period ends. A subscriber with a
// shorter grace that restarted in between was granted the old epoch again and
// accepted a replay. Now forgetEpoch leaves a durable epoch floor, and a grant
// below it is STALE_EPOCH (first test).
//
// Issue 19, finding 3 (last test): a subscriber restarted WITHOUT durable
// storage (fresh memory, the client's default) forgot every replay window, so
// the broker could replay the last maxAgeMs (5 min) of its traffic, commands
// included, once its keys were granted again. Now a memory-only replay guard
// refuses everything timestamped before its start minus clockSkewMs (TOO_OLD).
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectAsync, type SecureMqttClient } from '../../src/client/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { makeFleet, str, text, until, type Fleet } from '../support/fleet.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';

let broker: MosquittoHarness;
let fleet: Fleet;
beforeAll(async () => {
  broker = await startMosquitto();
  fleet = await makeFleet();
}, 60_000);
afterAll(async () => {
  await broker?.close();
});

async function replayAcrossRestart(tag: string, subscriberGraceMs: number, publisherGraceMs: number, waitMs: number): Promise<{ deliveries: string[]; codes: string[]; duplicates: number }> {
  const pubM = await fleet.member(`${tag}-pub`, { publish: [`${tag}/#`] });
  const subM = await fleet.member(`${tag}-sub`, { subscribe: [`${tag}/#`] });
  const pub = await connectAsync(broker.url, pubM.options({ rotation: { graceMs: publisherGraceMs } }));
  const subOptions = subM.options({ rotation: { graceMs: subscriberGraceMs } });
  let sub: SecureMqttClient = await connectAsync(broker.url, subOptions);
  const deliveries: string[] = [];
  const codes: string[] = [];
  const watch = (c: SecureMqttClient): void => {
    c.on('message', (_t, p, m) => deliveries.push(`${str(p)}@epoch${m.epoch}`));
    c.on('security', (e) => codes.push(e.code));
  };
  watch(sub);
  await sub.subscribeAsync(`${tag}/#`, { qos: 1 });
  const raw = await mqtt.connectAsync(broker.url);
  const wire: Buffer[] = [];
  raw.on('message', (_t, p) => wire.push(p));
  await raw.subscribeAsync(`${tag}/#`, { qos: 1 });
  try {
    await until(() => pub.certificateOf(`${tag}-sub`) !== undefined, 'the publisher to know the subscriber');
    await pub.publishAsync(`${tag}/a`, text('m1'), { qos: 1 });
    await until(() => deliveries.length === 1 && wire.length === 1, 'm1');
    await pub.keyManager!.rotate(`${tag}/#`);
    await pub.publishAsync(`${tag}/a`, text('m2'), { qos: 1 });
    await until(() => deliveries.length === 2, 'm2');
    await new Promise((r) => setTimeout(r, waitMs));
    await sub.endAsync();
    sub = await connectAsync(broker.url, subOptions);
    watch(sub);
    await sub.subscribeAsync(`${tag}/#`, { qos: 1 });
    await until(() => sub.stats().grantsAccepted >= 1, 'the restarted subscriber to get keys');
    await new Promise((r) => setTimeout(r, 50));
    await raw.publishAsync(`${tag}/a`, wire[0]!, { qos: 1 }); // the broker replays m1 (epoch 1)
    await until(() => sub.stats().duplicates + Object.values(sub.stats().rejected).reduce((a, b) => a + (b ?? 0), 0) + sub.stats().delivered > 0, 'the replay to be handled', 5_000).catch(() => undefined);
    return { deliveries, codes, duplicates: sub.stats().duplicates };
  } finally {
    await Promise.all([pub.endAsync(), sub.endAsync(), raw.endAsync()]);
  }
}

it('a subscriber with a shorter grace period than its publisher rejects a replay after a restart (durable epoch floor)', { timeout: 60_000 }, async () => {
  // Subscriber grace 500 ms, publisher grace 30 s (default); the restart comes 2.5 s after the rotation.
  const r = await replayAcrossRestart('gr1', 500, 30_000, 2_500);
  expect(r.deliveries.filter((d) => d.startsWith('m1')), `deliveries ${r.deliveries.join(', ')}; codes ${r.codes.join(', ')}`).toHaveLength(1);
});

it('equal grace periods, restart within them: the replay is a duplicate (the window is still stored)', { timeout: 60_000 }, async () => {
  const r = await replayAcrossRestart('gr2', 30_000, 30_000, 2_500);
  expect(r.deliveries.filter((d) => d.startsWith('m1'))).toHaveLength(1);
  expect(r.duplicates).toBe(1);
});

it('equal grace periods, restart after them: the replay is not delivered (held without a key, not reported)', { timeout: 60_000 }, async () => {
  // The window is gone, and so is the publisher's copy of the old key: the replay waits for a key that never comes.
  const r = await replayAcrossRestart('gr3', 1_000, 1_000, 2_500);
  expect(r.deliveries.filter((d) => d.startsWith('m1'))).toHaveLength(1);
});

it('a subscriber restarted without durable storage refuses the broker\'s replays of its previous life (group data and a command)', { timeout: 60_000 }, async () => {
  const tag = 'gr4';
  const pubM = await fleet.member(`${tag}-pub`, { publish: [`${tag}/#`] });
  const subM = await fleet.member(`${tag}-sub`, { subscribe: [`${tag}/#`] });
  const pub = await connectAsync(broker.url, pubM.options());
  // Fresh memory at every start (nothing survives the restart); a small clock skew so that the test need not wait 30 s.
  const subOptions = () => subM.options({ storage: new MemoryStorage(), replay: { clockSkewMs: 500 } });
  let sub: SecureMqttClient = await connectAsync(broker.url, subOptions());
  const deliveries: string[] = [];
  const codes: string[] = [];
  const watch = (c: SecureMqttClient): void => {
    c.on('message', (t, p) => deliveries.push(`${str(p)}@${t}`));
    c.on('security', (e) => codes.push(e.code));
  };
  watch(sub);
  await sub.subscribeAsync(`${tag}/#`, { qos: 1 });
  const raw = await mqtt.connectAsync(broker.url);
  const wire: { topic: string; payload: Buffer }[] = [];
  raw.on('message', (topic, payload) => wire.push({ topic, payload }));
  await raw.subscribeAsync(`${tag}/#`, { qos: 1 });
  try {
    await until(() => pub.certificateOf(`${tag}-sub`) !== undefined, 'the publisher to know the subscriber');
    await pub.publishAsync(`${tag}/valve`, text('open'), { qos: 1 });
    await pub.publishAsync(`${tag}/valve`, text('close'), { qos: 1 });
    await pub.publishAsync(`${tag}/cmd`, text('stop'), { qos: 1, to: `${tag}-sub` });
    await until(() => deliveries.length === 3 && wire.length === 3, 'three deliveries');
    await new Promise((r) => setTimeout(r, 1_200)); // past the skew, and past the publisher's regrantIntervalMs
    await sub.endAsync();
    sub = await connectAsync(broker.url, subOptions());
    watch(sub);
    await sub.subscribeAsync(`${tag}/#`, { qos: 1 });
    await until(() => sub.stats().grantsAccepted >= 1, 'the restarted subscriber to get the current epoch again');
    const before = deliveries.length;
    for (const m of wire.slice(0, 3)) await raw.publishAsync(m.topic, m.payload, { qos: 1 }); // the broker replays all three
    const handled = (): number => sub.stats().duplicates + Object.values(sub.stats().rejected).reduce((a, b) => a + (b ?? 0), 0) + sub.stats().delivered;
    await until(() => handled() >= 3, 'the replays to be handled', 5_000).catch(() => undefined);
    expect({ redelivered: deliveries.slice(before), tooOld: codes.filter((c) => c === 'TOO_OLD').length }).toEqual({ redelivered: [], tooOld: 3 });
  } finally {
    await Promise.all([pub.endAsync(), sub.endAsync(), raw.endAsync()]);
  }
});
