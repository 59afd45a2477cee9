// What every bench module gets and returns. A module exports
//   export async function run(opts: BenchOptions): Promise<Record<string, number>>
// and is listed in bench/run.ts's registry with the key prefixes it produces.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RoundPlan } from './stats.js';

export interface BenchOptions {
  /** `--quick`: fewer and shorter rounds (a smoke run, not figures to quote). */
  readonly quick: boolean;
  /** The round plan for ops/s figures (modules may lengthen it for slow operations). */
  readonly plan: RoundPlan;
  /** True when `key` (or a ratio derived from it) is selected by `--only`; always true without it. */
  wants(key: string): boolean;
  /** Progress and warnings: always to stderr, never mixed into the JSON. */
  log(message: string): void;
}

export type BenchResult = Record<string, number>;

export type BenchRun = (opts: BenchOptions) => Promise<BenchResult>;

/** The repository root (bench/ is one level below it). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
