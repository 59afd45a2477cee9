// mqtt.js-shaped entry points.

import type { SecureClientOptions } from './options.js';
import { SecureMqttClient } from './secure-client.js';

/**
 * Creates a client and starts connecting (like mqtt.connect): listen for
 * 'connect' and 'error'. Publishes before the connection is up wait for it.
 */
export function connect(url: string, options: SecureClientOptions): SecureMqttClient {
  const client = new SecureMqttClient(url, options);
  client.connect().catch((err: Error) => {
    if (!client.emit('error', err)) console.warn(`[pqc-iiot] ${err.name}: ${err.message} (listen for 'error' to handle it)`);
  });
  return client;
}

/** Creates a client and resolves once it is connected, subscribed to its control topics and announced. */
export async function connectAsync(url: string, options: SecureClientOptions): Promise<SecureMqttClient> {
  const client = new SecureMqttClient(url, options);
  await client.connect();
  return client;
}
