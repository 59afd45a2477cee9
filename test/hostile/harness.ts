// What the two hostile-broker scenarios (scenario.ts, signed mode;
// amortised-scenario.ts, amortised mode) share to run: the test bed (a real
// Mosquitto behind the MITM proxy), phase timing, waiting, the attacker's
// bounded pools, the broker's reordering, honest payloads that can be traced
// back, the per-kind accounting and the pieces of the summary table. What each
// run attacks and what it expects stays in its own file.

import { init } from '../../bindings/index.js';
import { Rng, startMitmProxy, type MitmConnection, type MitmProxy, type PublishContext, type WriteMeta } from '../support/mitm-proxy.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` every 10 ms; the timeout's message names the run (`run`) and what it waited for. */
export function untilFor(run: string): (predicate: () => boolean, what: string, ms: number) => Promise<void> {
  return async (predicate, what, ms) => {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`${run}: timed out after ${ms} ms waiting for ${what}`);
      await sleep(10);
    }
  };
}

/** The options both runs take. */
export interface RunOptions {
  readonly attacks?: number;
  readonly honest?: number;
  readonly seed?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** A run's settings: the options, or the run's defaults; the schedule's random source comes from the seed. */
export function runSettings(
  options: RunOptions,
  defaults: { readonly seed: number; readonly attacks: number; readonly honest: number },
): { seed: number; attackTarget: number; honestTarget: number; log: (line: string) => void; rng: Rng } {
  const seed = options.seed ?? defaults.seed;
  return {
    seed,
    attackTarget: options.attacks ?? defaults.attacks,
    honestTarget: options.honest ?? defaults.honest,
    log: options.log ?? ((): void => undefined),
    rng: new Rng(seed),
  };
}

/** Milliseconds per phase, each logged as it ends (a phase runs from the end of the previous one). */
export function phaseTimer(log: (line: string) => void): { readonly phasesMs: Record<string, number>; readonly phase: (name: string) => void } {
  const phasesMs: Record<string, number> = {};
  let phaseStart = Date.now();
  const phase = (name: string): void => {
    phasesMs[name] = Date.now() - phaseStart;
    phaseStart = Date.now();
    log(`phase ${name}: ${phasesMs[name]} ms`);
  };
  return { phasesMs, phase };
}

/** A real Mosquitto and the man in the middle in front of it (clients connect to proxy.url). */
export interface Testbed {
  readonly broker: MosquittoHarness;
  readonly proxy: MitmProxy;
  /** Closes the proxy, then the broker (end the clients first). */
  close(): Promise<void>;
}

export async function startTestbed(): Promise<Testbed> {
  await init();
  const broker = await startMosquitto({ maxQueued: 200_000, maxInflight: 20 });
  const proxy = await startMitmProxy({ brokerPort: broker.port });
  return {
    broker,
    proxy,
    close: async () => {
      await proxy.close();
      await broker.close();
    },
  };
}

/** Ends clients at once (in-flight messages are not waited for), ignoring those that fail to end. */
export async function endClients(clients: Iterable<{ endAsync(force?: boolean): Promise<unknown> }>): Promise<void> {
  await Promise.all([...clients].map((c) => c.endAsync(true).catch(() => undefined)));
}

/** The newest `max` items (the attacker's memory of what it saw). */
export class Ring<T> {
  readonly items: T[] = [];
  constructor(readonly max: number) {}
  push(x: T): void {
    this.items.push(x);
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max);
  }
  get length(): number {
    return this.items.length;
  }
  last(): T | undefined {
    return this.items[this.items.length - 1];
  }
}

const REORDER_MAX_MS = 300;

/**
 * The broker's reordering: one honest packet per connection is held back and
 * released right after the connection's next packet, or after 300 ms if none
 * comes.
 */
export class ReorderHold {
  readonly #held = new Map<number, () => void>();

  /** The release of the packet held on this connection, if any (call it once the current packet is written). */
  takeHeld(connId: number): (() => void) | undefined {
    const release = this.#held.get(connId);
    if (release) this.#held.delete(connId);
    return release;
  }

  hold(ctx: PublishContext, meta: WriteMeta): void {
    const release = ctx.hold(undefined, meta);
    this.#held.set(ctx.conn.id, release);
    setTimeout(() => {
      if (this.#held.get(ctx.conn.id) === release) this.#held.delete(ctx.conn.id);
      release();
    }, REORDER_MAX_MS);
  }
}

/** True for what the proxy injected or wrote as an attack (copies included), false for honest traffic. */
export const isAttackRecord = (r: { readonly injected: boolean; readonly meta: WriteMeta | undefined }): boolean => r.injected || r.meta?.['attack'] === true;

/** Attacks the proxy wrote to this connection that its client never started on. */
export const unprocessedAttacksOn = (conn: MitmConnection): number => conn.untakenRecords().filter(isAttackRecord).length;

// ------------------------------------------------------------ honest payloads

/** An honest message's text: `h/<id>/<sender>/<topic>/` and up to `maxFill` random characters, so any delivery can be traced to what was published. */
export function honestPayload(rng: Rng, id: number, sender: string, topic: string, maxFill: number): Uint8Array {
  const fill = (n: number): string => Array.from(rng.bytes(n), (x) => (x % 36).toString(36)).join('');
  return new TextEncoder().encode(`h/${id}/${sender}/${topic}/${fill(rng.range(8, maxFill))}`);
}

/**
 * How often each honest message (by id) reached one subscriber. A delivery is
 * counted for the message its text claims to be only if `isExact` (what
 * "exactly what was published" means in the mode) holds; any other goes to
 * `onOther`, with its text for the record.
 */
export function honestDeliveryCounts<H extends { readonly id: number }, D extends { readonly payload: Uint8Array }>(
  deliveries: Iterable<D>,
  honest: readonly H[],
  isExact: (h: H, d: D) => boolean,
  onOther: (d: D, text: string) => void,
): Map<number, number> {
  const got = new Map<number, number>();
  for (const d of deliveries) {
    const text = new TextDecoder().decode(d.payload);
    const m = /^h\/(\d+)\//.exec(text);
    const h = m ? honest[Number(m[1])] : undefined;
    if (!h || !isExact(h, d)) {
      onOther(d, text);
      continue;
    }
    got.set(h.id, (got.get(h.id) ?? 0) + 1);
  }
  return got;
}

// ------------------------------------------------------------ accounting

/** The columns of a kind's row that the shared accounting fills. */
export interface KindCounts {
  attacks: number;
  /** Delivered, or absorbed without any outcome. */
  accepted: number;
  /** The client's outcome differs from the model's. */
  mismatches: number;
  /** The model's expected outcomes. */
  expected: Record<string, number>;
}

/** What both runs report; each adds the checks of its own mode. */
export interface RunResult<R extends KindCounts> {
  readonly seed: number;
  /** Attack packets the clients processed. */
  readonly attacks: number;
  /** Attacks delivered or absorbed without an outcome. */
  readonly accepted: number;
  /** Packets whose outcome differs from the model's. */
  readonly mismatches: number;
  /** Attacks the proxy wrote that no client processed. */
  readonly unprocessedAttacks: number;
  readonly honestSent: number;
  readonly honestExpected: number;
  readonly honestDelivered: number;
  readonly honestDuplicated: number;
  /** What the broker did to honest traffic (drops, delays, reorderings), by kind. */
  readonly brokerActions: Record<string, number>;
  readonly byKind: Record<string, R>;
  readonly byCode: Record<string, number>;
  readonly errors: readonly string[];
  readonly connected: Record<string, boolean>;
  readonly phasesMs: Record<string, number>;
  readonly durationMs: number;
  readonly samples: readonly string[];
}

/** What the summary table is made of: a row per attack kind, reason codes, the broker's actions, sampled findings. */
export class Tally<R extends KindCounts> {
  readonly #rows = new Map<string, R>();
  readonly byCode: Record<string, number> = {};
  readonly brokerActions: Record<string, number> = {};
  readonly samples: string[] = [];
  /** Attack packets the clients processed. */
  attacks = 0;
  /** Attacks delivered or absorbed without an outcome. */
  accepted = 0;

  readonly #emptyRow: () => R;

  constructor(emptyRow: () => R) {
    this.#emptyRow = emptyRow;
  }

  row(kind: string): R {
    let r = this.#rows.get(kind);
    if (!r) this.#rows.set(kind, (r = this.#emptyRow()));
    return r;
  }

  /** Keeps the first 40 findings: enough to diagnose, short enough to print. */
  sample(line: string): void {
    if (this.samples.length < 40) this.samples.push(line);
  }

  code(code: string): void {
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
  }

  action(kind: string): void {
    this.brokerActions[kind] = (this.brokerActions[kind] ?? 0) + 1;
  }

  /** One attack packet processed, with the model's outcome and whether the client's agreed: its kind's row. */
  attack(kind: string, expected: string, ok: boolean): R {
    this.attacks++;
    const r = this.row(kind);
    r.attacks++;
    r.expected[expected] = (r.expected[expected] ?? 0) + 1;
    if (!ok) r.mismatches++;
    return r;
  }

  /** An attack that got through: `how` is ACCEPTED (delivered) or ABSORBED (no outcome at all). */
  accept(r: R, how: 'ACCEPTED' | 'ABSORBED', description: string): void {
    r.accepted++;
    this.accepted++;
    this.sample(`${how} ${description}`);
  }

  /** The rows by kind, in alphabetical order. */
  byKind(): Record<string, R> {
    return Object.fromEntries([...this.#rows.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** The tally's part of a run's result. */
  report(): Pick<RunResult<R>, 'accepted' | 'brokerActions' | 'byKind' | 'byCode' | 'samples'> {
    return { accepted: this.accepted, brokerActions: this.brokerActions, byKind: this.byKind(), byCode: this.byCode, samples: this.samples };
  }
}

// ------------------------------------------------------------ summary table

const pad = (s: string | number, n: number): string => String(s).padStart(n);

/**
 * The per-kind table: a header, a line per attack kind (honest traffic left
 * out) with its expected outcomes, and a TOTAL line. `widths` names the
 * numeric columns in order (title: width, right-aligned); `values` gives a
 * row's numbers in the same order.
 */
export function kindTable<R extends KindCounts>(byKind: Record<string, R>, kindWidth: number, widths: Record<string, number>, values: (row: R) => readonly number[]): string[] {
  const w = Object.values(widths);
  const cells = (xs: readonly (string | number)[]): string => xs.map((x, i) => pad(x, w[i]!)).join('');
  const lines = [`${'kind'.padEnd(kindWidth)}${cells(Object.keys(widths))}  expected`];
  const totals = w.map(() => 0);
  for (const [kind, row] of Object.entries(byKind)) {
    if (kind === 'honest traffic') continue;
    const v = values(row);
    v.forEach((x, i) => (totals[i]! += x));
    lines.push(`${kind.padEnd(kindWidth)}${cells(v)}  ${byFrequency(row.expected)}`);
  }
  lines.push(`${'TOTAL'.padEnd(kindWidth)}${cells(totals)}`);
  return lines;
}

/** `name count, ...`, the most frequent first. */
export const byFrequency = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** `name value, ...` in insertion order. */
export const listed = (values: Record<string, number | boolean>): string =>
  Object.entries(values)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** The table's last lines: the sampled findings, then the first 20 errors. */
export function findingLines(samples: readonly string[], errors: readonly string[]): string[] {
  return [...samples.map((s) => `  ! ${s}`), ...errors.slice(0, 20).map((e) => `  error: ${e}`)];
}
