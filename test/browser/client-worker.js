// A module Web Worker running the same client API as the page (client-run.js),
// answering the page's calls: { id, method, args } → { id, ok, result | error }.
//
// Import maps do not apply to workers (Chromium 156: a bare `import 'mqtt'` in
// a module worker fails to load, even when the page has an import map). So
// here the SDK entry dist/index.js is fetched, its one bare specifier ('mqtt')
// (and comlink's) and its relative chunk imports ('./bindings.js', ...) are rewritten to
// absolute URLs, and the result is imported from a blob: URL. Only the entry
// module is rewritten: its chunks load from their real URLs, so bindings.js
// still finds ../wasm/pqc.wasm through its own import.meta.url. (An
// application would bundle mqtt into its worker instead.)
import { createApi } from './client-run.js';

const MQTT_ESM = new URL('../../node_modules/mqtt/dist/mqtt.esm.js', import.meta.url).href;
const COMLINK_ESM = new URL('../../node_modules/comlink/dist/esm/comlink.mjs', import.meta.url).href;
const SDK_ENTRY = new URL('../../dist/index.js', import.meta.url);

async function importSdk() {
  const res = await fetch(SDK_ENTRY);
  if (!res.ok) throw new Error(`GET ${SDK_ENTRY.pathname}: ${res.status}`);
  const source = (await res.text())
    .replace(/(\bfrom\s*)(['"])([^'"]+)\2/g, (_all, from, quote, spec) => {
      if (spec === 'mqtt') return `${from}${quote}${MQTT_ESM}${quote}`;
      if (spec === 'comlink') return `${from}${quote}${COMLINK_ESM}${quote}`;
      if (spec.startsWith('./') || spec.startsWith('../')) return `${from}${quote}${new URL(spec, SDK_ENTRY).href}${quote}`;
      throw new Error(`dist/index.js imports '${spec}': the worker does not know how to load it`);
    })
    .replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  try {
    return await import(url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

let api;
self.onmessage = async (event) => {
  const { id, method, args } = event.data ?? {};
  try {
    if (!api) throw new Error('the worker is not ready');
    if (typeof api[method] !== 'function') throw new Error(`unknown method ${method}`);
    self.postMessage({ id, ok: true, result: await api[method](...(args ?? [])) });
  } catch (err) {
    self.postMessage({ id, ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
};

try {
  api = createApi(await importSdk());
  self.postMessage({ ready: true, scope: api.scope() });
} catch (err) {
  self.postMessage({ ready: false, error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err) });
}
