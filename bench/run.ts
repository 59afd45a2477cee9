// `npm run bench`: every registered bench module, one merged set of flat keys.
//
//   npm run bench                       a readable table on stdout
//   npm run bench -- --json             exactly one JSON object on stdout (everything else on stderr)
//   npm run bench -- --quick            fewer, shorter rounds (a smoke run; do not quote its figures)
//   npm run bench -- --only mlkem768    only keys starting with the prefix (repeat or comma-separate)
//   npm run bench -- --rounds 7 --round-ms 1000
//   npm run bench -- --json --out FILE  also writes the JSON object to FILE
//   tsx bench/run.ts --from FILE --markdown   renders a saved JSON object (no measuring) as markdown tables
// Note: npm prints its "> pqc-iiot@0.1.0 bench" banner on stdout, and the build step before run.ts logs
// there too; for a clean stdout use `npm run -s bench -- --json` with a build step that logs to stderr, or
// `npx tsx bench/run.ts --json` after building, or --out.
//
// Adding a bench: write bench/<name>.ts exporting `run(opts: BenchOptions): Promise<Record<string, number>>`
// and add it to `registry` below with the key prefixes it produces (used to skip it under --only).
// Ratios are derived here: for every "<x>.ours" and "<x>.<impl>", "<x>.ratio<Impl>" = ours / impl
// (above 1: ours is faster). Always added, whatever --only says: meta.quick, meta.rounds, meta.roundMs,
// meta.seconds, meta.cpus, meta.loadAvgStart, meta.loadAvgEnd (1-minute load average: was the machine busy?).

import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { tidy, type RoundPlan } from './stats.js';
import type { BenchOptions, BenchResult, BenchRun } from './types.js';

interface BenchEntry {
  readonly name: string;
  /** Every key the module produces starts with one of these. */
  readonly prefixes: readonly string[];
  readonly load: () => Promise<{ run: BenchRun }>;
}

const algorithms = ['mlkem512.', 'mlkem768.', 'mlkem1024.', 'falcon512.', 'falcon1024.'];

/** In running order: the cheap and the process-spawning ones first, then the long ops/s rounds. */
const registry: readonly BenchEntry[] = [
  { name: 'sizes', prefixes: ['wasm.', 'dist.', 'wasmPlusGlue.'], load: () => import('./sizes.js') },
  { name: 'init', prefixes: ['init.'], load: () => import('./init.js') },
  { name: 'core', prefixes: [...algorithms, 'core.'], load: () => import('./core.js') },
  { name: 'e2e-plain', prefixes: ['e2e.plain.'], load: () => import('./e2e-plain.js') },
  // e2e.signed.*: a Falcon signature per message; e2e.secure.*: the amortised mode, the secure client's mode for high rates.
  { name: 'e2e-secure', prefixes: ['e2e.signed.', 'e2e.signedWorker.'], load: () => import('./e2e-secure.js') },
  { name: 'e2e-amortised', prefixes: ['e2e.secure.', 'e2e.secureWorker.', 'envelope.sealAmortised', 'envelope.openAmortised', 'envelope.manifest64.'], load: () => import('./e2e-amortised.js') },
  { name: 'e2e-split', prefixes: ['e2e.split.'], load: () => import('./e2e-split.js') },
  { name: 'envelope', prefixes: ['envelope.'], load: () => import('./envelope.js') },
  { name: 'soak', prefixes: ['soak.'], load: () => import('./soak.js') },
];

/** The implementations compared with ours, in table order; each gets a ratio key. */
const others = ['native', 'nativeFp', 'noble', 'pqcleanWasm', 'pqcleanWasmWorker', 'liboqsJs'] as const;
const ratioName = (impl: string): string => `ratio${impl[0]!.toUpperCase()}${impl.slice(1)}`;

const plans: Record<'full' | 'quick', RoundPlan> = {
  full: { rounds: 5, roundMs: 500, minOps: 3, warmupMs: 200, maxTotalMs: 6000 },
  quick: { rounds: 3, roundMs: 150, minOps: 2, warmupMs: 50, maxTotalMs: 1500 },
};

/** The targets, checked in the table (RESULTS.md says which are met). */
const targets: ReadonlyArray<{ key: string; op: '>=' | '<='; value: number; label: string }> = [
  { key: 'mlkem768.encaps.ratioNative', op: '>=', value: 0.9, label: 'ML-KEM-768 encaps >= 0.9x native' },
  { key: 'mlkem768.decaps.ratioNative', op: '>=', value: 0.9, label: 'ML-KEM-768 decaps >= 0.9x native' },
  { key: 'mlkem768.encaps.ratioNoble', op: '>=', value: 6, label: 'ML-KEM-768 encaps >= 6x noble' },
  { key: 'mlkem768.decaps.ratioNoble', op: '>=', value: 6, label: 'ML-KEM-768 decaps >= 6x noble' },
  { key: 'wasmPlusGlue.gzipBytes', op: '<=', value: 60 * 1024, label: 'wasm + glue <= 60 KiB gzipped' },
  { key: 'init.ms', op: '<=', value: 20, label: 'init() <= 20 ms in Node' },
  // The performance issue:
  { key: 'falcon512.sign.ratioPqcleanWasm', op: '>=', value: 10, label: 'Falcon-512 sign >= 10x the pqclean wasm backend' },
  { key: 'falcon512.verify.ratioPqcleanWasm', op: '>=', value: 1.2, label: 'Falcon-512 verify >= 1.2x the pqclean wasm backend' },
  // The physical limit: the same f64 Falcon C, signing with the same expanded key, natively (bench/native-fp.ts).
  { key: 'falcon512.sign.ratioNativeFp', op: '>=', value: 0.7, label: 'Falcon-512 sign >= 0.7x our f64 Falcon compiled natively (gcc -O3)' },
  { key: 'envelope.seal256.p50ms', op: '<=', value: 0.5, label: 'seal 256 B p50 <= 0.5 ms' },
  { key: 'envelope.open256.p50ms', op: '<=', value: 0.2, label: 'open 256 B p50 <= 0.2 ms' },
  // The e2e target is reached with the amortised mode (e2e.secure.*), as the issue allows when per-message
  // signatures fall short; those (e2e.signed.*) are checked too, so that their miss stays in the table.
  { key: 'e2e.secure.ratioPlain', op: '>=', value: 0.5, label: 'secure e2e >= 0.5x plain MQTT (amortised mode)' },
  { key: 'e2e.secure.msgPerSec', op: '>=', value: 5000, label: 'secure e2e >= 5,000 msg/s (amortised mode)' },
  { key: 'e2e.secureWorker.ratioPlain', op: '>=', value: 0.5, label: 'secure e2e >= 0.5x plain MQTT (amortised mode, signing on a worker thread)' },
  { key: 'e2e.secureWorker.msgPerSec', op: '>=', value: 5000, label: 'secure e2e >= 5,000 msg/s (amortised mode, signing on a worker thread)' },
  { key: 'e2e.split.secure.ratioPlain', op: '>=', value: 0.5, label: 'secure e2e >= 0.5x plain MQTT (amortised mode, subscriber in its own process)' },
  { key: 'e2e.split.secure.msgPerSec', op: '>=', value: 5000, label: 'secure e2e >= 5,000 msg/s (amortised mode, subscriber in its own process)' },
  { key: 'e2e.signed.ratioPlain', op: '>=', value: 0.5, label: 'signed e2e >= 0.5x plain MQTT (per-message signatures)' },
  { key: 'e2e.signed.msgPerSec', op: '>=', value: 5000, label: 'signed e2e >= 5,000 msg/s (per-message signatures)' },
  { key: 'e2e.signedWorker.ratioPlain', op: '>=', value: 0.5, label: 'signed e2e >= 0.5x plain MQTT (per-message signatures, signing on a worker thread)' },
  { key: 'e2e.signedWorker.msgPerSec', op: '>=', value: 5000, label: 'signed e2e >= 5,000 msg/s (per-message signatures, signing on a worker thread)' },
  { key: 'e2e.split.signed.ratioPlain', op: '>=', value: 0.5, label: 'signed e2e >= 0.5x plain MQTT (per-message signatures, subscriber in its own process)' },
  { key: 'e2e.split.signed.msgPerSec', op: '>=', value: 5000, label: 'signed e2e >= 5,000 msg/s (per-message signatures, subscriber in its own process)' },
  { key: 'soak.heapGrowthMB', op: '<=', value: 5, label: 'heap growth over the soak <= 5 MB' },
];

interface Args {
  json: boolean;
  quick: boolean;
  only: string[];
  rounds?: number;
  roundMs?: number;
  out?: string;
  from?: string;
  markdown: boolean;
}

function usage(): never {
  process.stderr.write('usage: tsx bench/run.ts [--json | --markdown] [--quick] [--only PREFIX[,PREFIX]]... [--rounds N] [--round-ms MS] [--out FILE] [--from FILE]\n');
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { json: false, quick: false, only: [], markdown: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => argv[++i] ?? usage();
    const positive = (s: string): number => {
      const n = Number(s);
      return Number.isFinite(n) && n > 0 ? n : usage();
    };
    if (arg === '--json') a.json = true;
    else if (arg === '--quick') a.quick = true;
    else if (arg === '--only') a.only.push(...value().split(',').filter(Boolean));
    else if (arg.startsWith('--only=')) a.only.push(...arg.slice(7).split(',').filter(Boolean));
    else if (arg === '--rounds') a.rounds = Math.round(positive(value()));
    else if (arg === '--round-ms') a.roundMs = positive(value());
    else if (arg === '--out') a.out = value();
    else if (arg === '--from') a.from = value();
    else if (arg === '--markdown') a.markdown = true;
    else if (arg === '--help' || arg === '-h') usage();
    else {
      process.stderr.write(`unknown argument ${arg}\n`);
      usage();
    }
  }
  return a;
}

/** Is `key` selected, directly or because a selected ratio key is derived from it? */
function makeWants(only: readonly string[]): (key: string) => boolean {
  if (only.length === 0) return () => true;
  return (key) => {
    if (only.some((p) => key.startsWith(p))) return true;
    const dot = key.lastIndexOf('.');
    const base = key.slice(0, dot);
    const impl = key.slice(dot + 1);
    return others.some(
      (o) => (impl === 'ours' || impl === o) && only.some((p) => `${base}.${ratioName(o)}`.startsWith(p)),
    );
  };
}

const overlaps = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

function addRatios(r: BenchResult): void {
  // The e2e benches produce their e2e.*.ratioPlain themselves, from plain rounds paired with theirs
  // (bench/e2e-secure.ts, PairedRounds; bench/e2e-split.ts against its own plain run), not from e2e.plain.*.
  for (const key of Object.keys(r)) {
    if (!key.endsWith('.ours')) continue;
    const base = key.slice(0, -'.ours'.length);
    for (const o of others) {
      const other = r[`${base}.${o}`];
      if (other !== undefined && other > 0) r[`${base}.${ratioName(o)}`] = r[key]! / other;
    }
  }
}

const fmt = (x: number | undefined, digits = 0): string =>
  x === undefined ? '-' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** ops/s: whole numbers, except below 100 (slow keygens) where the decimals matter. */
const fmtOps = (x: number | undefined): string => fmt(x, x === undefined || x >= 100 ? 0 : x >= 10 ? 1 : 2);

function table(r: BenchResult, markdown: boolean): string {
  const lines: string[] = [];
  const grid = (head: string[], rows: string[][]): void => {
    if (markdown) {
      const cells = (c: string[]): string => `| ${c.join(' | ')} |`;
      lines.push(cells(head), cells(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(cells));
      return;
    }
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    lines.push(line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line));
  };
  const ops = new Map<string, true>();
  const rest: string[] = [];
  const implRe = new RegExp(`^(.+)\\.(ours|${others.join('|')}|ratio\\w+)$`);
  for (const key of Object.keys(r)) {
    const m = implRe.exec(key);
    // A ratio of something that is not one of our operations (e2e.*.ratioPlain) is a plain key.
    if (m && (r[`${m[1]!}.ours`] !== undefined || !m[2]!.startsWith('ratio'))) ops.set(m[1]!, true);
    else rest.push(key);
  }
  if (ops.size) {
    const head = ['operation (ops/s, median)', 'ours', ...others, ...others.map((o) => `ours/${o}`)];
    const rank = (op: string): number => {
      const i = algorithms.findIndex((a) => op.startsWith(a));
      return i < 0 ? algorithms.length : i;
    };
    const rows = [...ops.keys()].sort((a, b) => rank(a) - rank(b)).map((op) => [
      op,
      fmtOps(r[`${op}.ours`]),
      ...others.map((o) => fmtOps(r[`${op}.${o}`])),
      ...others.map((o) => fmt(r[`${op}.${ratioName(o)}`], 2)),
    ]);
    grid(head, rows);
  }
  if (rest.length) {
    if (lines.length) lines.push('');
    grid(['key', 'value'], rest.map((k) => [k, fmt(r[k], Number.isInteger(r[k]) ? 0 : 2)]));
  }
  const checked = targets.filter((t) => r[t.key] !== undefined);
  if (checked.length) {
    lines.push('', markdown ? 'Targets:' : 'targets:', ...(markdown ? [''] : []));
    for (const t of checked) {
      const v = r[t.key]!;
      const met = t.op === '>=' ? v >= t.value : v <= t.value;
      const text = `${met ? 'met' : 'NOT met'}: ${t.label} (${t.key} = ${fmt(v, Number.isInteger(v) ? 0 : 2)})`;
      lines.push(markdown ? `- ${text}` : `  ${text}`);
    }
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.from) {
    const saved = JSON.parse(readFileSync(args.from, 'utf8')) as BenchResult;
    process.stdout.write(args.json ? JSON.stringify(saved, null, 2) + '\n' : table(saved, args.markdown));
    return 0;
  }
  // Nothing but the result may reach stdout in --json mode: route stray console output to stderr.
  if (args.json) console.log = console.info = console.debug = (...m: unknown[]) => console.error(...m);
  const base = plans[args.quick ? 'quick' : 'full'];
  const plan: RoundPlan = { ...base, rounds: args.rounds ?? base.rounds, roundMs: args.roundMs ?? base.roundMs };
  const started = Date.now();
  const loadStart = loadavg()[0]!;
  const opts: BenchOptions = {
    quick: args.quick,
    plan,
    wants: makeWants(args.only),
    log: (m) => process.stderr.write(`${m}\n`),
  };
  opts.log(`bench: ${plan.rounds} rounds of >= ${plan.roundMs} ms per figure${args.quick ? ' (--quick)' : ''}` +
    (args.only.length ? `, only ${args.only.join(', ')}` : ''));

  const merged: BenchResult = {};
  let failed = 0;
  for (const entry of registry) {
    if (args.only.length && !entry.prefixes.some((p) => args.only.some((o) => overlaps(p, o)))) continue;
    const t0 = Date.now();
    try {
      const { run } = await entry.load();
      const result = await run(opts);
      for (const [k, v] of Object.entries(result)) {
        if (k in merged) throw new Error(`key ${k} produced twice`);
        if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`key ${k} is not a number`);
        merged[k] = v;
      }
      opts.log(`bench: ${entry.name} done (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      opts.log(`bench: ${entry.name} FAILED: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  }
  addRatios(merged);

  const out: BenchResult = {};
  for (const [k, v] of Object.entries(merged)) if (args.only.length === 0 || args.only.some((p) => k.startsWith(p))) out[k] = tidy(v);
  out['meta.quick'] = args.quick ? 1 : 0;
  out['meta.rounds'] = plan.rounds;
  out['meta.roundMs'] = plan.roundMs;
  out['meta.seconds'] = tidy((Date.now() - started) / 1000);
  out['meta.cpus'] = availableParallelism();
  out['meta.loadAvgStart'] = tidy(loadStart);
  out['meta.loadAvgEnd'] = tidy(loadavg()[0]!);

  if (args.out) {
    writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n');
    opts.log(`bench: wrote ${args.out}`);
  }
  const text = args.json ? JSON.stringify(out, null, 2) + '\n' : table(out, args.markdown);
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
