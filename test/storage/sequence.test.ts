// SequenceAllocator: write-ahead reservations, restarts, concurrency, failures.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, StorageError } from '../../src/errors.js';
import { FileStorage } from '../../src/storage/file.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { SequenceAllocator } from '../../src/storage/sequence.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const mark = async (storage: MemoryStorage | FileStorage, key: string): Promise<number | undefined> => {
  const bytes = await storage.get(key);
  return bytes && Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0));
};

describe('SequenceAllocator', () => {
  it('starts at 0 and stores each block end before handing out its first number', async () => {
    const storage = new MemoryStorage();
    const seq = await SequenceAllocator.open(storage, 'seq/a', { blockSize: 3 });
    expect(seq.tryNextSync()).toBeUndefined(); // nothing reserved yet
    expect(await mark(storage, 'seq/a')).toBeUndefined();
    expect(await seq.next()).toBe(0);
    expect(await mark(storage, 'seq/a')).toBe(3);
    expect(seq.tryNextSync()).toBe(1);
    expect(await seq.next()).toBe(2);
    expect(seq.tryNextSync()).toBeUndefined();
    expect(await mark(storage, 'seq/a')).toBe(3);
    expect(await seq.next()).toBe(3);
    expect(await mark(storage, 'seq/a')).toBe(6);
    expect(seq.highWaterMark()).toBe(6);
  });

  it('resumes at the stored mark after a restart, skipping the rest of the block', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pqc-iiot-seq-'));
    dirs.push(dir);
    const first = await SequenceAllocator.open(await FileStorage.open(dir), 'seq', { blockSize: 10 });
    expect([await first.next(), await first.next()]).toEqual([0, 1]);
    // "Crash": no close, a new storage instance on the same directory.
    const second = await SequenceAllocator.open(await FileStorage.open(dir), 'seq', { blockSize: 10 });
    expect(await second.next()).toBe(10);
    const third = await SequenceAllocator.open(await FileStorage.open(dir), 'seq', { blockSize: 4 });
    expect(await third.next()).toBe(20);
    expect(await third.next()).toBe(21);
  });

  it('gives concurrent callers distinct increasing numbers with one reservation at a time', async () => {
    const storage = new MemoryStorage();
    let writes = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    // Count real writes to the real storage (a pass-through, not a stub).
    const counted = {
      get: (k: string) => storage.get(k),
      keys: (p: string) => storage.keys(p),
      delete: (k: string) => storage.delete(k),
      set: async (k: string, v: Uint8Array) => {
        writes++;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((r) => setTimeout(r, 1));
        await storage.set(k, v);
        inFlight--;
      },
    };
    const seq = await SequenceAllocator.open(counted, 'k', { blockSize: 7 });
    const got = await Promise.all(Array.from({ length: 1000 }, () => seq.next()));
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(maxInFlight).toBe(1);
    expect(writes).toBe(Math.ceil(1000 / 7));
    // Mixed with the sync path.
    const mixed: number[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      const n = seq.tryNextSync();
      if (n === undefined) pending.push(seq.next().then((m) => void mixed.push(m)));
      else mixed.push(n);
    }
    await Promise.all(pending);
    expect(new Set(mixed).size).toBe(100);
    expect(Math.min(...mixed)).toBe(1000);
  });

  it('hands out nothing from a block whose reservation failed, and recovers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pqc-iiot-seq-'));
    dirs.push(dir);
    const storage = await FileStorage.open(dir);
    const seq = await SequenceAllocator.open(storage, 's', { blockSize: 2 });
    expect([await seq.next(), await seq.next()]).toEqual([0, 1]);
    await rm(dir, { recursive: true }); // the next reservation cannot be written
    const failing = await Promise.allSettled([seq.next(), seq.next(), seq.next()]);
    expect(failing.every((r) => r.status === 'rejected' && r.reason instanceof StorageError)).toBe(true);
    expect(seq.tryNextSync()).toBeUndefined();
    await FileStorage.open(dir); // the directory is back
    expect(await seq.next()).toBe(2);
  });

  it('refuses a second allocator on the same storage and key until closed', async () => {
    const storage = new MemoryStorage();
    const a = await SequenceAllocator.open(storage, 'k');
    await expect(SequenceAllocator.open(storage, 'k')).rejects.toThrow(ConfigError);
    await SequenceAllocator.open(storage, 'other');
    await SequenceAllocator.open(new MemoryStorage(), 'k');
    await a.next();
    a.close();
    await expect(a.next()).rejects.toMatchObject({ code: 'CLOSED' });
    const b = await SequenceAllocator.open(storage, 'k');
    expect(await b.next()).toBe(1000);
  });

  it('rejects a malformed stored mark and bad options', async () => {
    const storage = new MemoryStorage();
    await storage.set('short', Uint8Array.of(1, 2, 3));
    await expect(SequenceAllocator.open(storage, 'short')).rejects.toMatchObject({ code: 'CORRUPT' });
    await storage.set('huge', Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 1)); // 2^53 + 1
    await expect(SequenceAllocator.open(storage, 'huge')).rejects.toMatchObject({ code: 'CORRUPT' });
    // A failed open does not keep the key busy.
    await storage.set('short', new Uint8Array(8));
    await SequenceAllocator.open(storage, 'short');
    for (const blockSize of [0, -1, 1.5, 2 ** 32 + 1]) {
      await expect(SequenceAllocator.open(storage, `b${blockSize}`, { blockSize })).rejects.toThrow(RangeError);
    }
  });

  it('ends at 2^53-1 instead of wrapping', async () => {
    const storage = new MemoryStorage();
    const start = 2 ** 53 - 3;
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(start));
    await storage.set('k', bytes);
    const seq = await SequenceAllocator.open(storage, 'k', { blockSize: 1000 });
    expect([await seq.next(), await seq.next(), await seq.next()]).toEqual([start, start + 1, Number.MAX_SAFE_INTEGER]);
    expect(await mark(storage, 'k')).toBe(2 ** 53);
    await expect(seq.next()).rejects.toThrow(RangeError);
  });
});
