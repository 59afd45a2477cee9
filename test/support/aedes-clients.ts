// Shared set-up for client tests on an in-process Aedes broker over WebSocket:
// one broker and one fleet per file, `open()` for connected clients, and the
// rule that no client may report an internal error during a test (a rejected
// message is a 'security' event, not an error).
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { connectAsync, type MessageMeta, type SecureClientOptions, type SecureMqttClient, type SecurityEvent } from '../../src/client/index.js';
import { startAedes, type AedesHarness } from './aedes.js';
import { makeFleet, str, type Fleet, type Member } from './fleet.js';

export interface AedesClients {
  /** The broker (after beforeAll). */
  broker(): AedesHarness;
  /** The fleet (after beforeAll). */
  fleet(): Fleet;
  /** A connected client for `member`, closed after the file. */
  open(member: Member, extra?: Partial<SecureClientOptions>): Promise<SecureMqttClient>;
}

/** Registers the file's hooks; call it at the top level of a test file. */
export function useAedesClients(): AedesClients {
  const errors: Error[] = [];
  const clients: SecureMqttClient[] = [];
  let broker: AedesHarness | undefined;
  let fleet: Fleet | undefined;
  beforeAll(async () => {
    broker = await startAedes({ ws: true });
    fleet = await makeFleet();
  });
  afterEach(() => {
    expect(errors.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await broker?.close();
  });
  return {
    broker: () => broker!,
    fleet: () => fleet!,
    async open(member, extra = {}) {
      const client = await connectAsync(broker!.wsUrl, member.options(extra));
      client.on('error', (err) => errors.push(err));
      clients.push(client);
      return client;
    },
  };
}

/** A message a recorded client delivered, its payload as text. */
export interface Received {
  topic: string;
  payload: string;
  meta: MessageMeta;
}

/** Records what `client` delivers and reports, from now on. */
export function record(client: SecureMqttClient): { messages: Received[]; security: SecurityEvent[] } {
  const log = { messages: [] as Received[], security: [] as SecurityEvent[] };
  client.on('message', (topic, payload, meta) => log.messages.push({ topic, payload: str(payload), meta }));
  client.on('security', (event) => log.security.push(event));
  return log;
}
