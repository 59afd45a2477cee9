// The pqc-iiot demo: an operator CA enrols a temperature sensor and an operator
// console; they talk through an (untrusted) in-process MQTT broker. The sensor
// publishes readings on sensors/temperature (group-encrypted, signed); the
// operator, subscribed to sensors/#, verifies each one and sends a command on
// commands/sensor-01 (sealed for the sensor alone). Then an attacker with
// broker access injects a forged reading and replays a real one: both are
// rejected, and the honest stream carries on.
import mqtt from 'mqtt';
import {
  CertificateAuthority,
  connectAsync,
  generateIdentity,
  init,
  issueCertificate,
  type SecureMqttClient,
} from '../src/index.js';
import { startBroker } from './lib/broker.js';

const DAY = 86_400_000;
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (who: string, line: string): void => console.log(`${who.padEnd(10)} ${line}`);

await init();
const broker = await startBroker();
log('broker', `Aedes listening on ${broker.url} (it is not trusted: it only relays ciphertext)`);

// 1. The operator's CA enrols two devices: keys, rights as MQTT topic filters.
const ca = CertificateAuthority.generate('plant-ca');
async function enrol(id: string, publish: string[], subscribe: string[]) {
  const identity = await generateIdentity(id);
  const now = Date.now();
  const certificate = issueCertificate(ca, {
    subject: id,
    serial: 1,
    notBefore: now - DAY,
    notAfter: now + 365 * DAY,
    keyEpoch: 1,
    publicKeys: identity.publicKeys,
    publish,
    subscribe,
  });
  log('ca', `enrolled ${id}: may publish [${publish.join(', ')}], subscribe [${subscribe.join(', ')}]`);
  return { identity, certificate, trustAnchor: ca.trustAnchor };
}
const sensorId = await enrol('sensor-01', ['sensors/temperature'], ['commands/sensor-01']);
const operatorId = await enrol('operator', ['commands/+'], ['sensors/#']);

// 2. Both connect like mqtt.js clients, with security added.
const sensor: SecureMqttClient = await connectAsync(broker.url, sensorId);
const operator: SecureMqttClient = await connectAsync(broker.url, operatorId);
operator.on('message', (topic, payload, meta) => {
  log('operator', `verified ${topic} from ${meta.sender} (epoch ${meta.epoch}, seq ${meta.seq}): ${decode(payload)}`);
});
operator.on('security', (e) => log('operator', `REJECTED on ${e.topic}: ${e.code} (${e.message})`));
sensor.on('message', (topic, payload, meta) => log('sensor-01', `command from ${meta.sender} (sealed for us alone): ${decode(payload)}`));
sensor.on('security', (e) => log('sensor-01', `REJECTED on ${e.topic}: ${e.code}`));
await sensor.subscribeAsync('commands/sensor-01', { qos: 1 });
await operator.subscribeAsync('sensors/#', { qos: 1 });

// An attacker with broker access records everything it relays.
const attacker = await mqtt.connectAsync(broker.url);
const recorded: Uint8Array[] = [];
attacker.on('message', (_topic, payload) => recorded.push(new Uint8Array(payload)));
await attacker.subscribeAsync('sensors/#');

// 3. The sensor publishes readings; the operator commands it.
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await sensor.publishAsync('sensors/temperature', encode(JSON.stringify({ celsius: +(21 + Math.random()).toFixed(2) })), { qos: 1 });
  log('sensor-01', `published reading ${i + 1} (sealed and signed in ${(performance.now() - t0).toFixed(1)} ms)`);
}
await operator.publishAsync('commands/sensor-01', encode('{"setpoint": 20.5}'), { qos: 1, to: 'sensor-01' });
await sleep(300);

// 4. The attacker injects a forgery and replays a recorded reading.
await attacker.publishAsync('sensors/temperature', Buffer.from(JSON.stringify({ celsius: 99.9 })), { qos: 1 });
if (recorded[0]) await attacker.publishAsync('sensors/temperature', Buffer.from(recorded[0]), { qos: 1 });
await sensor.publishAsync('sensors/temperature', encode(JSON.stringify({ celsius: 21.4 })), { qos: 1 });
await sleep(300);

const stats = operator.stats();
log('summary', `operator: ${stats.delivered} verified, ${Object.values(stats.rejected).reduce((a, b) => a + (b ?? 0), 0)} rejected, ${stats.duplicates} replayed copies dropped`);
await attacker.endAsync();
await Promise.all([sensor.endAsync(), operator.endAsync()]);
await broker.close();
const ok = stats.delivered >= 4 && (stats.rejected.MALFORMED ?? 0) >= 1 && stats.duplicates >= 1;
process.exitCode = ok ? 0 : 1;
