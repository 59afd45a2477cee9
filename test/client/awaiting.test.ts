// Messages waiting for their sender's certificate (src/client/certificates.ts)
// through a real in-process Aedes broker: a raw client injects well-formed
// group envelopes that name senders the subscriber has never heard of (a
// captured honest envelope with its sender field rewritten). What they may
// hold is bounded in bytes as well as in number, in all and per claimed
// sender; every one refused for lack of room is reported at once, every one
// that waited in vain when its wait ends; after the wait that follows a
// connection nothing is held any more (no certificate is expected then), and
// a reconnection opens it again. An honest message whose sender's
// announcement is late is still held and delivered.
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { CLIENT_DEFAULTS, SecureMqttClient, type SecurityEvent } from '../../src/client/index.js';
import { editGroup } from '../hostile/wire-edit.js';
import { record, useAedesClients } from '../support/aedes-clients.js';
import { text, until } from '../support/fleet.js';

const MiB = 1024 * 1024;


/** A clock the test moves forward. */
function testClock(): { clock: () => number; advance: (ms: number) => void } {
  let offset = 0;
  return { clock: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

const setup = useAedesClients();

/** A raw MQTT client (the attacker, or a recorder) on the broker. */
async function rawClient(): Promise<MqttClient> {
  return mqtt.connectAsync(setup.broker().wsUrl);
}

/** Publishes `payload` from `pub` on `topic` and returns the envelope the broker carried (captured by a raw subscriber). */
async function capture(pub: SecureMqttClient, topic: string, payload: Uint8Array): Promise<Uint8Array> {
  const raw = await rawClient();
  const got: Uint8Array[] = [];
  raw.on('message', (t, p) => {
    if (t === topic) got.push(new Uint8Array(p));
  });
  await raw.subscribeAsync(topic, { qos: 1 });
  await pub.publishAsync(topic, payload, { qos: 1 });
  await until(() => got.length === 1, `the envelope on ${topic}`);
  await raw.endAsync();
  return got[0]!;
}

/** Sends a message the subscriber rejects (MALFORMED) on `topic` after everything `raw` sent before, and waits for its report. */
async function fence(raw: MqttClient, log: { security: SecurityEvent[] }, topic: string): Promise<void> {
  const before = log.security.filter((e) => e.topic === topic).length;
  await raw.publishAsync(topic, Buffer.from([0]), { qos: 1 });
  await until(() => log.security.filter((e) => e.topic === topic).length > before, `the fence on ${topic}`, 20_000);
}

const isNoRoom = (e: SecurityEvent): boolean => e.code === 'UNKNOWN_SENDER' && e.message.includes('no room to hold it until its certificate arrives');
const isExpired = (e: SecurityEvent): boolean => e.code === 'UNKNOWN_SENDER' && e.message.includes('arrived within');
const isNotExpected = (e: SecurityEvent): boolean => e.code === 'UNKNOWN_SENDER' && e.message.includes('none is expected');

describe('messages waiting for their sender\'s certificate', () => {
  it('holds forged envelopes from unknown senders within a byte bound, in all and per sender, and reports every one it drops', { timeout: 60_000 }, async () => {
    const fleet = setup.fleet();
    const pub = await setup.open(await fleet.member('aw-pub', { publish: ['aw/#'] }));
    const { clock, advance } = testClock();
    const sub = await setup.open(await fleet.member('aw-sub', { subscribe: ['aw/#'] }), { clock, maintenanceIntervalMs: 100 });
    const log = record(sub);
    await sub.subscribeAsync('aw/#', { qos: 1 });
    await until(() => sub.certificateOf('aw-pub') !== undefined, 'the subscriber to learn the publisher');
    // A real envelope of about 1 MB (the review's forgeries were ~1 MiB each).
    const big = await capture(pub, 'aw/big', new Uint8Array(1_000_000).fill(7));
    const bytesOf = (sender: string): number => editGroup(big, { sender }).length + 'aw/big'.length;
    expect(bytesOf('ghost-a')).toBeGreaterThan(1_000_000);

    // 3 from one unknown sender (the third does not fit its 2 MiB), then 10 from ten more (8 MiB in all fit 8 of them).
    const raw = await rawClient();
    const senders = ['ghost-a', 'ghost-a', 'ghost-a', ...Array.from({ length: 10 }, (_, i) => `ghost-${i}`)];
    for (const sender of senders) await raw.publishAsync('aw/big', Buffer.from(editGroup(big, { sender })), { qos: 1 });
    await fence(raw, log, 'aw/fence');

    // Refused for lack of room: reported at once, each naming its (claimed) sender.
    const refused = log.security.filter((e) => e.topic === 'aw/big');
    expect(refused.map((e) => e.sender)).toEqual(['ghost-a', 'ghost-6', 'ghost-7', 'ghost-8', 'ghost-9']);
    expect(refused.every(isNoRoom), refused.map((e) => e.message).join('\n')).toBe(true);
    // What is held stays within the bounds, and stats() says how much that is.
    const stats = sub.stats();
    expect(stats.awaiting).toBe(8);
    expect(stats.awaitingBytes).toBe(2 * bytesOf('ghost-a') + 6 * bytesOf('ghost-0'));
    expect(stats.awaitingBytes).toBeLessThanOrEqual(CLIENT_DEFAULTS.awaitingCertificates.maxBytes);
    expect(stats.rejected.UNKNOWN_SENDER).toBe(5);

    // No certificate comes: each held message is reported when its wait ends, and the room is free again.
    advance(CLIENT_DEFAULTS.awaitingCertificates.waitMs + 1_000);
    await until(() => log.security.filter(isExpired).length >= 8, 'the held messages to be reported', 10_000);
    expect(log.security.filter(isExpired).map((e) => e.sender).sort()).toEqual(['ghost-0', 'ghost-1', 'ghost-2', 'ghost-3', 'ghost-4', 'ghost-5', 'ghost-a', 'ghost-a']);
    expect(sub.stats()).toMatchObject({ awaiting: 0, awaitingBytes: 0 });
    expect(sub.stats().rejected.UNKNOWN_SENDER).toBe(13);

    // More than waitMs after the connection, no certificate is expected any more: reported at once, nothing held.
    await raw.publishAsync('aw/big', Buffer.from(editGroup(big, { sender: 'ghost-late' })), { qos: 1 });
    await fence(raw, log, 'aw/fence');
    const late = log.security.filter((e) => e.sender === 'ghost-late');
    expect(late.length).toBe(1);
    expect(isNotExpected(late[0]!), late[0]!.message).toBe(true);
    expect(sub.stats()).toMatchObject({ awaiting: 0, awaitingBytes: 0 });
    expect(log.messages.every((m) => m.meta.sender === 'aw-pub')).toBe(true); // nothing forged was delivered
    await raw.endAsync();
  });

  it('holds again after a reconnection, and only then', { timeout: 60_000 }, async () => {
    const fleet = setup.fleet();
    const pub = await setup.open(await fleet.member('re-pub', { publish: ['re/#'] }));
    const { clock, advance } = testClock();
    const sub = await setup.open(await fleet.member('re-sub', { subscribe: ['re/#'] }), { clock, maintenanceIntervalMs: 100 });
    const log = record(sub);
    await sub.subscribeAsync('re/#', { qos: 1 });
    const small = await capture(pub, 're/a', text('small'));
    const raw = await rawClient();
    const forge = async (sender: string): Promise<void> => {
      await raw.publishAsync('re/a', Buffer.from(editGroup(small, { sender })), { qos: 1 });
      await fence(raw, log, 're/fence');
    };
    // Within waitMs of the connection: held, no event yet.
    await forge('stranger-1');
    expect(log.security.filter((e) => e.code === 'UNKNOWN_SENDER')).toEqual([]);
    expect(sub.stats().awaiting).toBe(1);
    // Later: reported at once; the one held before is reported when its wait ends.
    advance(CLIENT_DEFAULTS.awaitingCertificates.waitMs + 1);
    await forge('stranger-2');
    await until(() => log.security.filter(isExpired).length === 1, 'the held message to expire');
    expect(log.security.filter(isNotExpected).map((e) => e.sender)).toEqual(['stranger-2']);
    expect(sub.stats().awaiting).toBe(0);
    // A new connection brings the retained announcements again: held again.
    const reconnected = new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    sub.mqttClient!.stream.destroy();
    await reconnected;
    await forge('stranger-3');
    expect(sub.stats().awaiting).toBe(1);
    expect(log.security.filter((e) => e.sender === 'stranger-3')).toEqual([]);
    await raw.endAsync();
  });

  it('still holds an honest message whose sender\'s announcement comes late, and delivers it once the announcement arrives', { timeout: 60_000 }, async () => {
    const fleet = setup.fleet();
    const broker = setup.broker().broker;
    const sub = await setup.open(await fleet.member('late-sub', { subscribe: ['late/#'] }), { mqtt: { clientId: 'late-sub-client' } });
    const log = record(sub);
    await sub.subscribeAsync('late/#', { qos: 1 });
    // The broker withholds the publisher's announcement from the subscriber (as if it were still on its way).
    let withhold = true;
    const announcementTopic = 'pqc-iiot/v1/certs/late-pub';
    broker.authorizeForward = (client, packet) => (withhold && client?.id === 'late-sub-client' && packet.topic === announcementTopic ? null : packet);
    const pub = await setup.open(await fleet.member('late-pub', { publish: ['late/#'] }));
    await until(() => pub.certificateOf('late-sub') !== undefined, 'the publisher to learn the subscriber');
    for (let i = 0; i < 3; i++) await pub.publishAsync('late/x', text(`m${i}`), { qos: 1 });
    await until(() => sub.stats().awaiting === 3, 'three messages to wait for the announcement');
    expect(log.security).toEqual([]);
    // The announcement arrives (the raw client sends the retained copy again).
    withhold = false;
    const raw = await rawClient();
    const announcement: Uint8Array[] = [];
    raw.on('message', (t, p) => {
      if (t === announcementTopic) announcement.push(new Uint8Array(p));
    });
    await raw.subscribeAsync(announcementTopic, { qos: 1 });
    await until(() => announcement.length === 1, 'the retained announcement');
    await raw.publishAsync(announcementTopic, Buffer.from(announcement[0]!), { qos: 1, retain: true });
    await until(() => log.messages.length === 3, 'the three messages');
    expect(log.messages.map((m) => m.payload)).toEqual(['m0', 'm1', 'm2']);
    expect(log.security).toEqual([]);
    expect(sub.stats()).toMatchObject({ awaiting: 0, awaitingBytes: 0 });
    broker.authorizeForward = (_client, packet) => packet;
    await raw.endAsync();
  });

  it('takes its bounds from options.awaitingCertificates, checked when the client is made', async () => {
    expect(CLIENT_DEFAULTS.awaitingCertificates).toEqual({ waitMs: 30_000, maxMessages: 2_000, maxBytes: 8 * MiB, maxMessagesPerSender: 500, maxBytesPerSender: 2 * MiB });
    const member = await setup.fleet().member('opt-sub', { subscribe: ['opt/#'] });
    const url = setup.broker().wsUrl;
    const make = (awaitingCertificates: unknown): SecureMqttClient => new SecureMqttClient(url, member.options({ awaitingCertificates } as never));
    expect(() => make({ maxBytes: -1 })).toThrow(RangeError);
    expect(() => make({ waitMs: 1.5 })).toThrow(RangeError);
    expect(() => make({ maxMessagesPerSender: 'many' })).toThrow(TypeError);
    expect(() => make(5)).toThrow(TypeError);
    expect(() => make({ maxBytes: 0, waitMs: 0 })).not.toThrow();

    // Small bounds: one message of a sender at most, and 2,000 bytes in all (a small envelope is about 720).
    const pub = await setup.open(await setup.fleet().member('opt-pub', { publish: ['opt/#'] }));
    const sub = await setup.open(member, { awaitingCertificates: { maxMessagesPerSender: 1, maxBytes: 2_000 } });
    const log = record(sub);
    await sub.subscribeAsync('opt/#', { qos: 1 });
    const small = await capture(pub, 'opt/a', text('x'));
    const raw = await rawClient();
    for (const sender of ['s-1', 's-1', 's-2']) await raw.publishAsync('opt/a', Buffer.from(editGroup(small, { sender })), { qos: 1 });
    await raw.publishAsync('opt/a', Buffer.from(editGroup(small, { sender: 's-3', ciphertext: new Uint8Array(2_000) })), { qos: 1 });
    await fence(raw, log, 'opt/fence');
    expect(log.security.filter(isNoRoom).map((e) => e.sender)).toEqual(['s-1', 's-3']);
    expect(sub.stats().awaiting).toBe(2);
    expect(sub.stats().awaitingBytes).toBeLessThanOrEqual(2_000);
    await raw.endAsync();
  });
});
