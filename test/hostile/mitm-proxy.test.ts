// The man in the middle itself, with plain mqtt.js clients (no SDK): it keeps
// both sides' MQTT sessions consistent whatever it does to PUBLISH packets.
// QoS 0, 1 and 2 in both directions, MQTT 3.1.1 and 5: originals are
// acknowledged end to end, drops are acknowledged by the proxy, copies and
// injections are swallowed on the way back, nobody's publish hangs.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomPolicy, startMitmProxy, type MitmProxy } from '../support/mitm-proxy.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';
import { until } from '../support/fleet.js';

let broker: MosquittoHarness;
let proxy: MitmProxy;

beforeAll(async () => {
  broker = await startMosquitto();
  proxy = await startMitmProxy({ brokerPort: broker.port });
}, 30_000);

afterAll(async () => {
  await proxy?.close();
  await broker?.close();
});

describe.each([4, 5] as const)('MQTT %i through the proxy', (version) => {
  it('drops, delays, duplicates and injections keep both sessions consistent', { timeout: 60_000 }, async () => {
    const tag = `v${version}`;
    let n = 0;
    proxy.onPublish((ctx) => {
      if (ctx.direction !== 'toClient' || !ctx.packet.topic.startsWith(`${tag}/`)) return;
      n++;
      if (n % 5 === 0) return ctx.drop({ kind: 'drop' });
      if (n % 7 === 0) return ctx.later(30, undefined, { kind: 'delay' });
      ctx.forward();
      if (n % 3 === 0) ctx.forward({ dup: true }, { kind: 'duplicate' });
    });
    const sub = await mqtt.connectAsync(proxy.url, { protocolVersion: version, clientId: `sub-${tag}` });
    const pub = await mqtt.connectAsync(proxy.url, { protocolVersion: version, clientId: `pub-${tag}` });
    const got: string[] = [];
    sub.on('message', (topic, payload, packet) => {
      got.push(`${topic} ${payload.toString()}`);
      if (version === 5) expect(packet.properties?.userProperties?.['x-mitm']).toMatch(/^\d+:\d+$/);
    });
    await sub.subscribeAsync({ [`${tag}/q1`]: { qos: 1 }, [`${tag}/q2`]: { qos: 2 } });
    for (let i = 0; i < 60; i++) await pub.publishAsync(`${tag}/q${1 + (i % 2)}`, `m${i}`, { qos: (i % 3) as 0 | 1 | 2 });
    const conn = proxy.connectionOf(`sub-${tag}`)!;
    for (let i = 0; i < 100; i++) conn.inject('toClient', { topic: `${tag}/injected`, payload: Buffer.from(`i${i}`), qos: (i % 2) as 0 | 1 });
    await until(() => got.filter((g) => g.startsWith(`${tag}/injected`)).length === 100, 'the injected messages');
    // Every publisher call resolved (acknowledged); the sessions still work after it all, in both directions.
    const after: string[] = [];
    sub.on('message', (topic) => after.push(topic));
    for (let i = 0; i < 50; i++) await pub.publishAsync(`${tag}/q1`, `again${i}`, { qos: 1 });
    await sub.publishAsync(`${tag}/q2`, 'from the subscriber', { qos: 2 });
    await until(() => after.length >= 30, 'messages after the attacks');
    expect(sub.connected && pub.connected).toBe(true);
    const counts = proxy.counts();
    expect(counts['drop']!.drop).toBeGreaterThan(0);
    expect(counts['duplicate']!.write).toBeGreaterThan(0);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });
});

it('the seeded random policy: every kind of action, and the sessions survive it', { timeout: 60_000 }, async () => {
  const run = async (seed: number): Promise<string[]> => {
    const log: string[] = [];
    proxy.onPublish(
      randomPolicy({
        seed,
        rates: { drop: 0.05, delay: 0.05, duplicate: 0.1, reorder: 0.05, replay: 0.05, flip: 0.1, truncate: 0.05, extend: 0.05, redirect: 0.05 },
        select: (ctx) => ctx.direction === 'toClient' && ctx.packet.topic.startsWith('rp/'),
        redirectTo: (t) => (t === 'rp/a' ? 'rp/b' : 'rp/a'),
        maxDelayMs: 20,
      }),
    );
    const sub = await mqtt.connectAsync(proxy.url, { clientId: `rp-sub-${seed}-${Math.random()}` });
    const pub = await mqtt.connectAsync(proxy.url, { clientId: `rp-pub-${seed}-${Math.random()}` });
    sub.on('message', (topic, payload) => log.push(`${topic}:${payload.length}`));
    await sub.subscribeAsync({ 'rp/#': { qos: 1 } });
    for (let i = 0; i < 200; i++) await pub.publishAsync(i % 2 ? 'rp/a' : 'rp/b', `message ${i}`, { qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(sub.connected && pub.connected).toBe(true);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
    return log;
  };
  const a = await run(1);
  expect(a.length).toBeGreaterThan(150);
  const kinds = Object.keys(proxy.counts());
  for (const k of ['drop', 'duplicate', 'bitflip', 'truncate', 'extend', 'redirect']) expect(kinds).toContain(k);
});
