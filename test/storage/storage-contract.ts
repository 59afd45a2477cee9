// The behaviour every Storage promises, run against each implementation
// (after mqtt.js's one abstract suite per transport).
import { describe, expect, it } from 'vitest';
import type { Storage } from '../../src/storage/types.js';

export function storageContract(name: string, make: () => Promise<Storage>): void {
  describe(`${name}: Storage contract`, () => {
    it('gets what was set, undefined for unknown keys, nothing after delete', async () => {
      const s = await make();
      expect(await s.get('a')).toBeUndefined();
      await s.set('a', Uint8Array.of(1, 2, 3));
      expect(await s.get('a')).toEqual(Uint8Array.of(1, 2, 3));
      await s.set('a', Uint8Array.of(9));
      expect(await s.get('a')).toEqual(Uint8Array.of(9));
      await s.delete('a');
      expect(await s.get('a')).toBeUndefined();
      await s.delete('a'); // deleting a missing key is fine
    });

    it('stores empty values and keeps them apart from missing ones', async () => {
      const s = await make();
      await s.set('empty', new Uint8Array(0));
      expect(await s.get('empty')).toEqual(new Uint8Array(0));
      expect(await s.keys('')).toEqual(['empty']);
    });

    it('copies on the way in and out, also for Buffers', async () => {
      const s = await make();
      const value = Buffer.from([1, 2, 3]);
      await s.set('k', value);
      value[0] = 99;
      const got = await s.get('k');
      expect(got).toEqual(Uint8Array.of(1, 2, 3));
      got![1] = 77;
      expect(await s.get('k')).toEqual(Uint8Array.of(1, 2, 3));
    });

    it('lists keys by prefix in lexicographic order', async () => {
      const s = await make();
      const keys = ['replay/v1/b/c/2', 'replay/v1/b/c/10', 'replay/v1/a/x/1', 'seq/a', 'replay', 'Z', 'z', 'é', '😀', 'a b.c'];
      for (const k of keys) await s.set(k, Uint8Array.of(1));
      expect(await s.keys('replay/v1/')).toEqual(['replay/v1/a/x/1', 'replay/v1/b/c/10', 'replay/v1/b/c/2']);
      expect(await s.keys('')).toEqual([...keys].sort());
      expect(await s.keys('nothing')).toEqual([]);
    });

    it('keeps keys that differ only in case, dots, slashes or encoding apart', async () => {
      const s = await make();
      const keys = ['Key', 'key', 'KEY', '.', '..', '/', 'a/b', 'a%2fb', 'a%2Fb', 'CON', 'con', 'nul.txt', '%', 'k_x', ' '];
      for (const [i, k] of keys.entries()) await s.set(k, Uint8Array.of(i));
      for (const [i, k] of keys.entries()) expect(await s.get(k), k).toEqual(Uint8Array.of(i));
      expect(await s.keys('')).toEqual([...keys].sort());
    });

    it('handles long keys (up to 4096 UTF-8 bytes)', async () => {
      const s = await make();
      const long1 = 'x'.repeat(4096);
      const long2 = 'x'.repeat(4095) + 'y';
      const long3 = `p/${'é'.repeat(300)}`;
      await s.set(long1, Uint8Array.of(1));
      await s.set(long2, Uint8Array.of(2));
      await s.set(long3, Uint8Array.of(3));
      expect(await s.get(long1)).toEqual(Uint8Array.of(1));
      expect(await s.get(long2)).toEqual(Uint8Array.of(2));
      expect(await s.keys('p/')).toEqual([long3]);
      expect((await s.keys('x')).length).toBe(2);
      await s.delete(long1);
      expect(await s.get(long1)).toBeUndefined();
      expect(await s.get(long2)).toEqual(Uint8Array.of(2));
    });

    it('checks keys and values at the edge', async () => {
      const s = await make();
      await expect(s.set('', Uint8Array.of(1))).rejects.toThrow(RangeError);
      await expect(s.set('x'.repeat(4097), Uint8Array.of(1))).rejects.toThrow(RangeError);
      await expect(s.set('a\uD800b', Uint8Array.of(1))).rejects.toThrow(RangeError);
      await expect(s.get(42 as unknown as string)).rejects.toThrow(TypeError);
      await expect(s.set('a', [1] as unknown as Uint8Array)).rejects.toThrow(TypeError);
      await expect(s.set('a', new Uint8Array((1 << 20) + 1))).rejects.toThrow(RangeError);
      await s.set('a', new Uint8Array(1 << 20));
      expect((await s.get('a'))?.length).toBe(1 << 20);
    });

    it('applies concurrent operations on one key in call order', async () => {
      const s = await make();
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) writes.push(s.set('k', Uint8Array.of(i)));
      const read = s.get('k');
      writes.push(s.delete('k'), s.set('k', Uint8Array.of(200)));
      await Promise.all(writes);
      expect(await read).toEqual(Uint8Array.of(19));
      expect(await s.get('k')).toEqual(Uint8Array.of(200));
    });
  });
}
