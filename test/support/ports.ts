// Free TCP ports on loopback for test and benchmark harnesses.
//
// `freePort()` asks the OS for an ephemeral port by listening on port 0 of
// 127.0.0.1, reads the number back and closes the listener. Between that close
// and the moment the caller binds the port, another process may take it (the
// machine is shared): callers that spawn a server on the port (mosquitto) must
// be ready to retry with a new port when the bind fails. In-process servers
// should listen on port 0 themselves and read `address()` instead.

import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    // exclusive: do not share a handle with cluster workers.
    server.listen({ port: 0, host, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Resolves true when something accepts TCP connections on host:port, false on refusal or timeout. */
export function canConnect(port: number, host: string = LOOPBACK, timeoutMs = 1_000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
