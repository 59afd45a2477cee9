/* The native drivers' timing loop and serve mode: see rounds.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

#include "rounds.h"

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_warm_up(bench_run_fn run, const void *op, double warmup_s) {
    if (warmup_s <= 0) return;
    double start = bench_now_s();
    do run(op);
    while (bench_now_s() - start < warmup_s);
}

double bench_round(bench_run_fn run, const void *op, double round_s, long min_ops) {
    long ops = 0;
    double start = bench_now_s(), elapsed;
    do {
        run(op);
        ops++;
        elapsed = bench_now_s() - start;
    } while (elapsed < round_s || ops < min_ops);
    return (double)ops / elapsed;
}

int bench_serve(bench_lookup_fn lookup) {
    char line[256], key[64];
    double warmup_ms, round_ms;
    long min_ops;
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "%63s %lf %lf %ld", key, &warmup_ms, &round_ms, &min_ops) != 4 || round_ms <= 0 || min_ops < 1) {
            printf("error bad request\n");
        } else {
            bench_run_fn run;
            const void *op;
            int rc = lookup(key, &run, &op);
            if (rc == -1) printf("error unknown key %s\n", key);
            else if (rc == -2) printf("error %s: self-check failed\n", key);
            else {
                bench_warm_up(run, op, warmup_ms / 1000.0);
                printf("%.3f\n", bench_round(run, op, round_ms / 1000.0, min_ops));
            }
        }
        fflush(stdout);
    }
    return 0;
}
