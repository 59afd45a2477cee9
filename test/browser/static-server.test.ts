// The browser tests' static server: MIME types, read-only, nothing outside the root.
import { Agent, request } from 'node:http';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type StaticServer } from '../support/static-server.js';

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

/** A raw request: the path is sent exactly as given (fetch would normalise '..' away). */
function get(server: StaticServer, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static server', () => {
  let dir: string;
  let root: string;
  let server: StaticServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pqc-static-'));
    root = join(dir, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await mkdir(join(root, '.git'));
    await writeFile(join(root, 'index.html'), '<p>index</p>');
    await writeFile(join(root, 'a.js'), 'export const a = 1;');
    await writeFile(join(root, 'b.mjs'), 'export const b = 2;');
    await writeFile(join(root, 'm.wasm'), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    await writeFile(join(root, 'sub', 'x y.json'), '{"x":1}');
    await writeFile(join(root, '.git', 'config'), 'secret');
    await writeFile(join(dir, 'outside.txt'), 'outside');
    await symlink(join(dir, 'outside.txt'), join(root, 'link.txt'));
    server = await start({ root });
  });

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and serves files with their MIME types', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.port).toBeGreaterThan(0);
    expect(await get(server, '/a.js')).toEqual({ status: 200, type: 'text/javascript; charset=utf-8', body: 'export const a = 1;' });
    expect((await get(server, '/b.mjs')).type).toBe('text/javascript; charset=utf-8');
    const wasm = await get(server, '/m.wasm');
    expect([wasm.status, wasm.type]).toEqual([200, 'application/wasm']);
    expect(await get(server, '/sub/x%20y.json?v=1')).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"x":1}' });
    expect(await get(server, '/')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: '<p>index</p>' });
    expect(await get(server, '/a.js', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('answers 404 for missing files, directories without index.html and dotfiles', async () => {
    expect((await get(server, '/missing.js')).status).toBe(404);
    expect((await get(server, '/sub/')).status).toBe(404);
    expect((await get(server, '/.git/config')).status).toBe(404);
  });

  it('refuses paths outside the root, also through encodings and symbolic links', async () => {
    for (const path of ['/../outside.txt', '/sub/../../outside.txt', '/%2e%2e/outside.txt', '/..%2foutside.txt', '/sub%2f..%2f..%2foutside.txt', '/link.txt']) {
      const reply = await get(server, path);
      expect(reply.status, path).toBeGreaterThanOrEqual(400);
      expect(reply.body, path).not.toContain('outside');
    }
    expect((await get(server, '/link.txt')).status).toBe(403);
    expect((await get(server, '/..%2foutside.txt')).status).toBe(403);
    expect((await get(server, '/%E0%A4%A')).status).toBe(400);
  });

  it('is read-only', async () => {
    for (const method of ['PUT', 'POST', 'DELETE']) {
      expect((await get(server, '/a.js', method)).status, method).toBe(405);
    }
  });

  it('records requests and closes with connections still open', async () => {
    const other = await start({ root });
    const before = other.requests.length;
    await get(other, '/a.js');
    expect(other.requests.slice(before)).toEqual([{ method: 'GET', path: '/a.js', status: 200 }]);
    // A keep-alive connection left open must not hold close() up.
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: other.port, path: '/a.js', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timed out'), 2_000).unref());
    expect(await Promise.race([other.close().then(() => 'closed'), timeout])).toBe('closed');
    await other.close(); // idempotent
    agent.destroy();
  });
});
