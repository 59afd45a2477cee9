// SecureMqttClient end to end through a real in-process Aedes broker over
// WebSocket: fan-out with wildcards, late joiners, commands, rotation,
// revocation, retained messages and a raw client injecting forgeries.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectAsync } from '../../src/client/index.js';
import { record, useAedesClients } from '../support/aedes-clients.js';
import { text, until } from '../support/fleet.js';


const setup = useAedesClients();
const open = setup.open;

describe('SecureMqttClient over Aedes WebSocket', () => {
  it('fans one publisher out to three subscribers with wildcards, exactly once and in order; late joiners catch up', async () => {
    const sensor = await setup.fleet().member('sensor-1', { publish: ['sensors/temperature', 'sensors/humidity'] });
    const subs = await Promise.all([
      setup.fleet().member('dash-a', { subscribe: ['sensors/#'] }),
      setup.fleet().member('dash-b', { subscribe: ['sensors/+'] }),
      setup.fleet().member('dash-c', { subscribe: ['sensors/temperature'] }),
    ]);
    const pub = await open(sensor);
    const subscribers = await Promise.all(subs.map((m) => open(m)));
    const logs = subscribers.map(record);
    await Promise.all(subscribers.map((s, i) => s.subscribeAsync(['sensors/#', 'sensors/+', 'sensors/temperature'][i]!, { qos: 1 })));
    for (let i = 0; i < 20; i++) await pub.publishAsync('sensors/temperature', text(`t=${i}`), { qos: 1 });
    await until(() => logs.every((l) => l.messages.length >= 20), 'all three subscribers to get 20 messages');
    for (const log of logs) {
      expect(log.messages.map((m) => m.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `t=${i}`));
      expect(log.messages.every((m) => m.meta.sender === 'sensor-1' && m.meta.kind === 'group' && m.topic === 'sensors/temperature')).toBe(true);
      expect(log.security).toEqual([]);
    }
    // A late joiner subscribes after the stream started and gets what follows.
    const late = await open(await setup.fleet().member('dash-late', { subscribe: ['sensors/#'] }));
    const lateLog = record(late);
    await late.subscribeAsync('sensors/#', { qos: 1 });
    for (let i = 20; i < 25; i++) await pub.publishAsync('sensors/humidity', text(`h=${i}`), { qos: 1 });
    await until(() => lateLog.messages.length >= 5, 'the late joiner to get 5 messages');
    expect(lateLog.messages.map((m) => m.payload)).toEqual(['h=20', 'h=21', 'h=22', 'h=23', 'h=24']);
    expect(logs[2]!.messages.length).toBe(20); // dash-c is not subscribed to humidity
  });

  it('works when subscribers connect before the publisher (key requests wait for the certificate)', async () => {
    // Many earlier members' retained announcements are still streaming when the
    // new publisher's key requests arrive: requests from a not-yet-known
    // subscriber must wait for its announcement, not be rejected.
    const subs = await Promise.all([0, 1, 2].map((i) => setup.fleet().member(`early-${i}`, { subscribe: ['early/#'] })));
    const subscribers = await Promise.all(subs.map((m) => open(m)));
    const logs = subscribers.map(record);
    await Promise.all(subscribers.map((s) => s.subscribeAsync('early/#', { qos: 1 })));
    const pub = await open(await setup.fleet().member('early-pub', { publish: ['early/x'] }));
    const pubLog = record(pub);
    for (let i = 0; i < 10; i++) await pub.publishAsync('early/x', text(String(i)), { qos: 1 });
    await until(() => logs.every((l) => l.messages.length >= 10), 'every early subscriber to get 10 messages');
    for (const log of logs) expect(log.messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect([...pubLog.security, ...logs.flatMap((l) => l.security)]).toEqual([]);
  });

  it('refuses locally what the certificate does not allow, with clear errors', async () => {
    const pub = await open(await setup.fleet().member('sensor-2', { publish: ['sensors/pressure'], subscribe: ['alarms/+'] }));
    await expect(pub.publishAsync('sensors/voltage', text('x'))).rejects.toMatchObject({ name: 'PublishError', code: 'NOT_AUTHORISED' });
    await expect(pub.publishAsync('sensors/+', text('x'))).rejects.toMatchObject({ name: 'PublishError', code: 'INVALID_TOPIC' });
    await expect(pub.publishAsync('pqc-iiot/v1/crl', text('x'))).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    await expect(pub.subscribeAsync('sensors/#')).rejects.toMatchObject({ name: 'SubscribeError', code: 'NOT_AUTHORISED' });
    await expect(pub.subscribeAsync('alarms/#/x')).rejects.toMatchObject({ code: 'INVALID_FILTER' });
    await expect(pub.publishAsync('sensors/pressure', 'text' as unknown as Uint8Array)).rejects.toThrow(TypeError);
  });

  it('carries commands for one recipient (direct envelopes) that nobody else can read', async () => {
    const operator = await open(await setup.fleet().member('operator', { publish: ['commands/#'] }));
    const valve = await open(await setup.fleet().member('valve-9', { subscribe: ['commands/valve-9'] }));
    const log = record(valve);
    await valve.subscribeAsync('commands/valve-9', { qos: 1 });
    await until(() => operator.certificateOf('valve-9') !== undefined, 'the operator to learn valve-9 certificate');
    await operator.publishAsync('commands/valve-9', text('{"open":true}'), { qos: 1, to: 'valve-9' });
    await until(() => log.messages.length === 1, 'the command');
    expect(log.messages[0]).toMatchObject({ topic: 'commands/valve-9', payload: '{"open":true}', meta: { sender: 'operator', kind: 'direct' } });
  });

  it('rotates by count without losing a message', async () => {
    const pub = await open(await setup.fleet().member('sensor-3', { publish: ['rot/x'] }), { rotation: { afterMessages: 5 } });
    const sub = await open(await setup.fleet().member('dash-rot', { subscribe: ['rot/#'] }));
    const log = record(sub);
    await sub.subscribeAsync('rot/#', { qos: 1 });
    for (let i = 0; i < 23; i++) await pub.publishAsync('rot/x', text(String(i)), { qos: 1 });
    await until(() => log.messages.length >= 23, '23 messages across rotations').catch((e) => {
      console.error('DEBUG', log.messages.map((m) => `${m.payload}@${m.meta.epoch}`).join(' '), JSON.stringify(sub.stats()), JSON.stringify(pub.stats()), JSON.stringify(sub.keyManager!.needsKey()), JSON.stringify(log.security.map((x) => x.message)));
      throw e;
    });
    expect(log.messages.map((m) => m.payload)).toEqual(Array.from({ length: 23 }, (_, i) => String(i)));
    const epochs = new Set(log.messages.map((m) => m.meta.epoch));
    expect(epochs.size).toBeGreaterThanOrEqual(5);
    expect(log.security).toEqual([]);
  });

  it('revocation mid-stream: the revoked subscriber stops receiving, the others continue; a revoked publisher is rejected', async () => {
    const pubMember = await setup.fleet().member('sensor-4', { publish: ['rev/data'] });
    const pub = await open(pubMember);
    const [a, b, c] = await Promise.all(['rev-a', 'rev-b', 'rev-c'].map((id) => setup.fleet().member(id, { subscribe: ['rev/#'] })));
    const subs = await Promise.all([a!, b!, c!].map((m) => open(m)));
    const logs = subs.map(record);
    await Promise.all(subs.map((s) => s.subscribeAsync('rev/#', { qos: 1 })));
    for (let i = 0; i < 5; i++) await pub.publishAsync('rev/data', text(`before-${i}`), { qos: 1 });
    await until(() => logs.every((l) => l.messages.length >= 5), 'everyone to get the first 5');

    // The operator's CA revokes rev-c; the list travels (retained) on the control topic.
    const raw = await mqtt.connectAsync(setup.broker().wsUrl);
    await raw.publishAsync('pqc-iiot/v1/crl', Buffer.from(setup.fleet().revocationList(1, [{ kind: 'subject', subject: 'rev-c' }])), { qos: 1, retain: true });
    await until(() => pub.trustStore!.revocationListNumber === 1, 'the publisher to apply the revocation list');
    for (let i = 0; i < 5; i++) await pub.publishAsync('rev/data', text(`after-${i}`), { qos: 1 });
    await until(() => logs[0]!.messages.length >= 10 && logs[1]!.messages.length >= 10, 'rev-a and rev-b to get all 10');
    await new Promise((r) => setTimeout(r, 300));
    expect(logs[2]!.messages.map((m) => m.payload)).toEqual(['before-0', 'before-1', 'before-2', 'before-3', 'before-4']);

    // Now revoke the publisher: its further messages are rejected as REVOKED by the subscribers.
    await raw.publishAsync('pqc-iiot/v1/crl', Buffer.from(setup.fleet().revocationList(2, [{ kind: 'subject', subject: 'rev-c' }, { kind: 'subject', subject: 'sensor-4' }])), { qos: 1, retain: true });
    await until(() => subs[0]!.trustStore!.revocationListNumber === 2, 'rev-a to apply list 2');
    await until(() => pub.trustStore!.revocationListNumber === 2, 'the publisher to apply list 2');
    // The client refuses to publish under a revoked certificate; a compromised device would not: its key
    // manager still seals, and a raw client sends what it sealed.
    await expect(pub.publishAsync('rev/data', text('refused'), { qos: 1 })).rejects.toMatchObject({ code: 'REVOKED' });
    const sealed = await pub.keyManager!.sealData('rev/data', text('from-a-revoked-publisher'));
    await raw.publishAsync('rev/data', Buffer.from(sealed), { qos: 1 });
    await until(() => logs[0]!.security.some((e) => e.code === 'REVOKED'), 'rev-a to reject the revoked publisher');
    expect(logs[0]!.messages.map((m) => m.payload)).not.toContain('from-a-revoked-publisher');
    await raw.publishAsync('pqc-iiot/v1/crl', Buffer.alloc(0), { qos: 1, retain: true });
    await raw.endAsync();
  });

  it('delivers a retained message to a subscriber that comes later, once, marked retained', async () => {
    const pub = await open(await setup.fleet().member('sensor-5', { publish: ['ret/state'] }));
    await pub.publishAsync('ret/state', text('last-known'), { qos: 1, retain: true });
    const sub = await open(await setup.fleet().member('dash-ret', { subscribe: ['ret/#'] }));
    const log = record(sub);
    await sub.subscribeAsync('ret/#', { qos: 1 });
    await until(() => log.messages.length >= 1, 'the retained message');
    expect(log.messages[0]).toMatchObject({ payload: 'last-known', meta: { retained: true, sender: 'sensor-5' } });
  });

  it('rejects injected garbage, redirects and forged control traffic with reason codes; honest traffic is unaffected', async () => {
    const pub = await open(await setup.fleet().member('sensor-6', { publish: ['inj/a', 'inj/b'] }));
    const sub = await open(await setup.fleet().member('dash-inj', { subscribe: ['inj/#'] }));
    const log = record(sub);
    await sub.subscribeAsync('inj/#', { qos: 1 });
    // Capture a real envelope with a raw client.
    const raw = await mqtt.connectAsync(setup.broker().wsUrl);
    const captured: { topic: string; payload: Buffer }[] = [];
    raw.on('message', (topic, payload) => captured.push({ topic, payload }));
    await raw.subscribeAsync('inj/#', { qos: 1 });
    await pub.publishAsync('inj/a', text('honest-1'), { qos: 1 });
    await until(() => captured.length === 1 && log.messages.length === 1, 'the first honest message');
    const envelope = captured[0]!.payload;

    await raw.publishAsync('inj/a', Buffer.from('not an envelope'), { qos: 1 }); // MALFORMED
    await raw.publishAsync('inj/b', envelope, { qos: 1 }); // redirect: TOPIC_MISMATCH
    const flipped = Buffer.from(envelope);
    flipped[flipped.length - 100]! ^= 1;
    await raw.publishAsync('inj/a', flipped, { qos: 1 }); // BAD_SIGNATURE
    await raw.publishAsync('inj/a', envelope, { qos: 1 }); // replay: dropped as a duplicate
    await raw.publishAsync('pqc-iiot/v1/grants/dash-inj', Buffer.from([0x47, 1, 1, 1, 0, 3]), { qos: 1 }); // forged grant
    await raw.publishAsync('pqc-iiot/v1/certs/sensor-6', Buffer.from('forged announcement'), { qos: 1 });
    await pub.publishAsync('inj/a', text('honest-2'), { qos: 1 });
    await until(() => log.messages.length === 2, 'the second honest message');
    await until(() => log.security.length >= 5, 'five security events');
    expect(log.messages.map((m) => m.payload)).toEqual(['honest-1', 'honest-2']);
    const codes = log.security.map((e) => e.code).sort();
    expect(codes).toEqual(['BAD_SIGNATURE', 'MALFORMED', 'MALFORMED', 'MALFORMED', 'TOPIC_MISMATCH'].sort());
    expect(sub.stats().duplicates).toBe(1);
    expect(sub.connected).toBe(true);
    await raw.endAsync();
  });

  it('refuses an authentic message on a topic the subscriber never subscribed to (NOT_SUBSCRIBED), before opening it', async () => {
    // The victim holds the channel's key (sensors/#) but subscribed to one topic of it only. The broker swaps a
    // message it forwards to the victim for an authentic one of another topic of the channel.
    const sensor = await open(await setup.fleet().member('push-sensor', { publish: ['push/#'] }));
    const victim = await open(await setup.fleet().member('push-victim', { subscribe: ['push/#'] }));
    const log = record(victim);
    await victim.subscribeAsync('push/temperature', { qos: 1 });
    const aedes = setup.broker().broker;
    let unsolicited: { topic: string; payload: Buffer } | undefined;
    const published = (packet: { topic: string; payload: Buffer | string }): void => {
      if (packet.topic === 'push/pressure') unsolicited = { topic: packet.topic, payload: Buffer.from(packet.payload) };
    };
    aedes.on('publish', published);
    const original = aedes.authorizeForward;
    aedes.authorizeForward = (_client, packet) => {
      if (packet.topic === 'push/temperature' && unsolicited) { // only the victim subscribed to it
        return { ...packet, topic: unsolicited.topic, payload: unsolicited.payload } as typeof packet;
      }
      return packet;
    };
    try {
      await sensor.publishAsync('push/pressure', text('p=1'), { qos: 1 }); // nobody subscribed: the broker keeps a copy
      await until(() => unsolicited !== undefined, 'the broker to see the pressure message');
      await sensor.publishAsync('push/temperature', text('t=1'), { qos: 1 }); // forwarded to the victim as the pressure message
      await until(() => log.security.length + log.messages.length >= 1, 'the victim to get the swapped message');
      expect(log.messages.map((m) => m.topic)).toEqual([]);
      expect(log.security.map((e) => [e.code, e.topic])).toEqual([['NOT_SUBSCRIBED', 'push/pressure']]);
      // Honest traffic on the subscribed topic still flows.
      aedes.authorizeForward = original;
      await sensor.publishAsync('push/temperature', text('t=2'), { qos: 1 });
      await until(() => log.messages.length >= 1, 'the next honest message');
      expect(log.messages.map((m) => [m.topic, m.payload])).toEqual([['push/temperature', 't=2']]);
    } finally {
      aedes.authorizeForward = original;
      aedes.removeListener('publish', published);
    }
  });

  it('asks for keys once per new or changed certificate: replayed announcements cost the subscriber no key requests', async () => {
    const pub = await open(await setup.fleet().member('ann-pub', { publish: ['ann/#'] }));
    const sub = await open(await setup.fleet().member('ann-sub', { subscribe: ['ann/#'] }));
    const log = record(sub);
    await sub.subscribeAsync('ann/#', { qos: 1 });
    await pub.publishAsync('ann/x', text('one'), { qos: 1 });
    await until(() => log.messages.length === 1, 'the first message');
    // The broker's copy of the publisher's retained announcement, replayed to the subscriber again and again.
    const raw = await mqtt.connectAsync(setup.broker().wsUrl);
    const announcements: Buffer[] = [];
    raw.on('message', (_topic, payload) => announcements.push(payload));
    await raw.subscribeAsync('pqc-iiot/v1/certs/ann-pub', { qos: 1 });
    await until(() => announcements.length === 1, 'the retained announcement');
    const before = sub.stats().keyRequestsSent;
    for (let i = 0; i < 5; i++) await raw.publishAsync('pqc-iiot/v1/certs/ann-pub', announcements[0]!, { qos: 1 });
    await pub.publishAsync('ann/x', text('two'), { qos: 1 });
    await until(() => log.messages.length === 2, 'the second message (after the replays)');
    expect(sub.stats().keyRequestsSent).toBe(before);
    expect(log.security).toEqual([]);
    await raw.endAsync();
  });

  it('keeps the security events raised while connectAsync ran for the listener attached after it', async () => {
    // A resumed MQTT session holds forgeries queued for it: they arrive right after the CONNACK, while
    // connectAsync still runs and no listener can be attached yet.
    const member = await setup.fleet().member('early-listener', { subscribe: ['early/#'] });
    const mqttOptions = { clientId: 'early-listener-mqtt', clean: false };
    const first = await connectAsync(setup.broker().wsUrl, member.options({ mqtt: mqttOptions }));
    await first.subscribeAsync('early/#', { qos: 1 });
    await first.endAsync();
    const raw = await mqtt.connectAsync(setup.broker().wsUrl);
    for (let i = 0; i < 3; i++) await raw.publishAsync('early/a', Buffer.from(`forgery ${i}`), { qos: 1 });
    await raw.endAsync();
    const client = await open(member, { mqtt: mqttOptions });
    const log = record(client); // attached after connectAsync resolved
    await until(() => log.security.length >= 3, 'the three events raised during connect');
    expect(log.security.map((e) => [e.code, e.topic])).toEqual(Array.from({ length: 3 }, () => ['MALFORMED', 'early/a']));
  });

  it('says so once when its own certificate is revoked, and refuses to publish from then on', async () => {
    const self = await open(await setup.fleet().member('self-revoked', { publish: ['selfrev/#'] }));
    const log = record(self);
    await self.publishAsync('selfrev/a', text('before'), { qos: 1 });
    const raw = await mqtt.connectAsync(setup.broker().wsUrl);
    await raw.publishAsync('pqc-iiot/v1/crl', Buffer.from(setup.fleet().revocationList(10, [{ kind: 'subject', subject: 'self-revoked' }])), { qos: 1 });
    await until(() => log.security.length >= 1, 'the revocation event');
    await new Promise((r) => setTimeout(r, 300)); // and no second one
    expect(log.security.map((e) => [e.code, e.sender])).toEqual([['REVOKED', 'self-revoked']]);
    expect(log.security[0]!.message).toMatch(/our own certificate is revoked .* re-enrol/);
    await expect(self.publishAsync('selfrev/a', text('after'), { qos: 1 })).rejects.toMatchObject({ name: 'PublishError', code: 'REVOKED' });
    await raw.endAsync();
  });
});
