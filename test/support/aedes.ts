// An in-process Aedes 1.2 broker for tests: MQTT over WebSocket (what browser
// dashboards use) and, optionally, over plain TCP, both on 127.0.0.1 with
// ports chosen by the OS.
//
//   const b = await startAedes({ ws: true, tcp: true });
//   mqtt.connect(b.wsUrl, { protocolVersion: 4 });   // ws://127.0.0.1:PORT
//   mqtt.connect(b.mqttUrl, { protocolVersion: 4 }); // mqtt://127.0.0.1:PORT
//   await b.close();
//
// - Aedes speaks MQTT 3.1.1 (and 3.1) only: protocolVersion 5 is refused.
// - `broker` is the Aedes instance. The broker is not trusted by the SDK, and a
//   hostile-broker test can use Aedes's hooks to misbehave: pass them as
//   `hooks` (authenticate, authorizePublish, authorizeSubscribe,
//   authorizeForward: rewrite or drop a packet on its way to a subscriber,
//   published) or assign them on `broker` later; listen to `broker.on('publish'
//   | 'client' | 'clientDisconnect' | 'subscribe' | ...)` to observe traffic.
// - `dropConnections()` destroys every client connection at once without
//   stopping the broker (a network cut / broker-side disconnect); clients with
//   reconnection enabled come back.
// - `close()` stops listening, closes every Aedes client, terminates every
//   WebSocket and TCP socket still open and closes the servers, so nothing is
//   left to keep the process (or a vitest worker) alive. It is idempotent.

import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import type { AedesOptions } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { WebSocket } from 'ws';
import { LOOPBACK } from './ports.js';

/** The Aedes hooks a test may install at start (all optional). */
export type AedesHooks = Pick<
  AedesOptions,
  'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'published'
>;

export interface StartAedesOptions {
  /** Serve MQTT over WebSocket (default true). */
  readonly ws?: boolean;
  /** Serve MQTT over TCP (default false). */
  readonly tcp?: boolean;
  /** WebSocket path (default '/'; mqtt.js connects to the URL's path, '/' when none). */
  readonly wsPath?: string;
  /** Hooks installed on the broker before it accepts connections. */
  readonly hooks?: AedesHooks;
  /** Further Aedes options (queueLimit, concurrency, heartbeatInterval, ...). */
  readonly aedes?: Omit<AedesOptions, keyof AedesHooks>;
}

export interface AedesHarness {
  /** The Aedes instance (hooks, events, `publish`, `connectedClients`). */
  readonly broker: Aedes;
  /** `ws://127.0.0.1:PORT/` (throws if started with `ws: false`). */
  readonly wsUrl: string;
  /** `mqtt://127.0.0.1:PORT` (throws unless started with `tcp: true`). */
  readonly mqttUrl: string;
  readonly wsPort: number | undefined;
  readonly tcpPort: number | undefined;
  /** The HTTP server carrying the WebSocket endpoint, if any. */
  readonly httpServer: HttpServer | undefined;
  /** The TCP server, if any. */
  readonly tcpServer: TcpServer | undefined;
  /** Number of transport connections (WebSocket + TCP) currently open. */
  openConnections(): number;
  /** Destroys every client connection now; the broker keeps running. */
  dropConnections(): void;
  /** Stops everything; resolves when all servers are closed. Idempotent. */
  close(): Promise<void>;
}

const CLOSE_TIMEOUT_MS = 5_000;

function listen(server: HttpServer | TcpServer): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: LOOPBACK, exclusive: true }, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: HttpServer | TcpServer | WebSocketServer): Promise<void> {
  return new Promise<void>((resolve) => {
    // ERR_SERVER_NOT_RUNNING and the like are not failures here.
    server.close(() => resolve());
  });
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    promise.finally(() => {
      clearTimeout(timer);
      resolve();
    }).catch(() => {});
  });
}

/** Starts an in-process Aedes broker on 127.0.0.1 (WebSocket by default, TCP on request). */
export async function startAedes(options: StartAedesOptions = {}): Promise<AedesHarness> {
  const useWs = options.ws ?? true;
  const useTcp = options.tcp ?? false;
  if (!useWs && !useTcp) throw new TypeError('startAedes: enable at least one of ws and tcp');
  const wsPath = options.wsPath ?? '/';
  if (!wsPath.startsWith('/')) throw new TypeError(`startAedes: wsPath must start with '/', got ${wsPath}`);

  // Aedes merges options with Object.assign: an explicit `undefined` would
  // replace a default hook, so only defined entries are passed on.
  const brokerOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries({ ...options.aedes, ...options.hooks })) {
    if (value !== undefined) brokerOptions[key] = value;
  }
  const broker = await Aedes.createBroker(brokerOptions as AedesOptions);

  const sockets = new Set<Socket>(); // every raw TCP socket: MQTT over TCP and HTTP/WebSocket
  const webSockets = new Set<WebSocket>();
  let closing: Promise<void> | undefined;

  const handle = (stream: Duplex, req?: IncomingMessage): void => {
    // Transport errors (a peer reset) are expected in tests that cut links;
    // Aedes sees them through the client, which it closes.
    stream.on('error', () => {});
    if (broker.closed) {
      stream.destroy();
      return;
    }
    broker.handle(stream, req);
  };

  let httpServer: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let wsPort: number | undefined;
  let tcpServer: TcpServer | undefined;
  let tcpPort: number | undefined;

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  try {
    if (useWs) {
      httpServer = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
        res.end('MQTT over WebSocket only\n');
      });
      httpServer.on('connection', track);
      wss = new WebSocketServer({ server: httpServer, path: wsPath, perMessageDeflate: false });
      wss.on('connection', (ws, req) => {
        webSockets.add(ws);
        ws.once('close', () => webSockets.delete(ws));
        handle(createWebSocketStream(ws), req);
      });
      // Errors of the upgrade machinery go to the server; keep them from crashing the process.
      wss.on('error', () => {});
      wsPort = await listen(httpServer);
    }
    if (useTcp) {
      tcpServer = createTcpServer((socket) => {
        track(socket);
        handle(socket);
      });
      tcpPort = await listen(tcpServer);
    }
  } catch (err) {
    broker.close();
    if (httpServer?.listening) await closeServer(httpServer);
    if (tcpServer?.listening) await closeServer(tcpServer);
    throw err;
  }

  const dropConnections = (): void => {
    for (const ws of webSockets) ws.terminate();
    for (const socket of sockets) socket.destroy();
  };

  const doClose = async (): Promise<void> => {
    // 1. Stop accepting connections (the callbacks run once all connections are gone).
    const serversClosed: Promise<void>[] = [];
    if (wss) serversClosed.push(closeServer(wss));
    if (httpServer) serversClosed.push(closeServer(httpServer));
    if (tcpServer) serversClosed.push(closeServer(tcpServer));
    // 2. Let Aedes close its clients (frees its timers and queues), bounded.
    await withTimeout(new Promise<void>((resolve) => broker.close(() => resolve())), CLOSE_TIMEOUT_MS);
    // 3. Whatever is still open (idle HTTP keep-alive, half-closed sockets) is destroyed.
    dropConnections();
    httpServer?.closeAllConnections();
    await withTimeout(Promise.all(serversClosed).then(() => {}), CLOSE_TIMEOUT_MS);
  };

  const harness: AedesHarness = {
    broker,
    get wsUrl(): string {
      if (wsPort === undefined) throw new Error('startAedes: started without WebSocket (ws: false)');
      return `ws://${LOOPBACK}:${wsPort}${wsPath}`;
    },
    get mqttUrl(): string {
      if (tcpPort === undefined) throw new Error('startAedes: started without TCP (pass tcp: true)');
      return `mqtt://${LOOPBACK}:${tcpPort}`;
    },
    wsPort,
    tcpPort,
    httpServer,
    tcpServer,
    openConnections: () => sockets.size,
    dropConnections,
    close(): Promise<void> {
      closing ??= doClose();
      return closing;
    },
  };
  return harness;
}
