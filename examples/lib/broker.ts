// An in-process MQTT broker for the examples: Aedes over WebSocket on
// 127.0.0.1, so the demo needs nothing installed beyond `npm ci`.
import { Aedes } from 'aedes';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';

export interface DemoBroker {
  readonly url: string;
  readonly broker: Aedes;
  close(): Promise<void>;
}

export async function startBroker(): Promise<DemoBroker> {
  const broker = await Aedes.createBroker();
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (socket, req) => broker.handle(createWebSocketStream(socket) as never, req as never));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    broker,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
