// FileStorage on a real temporary directory: the shared contract, then what
// only a file system can get wrong (leftovers of a crash, corruption, names).
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { FileStorage, fileNameOf } from '../../src/storage/file.js';
import { storageContract } from './storage-contract.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pqc-iiot-file-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const nameOf = (key: string): string => fileNameOf(new TextEncoder().encode(key));

storageContract('FileStorage', async () => FileStorage.open(await tempDir()));

describe('FileStorage on disk', () => {
  it('survives a new instance (a restart)', async () => {
    const dir = await tempDir();
    const a = await FileStorage.open(dir);
    await a.set('seq/x', Uint8Array.of(1, 2));
    const b = await FileStorage.open(dir);
    expect(await b.get('seq/x')).toEqual(Uint8Array.of(1, 2));
    expect(await b.keys('')).toEqual(['seq/x']);
  });

  it('creates the directory (0700) and files (0600); names are portable', async () => {
    const dir = join(await tempDir(), 'nested', 'state');
    const s = await FileStorage.open(dir);
    const keys = ['a', 'A', 'replay/v1/sender/chan%2Fnel/7', '..', 'CON', 'x'.repeat(300), '日本'];
    for (const k of keys) await s.set(k, Uint8Array.of(1));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const names = await readdir(dir);
    expect(names.length).toBe(keys.length);
    for (const n of names) {
      expect(n).toMatch(/^(k_[a-z0-9_%-]{1,200}|h_[0-9a-f]{64})$/);
      expect((await stat(join(dir, n))).mode & 0o777).toBe(0o600);
    }
    expect(nameOf('a')).toBe('k_a');
    expect(nameOf('A')).toBe('k_%41');
    expect(nameOf('x'.repeat(300))).toMatch(/^h_/);
  });

  it('ignores a torn temporary file left by a crash, and open() removes it', async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.set('k', Uint8Array.of(1, 1, 1));
    // What a crash between "write temp" and "rename" leaves: a partial temp file.
    const full = await readFile(join(dir, nameOf('k')));
    await writeFile(join(dir, '.tmp-0123456789abcdef'), full.subarray(0, 9));
    expect(await s.get('k')).toEqual(Uint8Array.of(1, 1, 1));
    expect(await s.keys('')).toEqual(['k']);
    const reopened = await FileStorage.open(dir);
    expect(await readdir(dir)).toEqual([nameOf('k')]);
    expect(await reopened.get('k')).toEqual(Uint8Array.of(1, 1, 1));
  });

  it('ignores files it did not write', async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.set('k', Uint8Array.of(1));
    for (const foreign of ['README', '.DS_Store', 'k_UPPER', 'k_%zz', 'k_%2', 'k_%c3', 'h_short', 'k_']) {
      await writeFile(join(dir, foreign), 'x');
    }
    expect(await s.keys('')).toEqual(['k']);
  });

  it('detects corruption: flipped bit, truncation, wrong key, foreign bytes', async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    const value = Uint8Array.from({ length: 64 }, (_, i) => i);
    const check = async (label: string, damage: (bytes: Buffer) => Buffer): Promise<void> => {
      await s.set('k', value);
      const path = join(dir, nameOf('k'));
      await writeFile(path, damage(await readFile(path)));
      await expect(s.get('k'), label).rejects.toThrow(StorageError);
      await expect(s.get('k'), label).rejects.toMatchObject({ code: 'CORRUPT' });
    };
    await check('bit flip in value', (b) => {
      b[40]! ^= 1;
      return b;
    });
    await check('bit flip in checksum', (b) => {
      b[b.length - 1]! ^= 0x80;
      return b;
    });
    await check('truncated', (b) => b.subarray(0, b.length - 1));
    await check('extended', (b) => Buffer.concat([b, Buffer.of(0)]));
    await check('empty', () => Buffer.alloc(0));
    await check('text', () => Buffer.from('hello world, this is not a record of anything at all'));
    await check('version', (b) => {
      b[4] = 2;
      return b;
    });
    // A valid file moved under another key's name.
    await s.set('other', Uint8Array.of(5));
    await rename(join(dir, nameOf('other')), join(dir, nameOf('k')));
    await expect(s.get('k')).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('refuses to read a file larger than the bound', async () => {
    const dir = await tempDir();
    const big = await FileStorage.open(dir);
    await big.set('k', new Uint8Array(1000));
    const small = await FileStorage.open(dir, { maxValueBytes: 10 });
    await expect(small.get('k')).rejects.toMatchObject({ code: 'TOO_LARGE' });
    await expect(small.set('k', new Uint8Array(11))).rejects.toThrow(RangeError);
  });

  it('reports I/O failures as StorageError and leaves no temporary file', async () => {
    const dir = await tempDir();
    const s = await FileStorage.open(dir);
    await s.set('k', Uint8Array.of(1));
    await rm(dir, { recursive: true });
    await expect(s.set('k', Uint8Array.of(2))).rejects.toMatchObject({ code: 'IO' });
    await expect(s.keys('')).rejects.toThrow(StorageError);
    expect(await s.get('k')).toBeUndefined();
    // A path that is a file, not a directory.
    const file = join(await tempDir(), 'plain');
    await writeFile(file, 'x');
    await expect(FileStorage.open(file)).rejects.toMatchObject({ code: 'IO' });
  });
});
