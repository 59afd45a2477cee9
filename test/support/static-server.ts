// A tiny read-only static HTTP server for browser tests: serves a directory
// (by default the repository root) on 127.0.0.1 and a free port, with the MIME
// types browsers insist on (module scripts need a JavaScript type, and
// WebAssembly.compileStreaming/instantiateStreaming need application/wasm).
//
// - GET and HEAD only (405 otherwise); regular files only; a directory serves
//   its index.html if it has one.
// - Paths that resolve outside the root, also through a symbolic link, get 403;
//   dot-segments (/.git, /.env, ...) and anything missing get 404.
// - Every response is `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
// - `server` is the node:http server, so a test can attach a WebSocket server
//   (`new WebSocketServer({ server })`) on the same origin; `close()` also ends
//   upgraded (WebSocket) connections and keep-alive sockets.
// - `requests` records every request (method, path, status) for assertions.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/support/static-server.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const MIME_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.pem': 'application/x-pem-file',
  '.bin': 'application/octet-stream',
});

export interface StaticServerOptions {
  /** Directory to serve (default: the repository root). */
  readonly root?: string;
  /** Interface to bind (default 127.0.0.1; tests must stay on loopback). */
  readonly host?: string;
  /** Port (default 0: a free port chosen by the OS). */
  readonly port?: number;
  /** Extra headers on every response, e.g. COOP/COEP for SharedArrayBuffer pages. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Serve paths with a segment starting with '.' (default false: 404). */
  readonly allowDotfiles?: boolean;
}

export interface RequestRecord {
  readonly method: string;
  /** The decoded path, without the query string. */
  readonly path: string;
  readonly status: number;
}

export interface StaticServer {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:41234/ (resolve paths with `new URL(path, url)`). */
  readonly url: string;
  /** e.g. http://127.0.0.1:41234 */
  readonly origin: string;
  readonly port: number;
  /** The absolute directory being served. */
  readonly root: string;
  /** The underlying server, to attach upgrade handlers (WebSocket) to. */
  readonly server: Server;
  /** Every request answered so far, in order. */
  readonly requests: readonly RequestRecord[];
  /** Stops listening and destroys every open connection (keep-alive and upgraded ones included). */
  close(): Promise<void>;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

export async function start(options: StaticServerOptions = {}): Promise<StaticServer> {
  const root = await realpath(resolve(options.root ?? REPO_ROOT));
  const host = options.host ?? '127.0.0.1';
  const extraHeaders = options.headers ?? {};
  const allowDotfiles = options.allowDotfiles ?? false;
  const requests: RequestRecord[] = [];
  const sockets = new Set<Socket>();

  const send = (req: IncomingMessage, res: ServerResponse, path: string, status: number, body: string, headers: Record<string, string> = {}): void => {
    requests.push({ method: req.method ?? '', path, status });
    res.writeHead(status, { ...extraHeaders, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
    res.end(req.method === 'HEAD' ? undefined : `${body}\n`);
  };

  /** The file to serve for `pathname`, or an HTTP status to answer instead. */
  const locate = async (pathname: string): Promise<string | 403 | 404> => {
    const segments = pathname.split('/');
    if (segments.some((s) => s === '..' || s.includes('\\') || s.includes('\0'))) return 403;
    if (!allowDotfiles && segments.some((s) => s.startsWith('.') && s.length > 0)) return 404;
    let file = resolve(root, `.${pathname}`);
    if (!isInside(root, file)) return 403;
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      if (!info.isFile()) return 404;
      const real = await realpath(file);
      if (!isInside(root, real)) return 403;
      return real;
    } catch {
      return 404;
    }
  };

  const server = createServer((req, res) => {
    void (async () => {
      let pathname: string;
      try {
        pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        send(req, res, req.url ?? '', 400, 'Bad Request');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(req, res, pathname, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
        return;
      }
      const found = await locate(pathname);
      if (found === 403) return send(req, res, pathname, 403, 'Forbidden');
      if (found === 404) return send(req, res, pathname, 404, 'Not Found');
      const info = await stat(found);
      requests.push({ method: req.method, path: pathname, status: 200 });
      res.writeHead(200, {
        ...extraHeaders,
        'Content-Type': MIME_TYPES[extname(found).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': String(info.size),
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = createReadStream(found);
      stream.on('error', (err) => res.destroy(err));
      stream.pipe(res);
    })().catch((err: unknown) => {
      if (!res.headersSent) send(req, res, req.url ?? '', 500, 'Internal Server Error');
      else res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url: `${origin}/`,
    origin,
    port,
    root,
    server,
    requests,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolveClose, rejectClose) => {
        server.close((err) => (err ? rejectClose(err) : resolveClose()));
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
