import { expect, it } from 'vitest';
import { MemoryStorage } from '../../src/storage/index.js';
import { storageContract } from './storage-contract.js';

storageContract('MemoryStorage', async () => new MemoryStorage());

it('MemoryStorage honours maxValueBytes', async () => {
  const s = new MemoryStorage({ maxValueBytes: 4 });
  await s.set('a', new Uint8Array(4));
  await expect(s.set('a', new Uint8Array(5))).rejects.toThrow(RangeError);
  expect(() => new MemoryStorage({ maxValueBytes: -1 })).toThrow(RangeError);
});
