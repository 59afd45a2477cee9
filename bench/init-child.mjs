// One cold start, for bench/init.ts: a fresh Node process imports the bindings
// (argv[2], a file URL), then times init() from its call to its resolution.
// Prints {"importMs":..,"initMs":..} on stdout.
import { performance } from 'node:perf_hooks';

const t0 = performance.now();
const mod = await import(process.argv[2]);
const t1 = performance.now();
await mod.init();
const t2 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, initMs: t2 - t1 }) + '\n');
