// A module Web Worker (new Worker(url, { type: 'module' })): it can only use
// `import` because it is one. Runs the smoke check at once and posts the result,
// or the error, to the page.
import { runSmoke } from './smoke-run.js';

try {
  self.postMessage({ ok: true, result: await runSmoke() });
} catch (err) {
  self.postMessage({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err) });
}
