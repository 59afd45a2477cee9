/*
 * Timing shared by the native bench drivers (bench.c: the pinned PQClean sources; bench-fp.c: our f64
 * Falcon layer): both columns are timed by this one loop and answer the same serve protocol, so that a
 * ratio between them, or with the JavaScript contenders, compares operations and nothing else.
 *
 * A round repeats one operation until at least ROUND_MS have passed and at least MIN_OPS operations
 * were done; its figure is ops / elapsed (clock_gettime(CLOCK_MONOTONIC)).
 */
#ifndef PQC_BENCH_ROUNDS_H
#define PQC_BENCH_ROUNDS_H

/* One timed operation on prepared inputs; exits the process if the operation reports a failure. */
typedef void (*bench_run_fn)(const void *op);

/*
 * Finds KEY ("<alg>.<op>") and makes its inputs (checked once): sets *run and *op and returns 0,
 * or -1 for an unknown key, -2 when the self-check failed.
 */
typedef int (*bench_lookup_fn)(const char *key, bench_run_fn *run, const void **op);

double bench_now_s(void);
void bench_warm_up(bench_run_fn run, const void *op, double warmup_s);
/* One round: ops/s. */
double bench_round(bench_run_fn run, const void *op, double round_s, long min_ops);

/*
 * Serve mode: reads lines "KEY WARMUP_MS ROUND_MS MIN_OPS" on stdin and answers each with one line: the
 * ops/s of one round (after a warm-up when WARMUP_MS > 0), or "error ...". bench/native.ts uses this to
 * interleave native rounds with the JavaScript implementations' rounds. Returns at the end of stdin.
 */
int bench_serve(bench_lookup_fn lookup);

#endif
