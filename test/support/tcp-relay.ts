// A byte-for-byte TCP relay on 127.0.0.1 in front of a broker, whose
// broker-to-client direction can be held: while held, the relay stops reading
// the broker's side of every connection, so what the broker sends stays in the
// kernel's socket buffers and the client neither sees nor acknowledges it.
//
// Why not `clientStream.pause()`: mqtt.js pipes its socket into a parser, and
// a piped Readable resumes itself on the destination's 'drain', so a paused
// mqtt.js socket keeps being read (measured: data still flows after pause()).
// Reading is stopped here with manual 'data' listeners, where pause() holds.
//
// A connection's two sockets close together; a client reconnecting after the
// broker restarts gets a fresh connection to the same broker port.

import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { LOOPBACK } from './ports.js';

export interface TcpRelay {
  readonly port: number;
  readonly url: string;
  /** Stops forwarding broker -> client on every connection, current and new. */
  hold(): void;
  /** Forwards what was held (in order) and everything after it. */
  release(): void;
  close(): Promise<void>;
}

export async function startTcpRelay(brokerPort: number): Promise<TcpRelay> {
  let held = false;
  const brokerSides = new Set<Socket>();
  const sockets = new Set<Socket>();

  const server = createServer((client) => {
    const broker = netConnect({ host: LOOPBACK, port: brokerPort });
    sockets.add(client).add(broker);
    brokerSides.add(broker);
    const closeBoth = (): void => {
      client.destroy();
      broker.destroy();
      sockets.delete(client);
      sockets.delete(broker);
      brokerSides.delete(broker);
    };
    client.on('data', (chunk: Buffer) => broker.write(chunk));
    broker.on('data', (chunk: Buffer) => client.write(chunk));
    if (held) broker.pause();
    for (const s of [client, broker]) {
      s.on('error', closeBoth);
      s.on('close', closeBoth);
      s.on('end', closeBoth);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    hold(): void {
      held = true;
      for (const b of brokerSides) b.pause();
    },
    release(): void {
      held = false;
      for (const b of brokerSides) b.resume();
    },
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
