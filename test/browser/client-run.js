// The browser side of test/browser/client.test.ts, shared by client.html (page)
// and client-worker.js (module worker): SecureMqttClient instances from the
// built bundle (dist/index.js), driven by the Node test through a small API of
// structured-clonable calls. It only acts and records: every judgement is made
// in Node, on what `state()` reports.
//
// Plain JavaScript served as is (no build step). The SDK module is passed in
// (`createApi(sdk)`): the page imports it through its import map, the worker
// (which has no import map) loads it another way; see client-worker.js.

/** base64 → bytes (keys and certificates travel as base64 strings). */
export function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const describe = (err) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The API the test calls. Handles are small integers; every wait is bounded.
 * `sdk` is the module namespace of dist/index.js.
 */
export function createApi(sdk) {
  const scope =
    typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope ? 'worker' : typeof window !== 'undefined' ? 'window' : 'unknown';
  const clients = new Map();
  let nextHandle = 1;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();

  const entry = (handle) => {
    const e = clients.get(handle);
    if (!e) throw new Error(`no client with handle ${handle} in this ${scope}`);
    return e;
  };

  const snapshot = (e) => ({
    id: e.client.id,
    connected: e.client.connected,
    messages: e.messages.slice(),
    security: e.security.slice(),
    errors: e.errors.slice(),
    stats: e.client.stats(),
  });

  return {
    scope: () => scope,

    /**
     * Connects a client: `identity` is exportIdentity() output, `certificate`
     * the certificate bytes, `trustAnchor` encodeTrustAnchor() output (all base64).
     */
    async open({ url, identity, certificate, trustAnchor, clientId }) {
      const t0 = performance.now();
      await sdk.init(); // importIdentity runs the wasm core (consistency checks): it needs init() first
      const bytes = fromBase64(identity);
      let id;
      try {
        id = await sdk.importIdentity(bytes);
      } finally {
        bytes.fill(0);
      }
      const client = await sdk.connectAsync(url, {
        identity: id,
        certificate: fromBase64(certificate),
        trustAnchor: sdk.decodeTrustAnchor(fromBase64(trustAnchor)),
        timeouts: { connect: 15_000, publish: 10_000, subscribe: 10_000, end: 5_000 },
        mqtt: { protocolVersion: 4, ...(clientId ? { clientId } : {}) },
      });
      const e = { client, messages: [], security: [], errors: [] };
      client.on('message', (topic, payload, meta) => {
        e.messages.push({
          topic,
          payload: decoder.decode(payload),
          payloadIsBytes: payload instanceof Uint8Array,
          sender: meta.sender,
          kind: meta.kind,
          epoch: meta.epoch,
          seq: meta.seq,
          qos: meta.qos,
          retained: meta.retained,
          certificateSubject: meta.certificate && meta.certificate.subject,
        });
      });
      client.on('security', (event) => {
        e.security.push({ code: event.code, topic: event.topic, sender: event.sender, message: event.message });
      });
      client.on('error', (err) => e.errors.push(describe(err)));
      const handle = nextHandle++;
      clients.set(handle, e);
      return { handle, id: client.id, connectMs: performance.now() - t0 };
    },

    async subscribe(handle, filter, qos = 1) {
      await entry(handle).client.subscribeAsync(filter, { qos });
    },

    /** Publishes each text in order, awaiting each acknowledgement; returns the time taken. */
    async publish(handle, topic, texts, qos = 1) {
      const { client } = entry(handle);
      const t0 = performance.now();
      for (const text of texts) await client.publishAsync(topic, encoder.encode(text), { qos });
      return { published: texts.length, ms: performance.now() - t0 };
    },

    /** What the client has recorded so far. */
    state(handle) {
      return snapshot(entry(handle));
    },

    /**
     * Resolves with the state once at least `messages` messages and `security`
     * security events were recorded, or after `timeoutMs` (the test judges).
     */
    async waitFor(handle, { messages = 0, security = 0 }, timeoutMs = 10_000) {
      const e = entry(handle);
      const deadline = performance.now() + timeoutMs;
      while (e.messages.length < messages || e.security.length < security) {
        if (performance.now() > deadline) return { ...snapshot(e), timedOut: true };
        await sleep(20);
      }
      return { ...snapshot(e), timedOut: false };
    },

    async close(handle) {
      const e = clients.get(handle);
      if (!e) return;
      clients.delete(handle);
      await e.client.endAsync();
    },

    async closeAll() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((e) => e.client.endAsync(true).catch(() => undefined)));
    },
  };
}
