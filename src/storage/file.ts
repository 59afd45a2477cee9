// Storage in a directory, one file per key (Node and Electron main only: it
// imports node:fs, so it is not re-exported by storage/index.ts; import it
// from 'src/storage/file.js' directly).
//
// Atomic, durable set(): write a temporary file in the same directory, fsync
// it, rename it over the key's file, fsync the directory. After a crash (even
// kill -9 or power loss) a key holds its old or its new value; a half-written
// temporary file is never read, and open() removes leftovers.
//
// File names: "k_" + the key's UTF-8 bytes with [a-z0-9_-] kept and every
// other byte written %xx (safe on case-insensitive and Windows file systems:
// no upper case, no dots, no reserved names); keys whose name would exceed
// 200 characters use "h_" + SHA-256(key). Every file also holds its key, a
// length and a SHA-256 checksum; get() checks them all.
//
// One FileStorage per directory: there is no locking between processes or
// between two instances in one process. Within an instance, operations on one
// key run in call order.

import { createHash, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { abytesMax, aoptInt, astring } from '../../bindings/assert-sdk.js';
import { StorageError } from '../errors.js';
import { DEFAULT_MAX_VALUE_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, checkKey } from './memory.js';
import type { Storage } from './types.js';

export interface FileStorageOptions {
  /** Largest value accepted (and read back). Default 1 MiB. */
  readonly maxValueBytes?: number;
}

const MAGIC = [0x50, 0x51, 0x4b, 0x56]; // "PQKV"
const VERSION = 1;
const HEADER_BYTES = 11; // magic 4, version 1, key length u16, value length u32
const DIGEST_BYTES = 32;
const MAX_PLAIN_NAME = 200;
const TEMP_PREFIX = '.tmp-';
const PLAIN = 'k_';
const HASHED = 'h_';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isSafeByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d; // a-z 0-9 _ -
}

/** The file name for a key's UTF-8 bytes. */
export function fileNameOf(keyBytes: Uint8Array): string {
  let name = PLAIN;
  for (const b of keyBytes) {
    name += isSafeByte(b) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`;
    if (name.length > MAX_PLAIN_NAME) return HASHED + createHash('sha256').update(keyBytes).digest('hex');
  }
  return name;
}

/** The key a "k_" name stands for, or undefined if the name is not one FileStorage writes. */
function keyOfPlainName(name: string): string | undefined {
  const bytes: number[] = [];
  for (let i = PLAIN.length; i < name.length; i++) {
    if (name[i] === '%') {
      const hex = name.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(name.charCodeAt(i));
    }
  }
  let key: string;
  try {
    key = strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  // Canonical names only: exactly what fileNameOf() writes for this key.
  return key.length > 0 && fileNameOf(utf8.encode(key)) === name ? key : undefined;
}

function ioError(what: string, err: unknown): StorageError {
  const detail = err instanceof Error ? err.message : String(err);
  return new StorageError('IO', `${what}: ${detail}`, { cause: err });
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function encodeFile(keyBytes: Uint8Array, value: Uint8Array): Uint8Array {
  const body = HEADER_BYTES + keyBytes.length + value.length;
  const out = new Uint8Array(body + DIGEST_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  view.setUint16(5, keyBytes.length);
  view.setUint32(7, value.length);
  out.set(keyBytes, HEADER_BYTES);
  out.set(value, HEADER_BYTES + keyBytes.length);
  out.set(createHash('sha256').update(out.subarray(0, body)).digest(), body);
  return out;
}

/** Parses a file's bytes, checking every field; returns the key and a copy of the value. */
function decodeFile(data: Uint8Array, name: string, maxValueBytes: number): { key: string; value: Uint8Array } {
  const bad = (detail: string): StorageError => new StorageError('CORRUPT', `file ${name}: ${detail}`);
  if (data.length < HEADER_BYTES + DIGEST_BYTES) throw bad(`${data.length} bytes is too short`);
  if (MAGIC.some((b, i) => data[i] !== b)) throw bad('bad magic');
  if (data[4] !== VERSION) throw bad(`unknown version ${data[4]}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const keyLength = view.getUint16(5);
  const valueLength = view.getUint32(7);
  if (valueLength > maxValueBytes) {
    throw new StorageError('TOO_LARGE', `file ${name}: a ${valueLength}-byte value, more than the ${maxValueBytes} allowed`);
  }
  const body = HEADER_BYTES + keyLength + valueLength;
  if (data.length !== body + DIGEST_BYTES) throw bad(`length ${data.length} does not match its header`);
  const digest = createHash('sha256').update(data.subarray(0, body)).digest();
  if (!digest.equals(data.subarray(body))) throw bad('checksum mismatch');
  let key: string;
  try {
    key = strictUtf8.decode(data.subarray(HEADER_BYTES, HEADER_BYTES + keyLength));
  } catch {
    throw bad('key is not UTF-8');
  }
  return { key, value: data.slice(HEADER_BYTES + keyLength, body) };
}

export class FileStorage implements Storage {
  readonly directory: string;
  readonly #maxValueBytes: number;
  /** The last operation queued per key: operations on one key run in call order. */
  readonly #queues = new Map<string, Promise<unknown>>();

  private constructor(directory: string, maxValueBytes: number) {
    this.directory = directory;
    this.#maxValueBytes = maxValueBytes;
  }

  /**
   * Opens (creating, mode 0700) a storage directory and removes temporary
   * files a crash left behind.
   * @throws StorageError IO if the directory cannot be created or read
   */
  static async open(directory: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    if (astring(directory, 'directory').length === 0) throw new RangeError('directory must not be empty');
    const maxValueBytes = aoptInt(options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES, 0, MAX_VALUE_BYTES, 'maxValueBytes');
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      for (const name of await readdir(directory)) {
        if (name.startsWith(TEMP_PREFIX)) await unlink(join(directory, name));
      }
    } catch (err) {
      throw ioError(`opening ${directory}`, err);
    }
    return new FileStorage(directory, maxValueBytes);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const keyBytes = checkKey(key);
    return this.#serial(key, async () => {
      const name = fileNameOf(keyBytes);
      const data = await this.#read(name);
      if (data === undefined) return undefined;
      try {
        const entry = decodeFile(data, name, this.#maxValueBytes);
        if (entry.key !== key) throw new StorageError('CORRUPT', `file ${name} holds another key`);
        return entry.value;
      } finally {
        data.fill(0); // values may be secret keys: wipe the read buffer, the caller gets a copy
      }
    });
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    const keyBytes = checkKey(key);
    abytesMax(value, this.#maxValueBytes, 'value');
    const data = encodeFile(keyBytes, value);
    return this.#serial(key, async () => {
      try {
        await this.#writeAtomically(fileNameOf(keyBytes), data);
      } finally {
        data.fill(0);
      }
    });
  }

  async delete(key: string): Promise<void> {
    const keyBytes = checkKey(key);
    return this.#serial(key, async () => {
      try {
        await unlink(join(this.directory, fileNameOf(keyBytes)));
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return;
        throw ioError(`deleting ${key}`, err);
      }
      await this.#syncDirectory();
    });
  }

  /** Keys starting with `prefix`, sorted. Reads the files of long (hashed) keys to learn their keys. */
  async keys(prefix: string): Promise<string[]> {
    astring(prefix, 'prefix');
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (err) {
      throw ioError(`listing ${this.directory}`, err);
    }
    const keys: string[] = [];
    for (const name of names) {
      let key: string | undefined;
      if (name.startsWith(PLAIN)) {
        key = keyOfPlainName(name);
      } else if (name.startsWith(HASHED) && /^h_[0-9a-f]{64}$/.test(name)) {
        const data = await this.#read(name);
        if (data !== undefined) {
          key = decodeFile(data, name, this.#maxValueBytes).key;
          data.fill(0);
          if (fileNameOf(utf8.encode(key)) !== name) throw new StorageError('CORRUPT', `file ${name} holds another key`);
        }
      }
      if (key !== undefined && key.startsWith(prefix)) keys.push(key);
    }
    return keys.sort();
  }

  #serial<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const tail = result.catch(() => {});
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return result;
  }

  async #read(name: string): Promise<Uint8Array | undefined> {
    const path = join(this.directory, name);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw ioError(`reading ${name}`, err);
    }
    try {
      const { size } = await handle.stat();
      const limit = HEADER_BYTES + MAX_KEY_BYTES + this.#maxValueBytes + DIGEST_BYTES;
      if (size > limit) throw new StorageError('TOO_LARGE', `file ${name} is ${size} bytes, more than the ${limit} allowed`);
      const data = await handle.readFile();
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch (err) {
      throw err instanceof StorageError ? err : ioError(`reading ${name}`, err);
    } finally {
      await handle.close();
    }
  }

  async #writeAtomically(name: string, data: Uint8Array): Promise<void> {
    const temp = join(this.directory, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, join(this.directory, name));
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw ioError(`writing ${name}`, err);
    }
    await this.#syncDirectory();
  }

  /** Makes a rename or unlink durable. Windows cannot open a directory for fsync; NTFS journals the rename. */
  async #syncDirectory(): Promise<void> {
    if (process.platform === 'win32') return;
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.directory, 'r');
      await handle.sync();
    } catch (err) {
      throw ioError(`syncing ${this.directory}`, err);
    } finally {
      await handle?.close();
    }
  }
}
