// Child process for test/hostile/crash.test.ts, run as
//   node --import tsx test/hostile/publisher-child.ts <dir> <brokerUrl> <run> [max]
// A SecureMqttClient publisher on FileStorage in <dir>/storage, its identity,
// certificate and trust anchor read from <dir>. It publishes "crash/<run>/<i>"
// on crash/data at QoS 1, for ever (or `max` messages, then it stays connected,
// answering key requests), and writes "A <i>" to stdout once the broker
// acknowledged message i ("R" once connected). The parent kills it with
// SIGKILL at random moments and starts it again on the same storage.
import { writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCertificate, decodeTrustAnchor } from '../../src/certs/certificate.js';
import { connectAsync } from '../../src/client/index.js';
import { importIdentity } from '../../src/identity/index.js';
import { FileStorage } from '../../src/storage/file.js';

function line(text: string): void {
  const bytes = Buffer.from(`${text}\n`);
  for (;;) {
    try {
      writeSync(1, bytes);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function main(): Promise<void> {
  const [dir, url, run, maxArg] = process.argv.slice(2);
  const max = maxArg === undefined ? Infinity : Number(maxArg);
  if (!dir || !url || !run) throw new Error('usage: publisher-child.ts <dir> <brokerUrl> <run>');
  const identity = await importIdentity(new Uint8Array(await readFile(join(dir, 'identity.bin'))));
  const certificate = decodeCertificate(new Uint8Array(await readFile(join(dir, 'certificate.bin'))));
  const trustAnchor = decodeTrustAnchor(new Uint8Array(await readFile(join(dir, 'anchor.bin'))));
  const storage = await FileStorage.open(join(dir, 'storage'));
  const client = await connectAsync(url, { identity, certificate, trustAnchor, storage, mqtt: { clientId: 'crash-publisher', reconnectPeriod: 200 } });
  client.on('error', (err) => process.stderr.write(`publisher-child: ${err.message}\n`));
  line('R');
  for (let i = 0; i < max; i++) {
    await client.publishAsync('crash/data', new TextEncoder().encode(`crash/${run}/${i}`), { qos: 1 });
    line(`A ${i}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`publisher-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
