// Amortised mode end to end through an in-process Aedes broker: a publisher
// with `amortise` (batched, signed manifests on the same topic, timer flush),
// a subscriber with `acceptAmortised`; exactly-once in-order delivery, and a
// raw client injecting tampered messages and manifests.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { MessageMeta, SecurityEvent } from '../../src/client/index.js';
import { MANIFEST_TYPE, decodeManifest } from '../../src/protocol/amortised.js';
import { FLAGS } from '../../src/protocol/envelope.js';
import { useAedesClients } from '../support/aedes-clients.js';
import { str, text, until } from '../support/fleet.js';

const setup = useAedesClients();
const open = setup.open;

describe('SecureMqttClient amortised mode over Aedes', () => {
  it('delivers batched messages exactly once, in order, and rejects tampered messages and manifests', async () => {
    const pubM = await setup.fleet().member('am-pub', { publish: ['am/line/#'] });
    const subM = await setup.fleet().member('am-sub', { subscribe: ['am/#'] });
    const sub = await open(subM, { acceptAmortised: { holdMs: 2_000 } });
    const messages: { topic: string; payload: string; meta: MessageMeta }[] = [];
    const security: SecurityEvent[] = [];
    sub.on('message', (topic, payload, meta) => messages.push({ topic, payload: str(payload), meta }));
    sub.on('security', (e) => security.push(e));
    await sub.subscribeAsync('am/#', { qos: 1 });

    // A raw observer captures what goes over the wire.
    const raw = await mqtt.connectAsync(setup.broker().wsUrl);
    const wire: Buffer[] = [];
    raw.on('message', (_t, p) => wire.push(Buffer.from(p)));
    await raw.subscribeAsync('am/line/temp', { qos: 1 });

    const pub = await open(pubM, { amortise: { maxBatch: 8, maxDelayMs: 20 } });
    await until(() => (sub.keyManager?.heldEpochs('am-pub', 'am/line/#').length ?? 0) > 0, 'the subscriber to get the key');

    // 20 messages: batches of at most 8; partial ones are signed by the timer (maxDelayMs).
    await Promise.all(Array.from({ length: 20 }, (_, i) => pub.publishAsync('am/line/temp', text(`v${i}`), { qos: 1 })));
    await until(() => messages.length >= 20, '20 amortised messages');
    expect(messages.map((m) => m.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
    expect(messages.every((m) => m.meta.sender === 'am-pub' && m.meta.kind === 'group' && m.topic === 'am/line/temp')).toBe(true);
    expect(security).toEqual([]);
    const covered = (): number => wire.filter((b) => b[0] === MANIFEST_TYPE).reduce((n, b) => n + decodeManifest(b).entries.length, 0);
    await until(() => covered() >= 20, 'the observer to see manifests covering 20 messages');
    // The observer's own subscription may get a manifest ahead of envelopes under load: wait for those too.
    await until(() => wire.filter((b) => b[0] === 0x4d).length >= 20, 'the observer to see the 20 envelopes');
    const envelopes = wire.filter((b) => b[0] === 0x4d);
    const manifests = wire.filter((b) => b[0] === MANIFEST_TYPE);
    expect(envelopes.length).toBe(20);
    expect(envelopes.every((b) => b[3] === FLAGS.amortised)).toBe(true);
    expect(manifests.length).toBeGreaterThanOrEqual(3);
    expect(manifests.every((b) => decodeManifest(b).entries.length <= 8)).toBe(true);

    // Retained messages stay individually signed.
    await pub.publishAsync('am/line/state', text('retained'), { qos: 1, retain: true });
    await until(() => messages.length >= 21, 'the retained message');
    expect(messages[20]!.payload).toBe('retained');

    // Hostile: a redelivered message is a quiet duplicate; a tampered one and a tampered manifest are rejected.
    const before = sub.stats().duplicates;
    await raw.publishAsync('am/line/temp', envelopes[0]!, { qos: 1 });
    await until(() => sub.stats().duplicates > before, 'the duplicate to be dropped');
    const tampered = Buffer.from(envelopes[1]!);
    tampered[tampered.length - 1]! ^= 1;
    await raw.publishAsync('am/line/temp', tampered, { qos: 1 });
    const badManifest = Buffer.from(manifests[0]!);
    badManifest[badManifest.length - 10]! ^= 1;
    await raw.publishAsync('am/line/temp', badManifest, { qos: 1 });
    await until(() => security.length >= 2, 'two security events');
    // The tampered message's digest differs from the one its (stored) manifest lists: BAD_SIGNATURE, before decryption.
    expect(security.map((e) => e.code)).toEqual(['BAD_SIGNATURE', 'BAD_SIGNATURE']);
    expect(messages.length).toBe(21);
    await raw.endAsync();
  });

  it('a graceful end() processes the amortised messages it already acknowledged, and reports nothing spurious', async () => {
    const pubM = await setup.fleet().member('am-pub-2', { publish: ['am2/#'] });
    const subM = await setup.fleet().member('am-sub-2', { subscribe: ['am2/#'] });
    const sub = await open(subM, { acceptAmortised: true });
    const security: SecurityEvent[] = [];
    const errors: Error[] = [];
    let delivered = 0;
    sub.on('security', (e) => security.push(e));
    sub.on('error', (e) => errors.push(e));
    await sub.subscribeAsync('am2/#', { qos: 1 });
    const pub = await open(pubM, { amortise: { maxBatch: 64, maxDelayMs: 5 } });
    await until(() => (sub.keyManager?.heldEpochs('am-pub-2', 'am2/#').length ?? 0) > 0, 'the subscriber to get the key');
    let ended: Promise<void> | undefined;
    sub.on('message', () => {
      delivered++;
      ended ??= sub.endAsync(); // mid-stream: later messages are still arriving or queued
    });
    await Promise.all(Array.from({ length: 300 }, (_, i) => pub.publishAsync('am2/x', text(`v${i}`), { qos: 1 })));
    await until(() => ended !== undefined, 'a first delivery');
    await ended;
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(security.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
    expect(delivered).toBeGreaterThan(0);
  });
});
