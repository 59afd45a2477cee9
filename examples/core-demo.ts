// The core demo: loads the wasm core, runs an ML-KEM-768 exchange and a
// Falcon-512 signature, and prints what happened and how long it took.
import { falcon512, init, mlKem768 } from '../src/index.js';

const ms = (t0: number): string => `${(performance.now() - t0).toFixed(2)} ms`;
const short = (b: Uint8Array): string => `${Buffer.from(b.subarray(0, 8)).toString('hex')}… (${b.length} B)`;

let t = performance.now();
await init();
console.log(`wasm core loaded and self-tested in ${ms(t)}`);

t = performance.now();
const operator = mlKem768.keygen();
console.log(`ML-KEM-768 keygen       ${ms(t)}  public key ${short(operator.publicKey)}`);
t = performance.now();
const { ciphertext, sharedSecret } = mlKem768.encapsulate(operator.publicKey);
console.log(`ML-KEM-768 encapsulate  ${ms(t)}  ciphertext ${short(ciphertext)}`);
t = performance.now();
const opened = mlKem768.decapsulate(ciphertext, operator.secretKey);
const same = opened.length === sharedSecret.length && opened.every((b, i) => b === sharedSecret[i]);
console.log(`ML-KEM-768 decapsulate  ${ms(t)}  shared secrets ${same ? 'match' : 'DIFFER'}`);

t = performance.now();
const sensor = falcon512.keygen();
console.log(`Falcon-512 keygen       ${ms(t)}  public key ${short(sensor.publicKey)}`);
const reading = new TextEncoder().encode(JSON.stringify({ sensor: 'temp-01', celsius: 21.5 }));
t = performance.now();
const signature = falcon512.sign(reading, sensor.secretKey);
console.log(`Falcon-512 sign         ${ms(t)}  signature ${short(signature)}`);
t = performance.now();
const valid = falcon512.verify(signature, reading, sensor.publicKey);
console.log(`Falcon-512 verify       ${ms(t)}  ${valid ? 'valid' : 'INVALID'}`);
const forged = reading.slice();
forged[forged.length - 3]! ^= 1;
console.log(`tampered reading        ${falcon512.verify(signature, forged, sensor.publicKey) ? 'ACCEPTED (bug!)' : 'rejected'}`);
operator.secretKey.fill(0);
sensor.secretKey.fill(0);
process.exitCode = same && valid ? 0 : 1;
