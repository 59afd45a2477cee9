// A module Web Worker running the same client API as the page (client-run.js),
// answering the page's calls: { id, method, args } → { id, ok, result | error }.
//
// Import maps do not apply to workers (Chromium 156: a bare `import 'mqtt'` in
// a module worker fails to load, even when the page has an import map). So
// here the SDK entry dist/index.js, and every chunk it imports that has a bare
// specifier ('mqtt', 'comlink') somewhere below it, is fetched, its specifiers
// are rewritten to absolute URLs, and the result is imported from a blob: URL.
// A chunk with no bare specifier below it loads from its real URL, so
// bindings.js still finds ../wasm/pqc.wasm through its own import.meta.url.
// (An application would bundle mqtt into its worker instead.)
import { createApi } from './client-run.js';

const BARE = {
  mqtt: new URL('../../node_modules/mqtt/dist/mqtt.esm.js', import.meta.url).href,
  comlink: new URL('../../node_modules/comlink/dist/esm/comlink.mjs', import.meta.url).href,
};
const SDK_ENTRY = new URL('../../dist/index.js', import.meta.url);
const SPECIFIER = /(\b(?:from|import)\s*)(['"])([^'"]+)\2/g;

/** The URL to import `url` from: itself, or a blob: URL of it with its specifiers rewritten. */
const loading = new Map();
function loadable(url) {
  if (!loading.has(url.href)) loading.set(url.href, rewrite(url));
  return loading.get(url.href);
}

async function rewrite(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url.pathname}: ${res.status}`);
  const source = await res.text();
  const targets = new Map();
  for (const [, , , spec] of source.matchAll(SPECIFIER)) {
    if (spec in BARE) targets.set(spec, BARE[spec]);
    else if (spec.startsWith('./') || spec.startsWith('../')) targets.set(spec, await loadable(new URL(spec, url)));
    else throw new Error(`${url.pathname} imports '${spec}': the worker does not know how to load it`);
  }
  const changed = [...targets].some(([spec, target]) => spec in BARE || target.startsWith('blob:'));
  if (!changed) return url.href;
  const rewritten = source
    .replace(SPECIFIER, (_all, from, quote, spec) => `${from}${quote}${targets.get(spec)}${quote}`)
    .replace(/^\/\/# sourceMappingURL=.*$/m, '');
  return URL.createObjectURL(new Blob([rewritten], { type: 'text/javascript' }));
}

async function importSdk() {
  return import(await loadable(SDK_ENTRY));
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
