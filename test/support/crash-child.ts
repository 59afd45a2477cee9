// Child process for test/storage/crash.test.ts, run as
//   node --import tsx test/support/crash-child.ts <dir> <blockSize>
// It allocates sequence numbers from a FileStorage in <dir> forever and
// writes each one to stdout just before it would go on the wire; the parent
// kills it with SIGKILL at random moments and treats what it read from the
// pipe as "the wire".
//
// stdout lines: "O" (storage and allocator open), "S" / "s" (a storage write
// starts / has completed: a reservation in flight between them), and the
// numbers. Writes are synchronous (fs.writeSync), each line is one write of
// fewer than PIPE_BUF bytes, so a line is on the wire entirely or not at all.
import { writeSync } from 'node:fs';
import { FileStorage } from '../../src/storage/file.js';
import { SequenceAllocator } from '../../src/storage/sequence.js';
import type { Storage } from '../../src/storage/types.js';

function wire(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  for (;;) {
    try {
      writeSync(1, bytes);
      return;
    } catch (err) {
      // A non-blocking pipe that is full: wait for the parent to read.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function main(): Promise<void> {
  const [dir, blockArg] = process.argv.slice(2);
  if (!dir || !blockArg) throw new Error('usage: crash-child.ts <dir> <blockSize>');
  const files = await FileStorage.open(dir);
  // Pass-through that reports when a write is in flight (the real FileStorage does the work).
  const storage: Storage = {
    get: (key) => files.get(key),
    keys: (prefix) => files.keys(prefix),
    delete: (key) => files.delete(key),
    set: async (key, value) => {
      wire('S');
      await files.set(key, value);
      wire('s');
    },
  };
  const seq = await SequenceAllocator.open(storage, 'seq/crash-test', { blockSize: Number(blockArg) });
  wire('O');
  // Three senders sharing the allocator, interleaving at every await: while one waits for a
  // reservation, the others keep asking (sync fast path, concurrent next() pairs).
  const sender = async (): Promise<never> => {
    for (let i = 0; ; i++) {
      if (i % 7 === 0) {
        const pair = await Promise.all([seq.next(), seq.next()]);
        for (const n of pair) wire(String(n));
      } else {
        wire(String(seq.tryNextSync() ?? (await seq.next())));
      }
      await Promise.resolve();
      if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all([sender(), sender(), sender()]);
}

main().catch((err: unknown) => {
  process.stderr.write(`crash-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
