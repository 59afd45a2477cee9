/*
 * pqc-iiot: Falcon's floating-point layer on C `double` (IEEE-754 binary64,
 * round-to-nearest-even), replacing the integer emulation of the pinned
 * PQClean fpr.h / fpr.c at compile time, without modifying or copying them.
 *
 * How it is substituted
 * ---------------------
 * The pinned inner.h does `#include "fpr.h"`, which always resolves to the
 * pinned fpr.h next to it (the includer's directory is searched first), and
 * fpr.h has no include guard. inner.h does have one (FALCON_INNER_H__). So
 * this header:
 *   1. renames, with object-like macros, the inline functions of the pinned
 *      fpr.h that we replace (their emulated bodies become unused static
 *      inline functions named pqc_emu_*), then includes the pinned inner.h
 *      (found through -I<falcon-512/clean>), which sets its guard;
 *   2. removes those renames and the pinned macros that map fpr_add, fpr_mul,
 *      fpr_div, fpr_sqrt, fpr_scaled onto the emulated out-of-line functions;
 *   3. defines our own fpr_* operations under the original names.
 * A wrapper translation unit (f64_fft.c, f64_sign.c, f64_keygen.c) includes
 * this header and then the pinned .c file; that file's own #include "inner.h"
 * is then a no-op, so its code is compiled against our operations.
 *
 * Representation
 * --------------
 * `fpr` stays what the pinned fpr.h makes it: a uint64_t holding the binary64
 * bit pattern. The pinned inner.h declares every Falcon internal (FFT,
 * expand_privkey, sign_tree, sampler_context, ...) with that type, so keeping
 * it keeps one ABI for objects compiled with and without this layer, and lets
 * us use the pinned constants (fpr_q, fpr_inv_sigma[], fpr_sigma_min[], ...)
 * and the pinned tables (fpr_gm_tab, fpr_p2_tab, from the pinned fpr.c) as
 * they are: same bits, nothing retyped. Each operation moves the bits into a
 * double with memcpy (compiled to nothing: clang folds i64.load+reinterpret
 * into f64.load on wasm; gcc into a movq on x86-64), computes, and moves back.
 *
 * Exactness
 * ---------
 * The emulation computes correctly rounded (round-to-nearest-even) binary64
 * results for zeros and normal numbers, which is what IEEE-754 add, sub, mul,
 * div, sqrt and int64->double conversion compute; wasm f64 and SSE2/NEON
 * scalar doubles are exactly that. Where the emulation deliberately differs
 * from plain IEEE on zeros, we reproduce it:
 *   - fpr_div(+-0, y) = +0 (IEEE: sign of x XOR sign of y)
 *   - fpr_half(-0)    = +0 (IEEE: -0)
 *   - fpr_sqrt(x)     = sqrt(|x|) (emulation ignores the sign; sqrt(-0) = +0)
 *   - fpr_lt(-0, +0)  = 1 (emulation compares bit patterns as integers)
 *   - fpr_floor(-0)   = -1 (emulation treats -0 as a tiny negative value)
 * Outside the emulation's documented domain (it "returns indeterminate
 * values" for results that would be subnormal, infinite or NaN, and it
 * flushes results below 2^-1022 to zero) the two may differ; Falcon never
 * gets near those values (native/falcon_fpr/check.sh checks byte-identical
 * keys and signatures over thousands of seeds).
 *
 * Requirements: -ffp-contract=off (no fused multiply-add), never -ffast-math,
 * binary64 evaluation (FLT_EVAL_METHOD == 0: no x87). For wasm also
 * -mnontrapping-fptoint (otherwise every double->int64 conversion gets a
 * range-check branch); for native gcc also -fno-math-errno (inline sqrt).
 */
#ifndef PQC_FALCON_FPR_F64_H
#define PQC_FALCON_FPR_F64_H

#include <float.h>
#include <stdint.h>
#include <string.h>

#if defined(__FAST_MATH__)
#error "fpr_f64.h: -ffast-math breaks the exactness of Falcon's floating-point layer"
#endif
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "fpr_f64.h: double must be evaluated as IEEE binary64 (FLT_EVAL_METHOD == 0)"
#endif
#ifdef FALCON_INNER_H__
#error "fpr_f64.h must be included before the pinned inner.h"
#endif

/* ---- 1. rename the pinned inline operations we replace, include inner.h ---- */
#define fpr_of pqc_emu_fpr_of
#define fpr_rint pqc_emu_fpr_rint
#define fpr_floor pqc_emu_fpr_floor
#define fpr_trunc pqc_emu_fpr_trunc
#define fpr_sub pqc_emu_fpr_sub
#define fpr_neg pqc_emu_fpr_neg
#define fpr_half pqc_emu_fpr_half
#define fpr_double pqc_emu_fpr_double
#define fpr_sqr pqc_emu_fpr_sqr
#define fpr_inv pqc_emu_fpr_inv
#define fpr_lt pqc_emu_fpr_lt

#include "inner.h" /* the pinned one: -I .../crypto_sign/falcon-512/clean */

#ifndef FALCON_INNER_H__
#error "fpr_f64.h: the pinned inner.h no longer defines FALCON_INNER_H__"
#endif
/* The pinned fpr.h must have mapped these onto its out-of-line functions. */
#if !defined(fpr_add) || !defined(fpr_mul) || !defined(fpr_div) || !defined(fpr_sqrt) || \
    !defined(fpr_scaled) || !defined(fpr_expm_p63) || !defined(fpr_gm_tab) || !defined(fpr_p2_tab)
#error "fpr_f64.h: the pinned fpr.h is not the expected version"
#endif

/* ---- 2. drop the renames and the pinned emulated mappings ---- */
#undef fpr_of
#undef fpr_rint
#undef fpr_floor
#undef fpr_trunc
#undef fpr_sub
#undef fpr_neg
#undef fpr_half
#undef fpr_double
#undef fpr_sqr
#undef fpr_inv
#undef fpr_lt
#undef fpr_add
#undef fpr_mul
#undef fpr_div
#undef fpr_sqrt
#undef fpr_scaled /* only used by the pinned fpr_of; deliberately not provided */

/*
 * Kept from the pinned fpr.h: the type (uint64_t), the constants (bit
 * patterns), the helpers FPR, fpr_ursh, fpr_irsh, fpr_ulsh, and the
 * declarations of fpr_expm_p63, fpr_gm_tab and fpr_p2_tab (defined by
 * fpr_f64.c from the pinned fpr.c).
 */

/*
 * Optional instrumentation (native/falcon_fpr/exactness.c; never in a product
 * build): operation counters, and the range of the biased exponents of the
 * nonzero results (to show that Falcon stays far from subnormals).
 */
enum {
    PQC_FPR_OP_OF, PQC_FPR_OP_RINT, PQC_FPR_OP_FLOOR, PQC_FPR_OP_TRUNC,
    PQC_FPR_OP_ADD, PQC_FPR_OP_SUB, PQC_FPR_OP_NEG, PQC_FPR_OP_HALF,
    PQC_FPR_OP_DOUBLE, PQC_FPR_OP_MUL, PQC_FPR_OP_SQR, PQC_FPR_OP_DIV,
    PQC_FPR_OP_INV, PQC_FPR_OP_SQRT, PQC_FPR_OP_LT, PQC_FPR_OP_COUNT
};
#ifdef PQC_FPR_F64_COUNT
extern unsigned long pqc_fpr_count[PQC_FPR_OP_COUNT];
extern unsigned pqc_fpr_exp_min, pqc_fpr_exp_max;
extern unsigned long pqc_fpr_subnormals;
#define PQC_FPR_COUNT(i) (pqc_fpr_count[i]++)
static inline fpr
pqc_fpr_seen(fpr r) {
    unsigned e = (unsigned)(r >> 52) & 0x7FF;

    if (e != 0) {
        pqc_fpr_exp_min = e < pqc_fpr_exp_min ? e : pqc_fpr_exp_min;
        pqc_fpr_exp_max = e > pqc_fpr_exp_max ? e : pqc_fpr_exp_max;
    } else if ((r << 1) != 0) {
        pqc_fpr_subnormals++;
    }
    return r;
}
#define PQC_FPR_RESULT(r) pqc_fpr_seen(r)
#else
#define PQC_FPR_COUNT(i) ((void)0)
#define PQC_FPR_RESULT(r) (r)
#endif

/* ---- 3. our operations ---- */

static inline double
pqc_fpr_get(fpr x) {
    double d;
    memcpy(&d, &x, sizeof d);
    return d;
}

static inline fpr
pqc_fpr_put(double d) {
    fpr x;
    memcpy(&x, &d, sizeof x);
    return x;
}

/* Result of an arithmetic operation (identity unless instrumented). */
static inline fpr
pqc_fpr_res(double d) {
    return PQC_FPR_RESULT(pqc_fpr_put(d));
}

#define PQC_FPR_MINUS_ZERO ((uint64_t)1 << 63)

/* int64 -> double, correctly rounded (the emulation's fpr_scaled(i, 0)). */
static inline fpr
fpr_of(int64_t i) {
    PQC_FPR_COUNT(PQC_FPR_OP_OF);
    return pqc_fpr_res((double)i);
}

static inline fpr
fpr_add(fpr x, fpr y) {
    PQC_FPR_COUNT(PQC_FPR_OP_ADD);
    return pqc_fpr_res(pqc_fpr_get(x) + pqc_fpr_get(y));
}

/* x - y is x + (-y) in IEEE-754, zeros included: same as the emulation. */
static inline fpr
fpr_sub(fpr x, fpr y) {
    PQC_FPR_COUNT(PQC_FPR_OP_SUB);
    return pqc_fpr_res(pqc_fpr_get(x) - pqc_fpr_get(y));
}

/* Sign flip, zeros included (the emulation XORs the sign bit). */
static inline fpr
fpr_neg(fpr x) {
    PQC_FPR_COUNT(PQC_FPR_OP_NEG);
    return pqc_fpr_res(-pqc_fpr_get(x));
}

/*
 * x/2 is exact. The emulation returns +0 for -0; adding +0.0 maps -0 to +0
 * and leaves every other value unchanged (a compiler may not drop "+ 0.0"
 * without -ffast-math, precisely because of -0).
 */
static inline fpr
fpr_half(fpr x) {
    PQC_FPR_COUNT(PQC_FPR_OP_HALF);
    return pqc_fpr_res(pqc_fpr_get(x) * 0.5 + 0.0);
}

/* 2x is exact; -0 stays -0 in both. */
static inline fpr
fpr_double(fpr x) {
    double d;

    PQC_FPR_COUNT(PQC_FPR_OP_DOUBLE);
    d = pqc_fpr_get(x);
    return pqc_fpr_res(d + d);
}

static inline fpr
fpr_mul(fpr x, fpr y) {
    PQC_FPR_COUNT(PQC_FPR_OP_MUL);
    return pqc_fpr_res(pqc_fpr_get(x) * pqc_fpr_get(y));
}

static inline fpr
fpr_sqr(fpr x) {
    double d;

    PQC_FPR_COUNT(PQC_FPR_OP_SQR);
    d = pqc_fpr_get(x);
    return pqc_fpr_res(d * d);
}

/* Division: the emulation returns +0 when x is a zero, whatever the signs. */
static inline fpr
fpr_div(fpr x, fpr y) {
    PQC_FPR_COUNT(PQC_FPR_OP_DIV);
    return pqc_fpr_res(pqc_fpr_get(x) / pqc_fpr_get(y) + 0.0);
}

/* 1/x: never a zero for the finite x Falcon passes; same as fpr_div(1, x). */
static inline fpr
fpr_inv(fpr x) {
    PQC_FPR_COUNT(PQC_FPR_OP_INV);
    return pqc_fpr_res(1.0 / pqc_fpr_get(x));
}

/* The emulation ignores the sign bit: sqrt(|x|), and sqrt(-0) = +0. */
static inline fpr
fpr_sqrt(fpr x) {
    PQC_FPR_COUNT(PQC_FPR_OP_SQRT);
    return pqc_fpr_res(__builtin_sqrt(__builtin_fabs(pqc_fpr_get(x))));
}

/*
 * x < y. The emulation compares bit patterns, which orders every pair of
 * values as IEEE does except (-0, +0), for which it answers 1.
 * No branch: the comparisons produce 0/1 values.
 */
static inline int
fpr_lt(fpr x, fpr y) {
    PQC_FPR_COUNT(PQC_FPR_OP_LT);
    return (pqc_fpr_get(x) < pqc_fpr_get(y))
           | ((x == PQC_FPR_MINUS_ZERO) & (y == 0));
}

/*
 * Conversions to int64. The emulation assumes |x| < 2^63; so do we (a C
 * conversion outside int64 is undefined; on wasm with -mnontrapping-fptoint
 * it saturates, on x86-64 cvttsd2si returns 2^63).
 */

/* Round toward zero. trunc(-0) = 0, as in the emulation. */
static inline int64_t
fpr_trunc(fpr x) {
    PQC_FPR_COUNT(PQC_FPR_OP_TRUNC);
    return (int64_t)pqc_fpr_get(x);
}

/*
 * Round toward minus infinity. t = trunc(x); x - t is exact (|x - t| < 1,
 * Sterbenz), and its sign bit is set exactly when x < t (floor = t - 1) or
 * when x is -0 (0 - 0 would be +0; -0 - (+0) is -0), which reproduces the
 * emulation's floor(-0) = -1. No branch, no f64.floor.
 */
static inline int64_t
fpr_floor(fpr x) {
    double d;
    int64_t t;

    PQC_FPR_COUNT(PQC_FPR_OP_FLOOR);
    d = pqc_fpr_get(x);
    t = (int64_t)d;
    return t + ((int64_t)pqc_fpr_put(d - (double)t) >> 63);
}

/*
 * Round to nearest, ties to even (the emulation's fpr_rint), without
 * rint()/llrint() (a libm call on some targets), without f64.nearest (an
 * engine helper call on x86 CPUs without SSE4.1), and without a
 * data-dependent select:
 *   - for |x| < 2^52, with c = copysign(2^52, x): x + c lies where the
 *     spacing of doubles is 1, so the addition itself rounds x to an
 *     integer, ties to even (2^52 is even); subtracting c is exact;
 *   - for |x| >= 2^52, x is already an integer: a plain conversion.
 * x is split by a mask into ds (x, or +0 when |x| >= 2^52) and dt (x, or +0
 * when |x| < 2^52); each path gives 0 for its +0, so the sum of both is the
 * result. copysign, and, add: no branch for the compiler to introduce (an
 * earlier version with mask-selects became a wasm f64 `select` on the sign,
 * which an engine may compile to a branch).
 */
static inline int64_t
fpr_rint(fpr x) {
    uint64_t big;
    double ds, dt, c;

    PQC_FPR_COUNT(PQC_FPR_OP_RINT);
    /* big = all-ones iff the biased exponent is >= 1075, i.e. |x| >= 2^52 */
    big = -(uint64_t)((1074U - ((uint32_t)(x >> 52) & 0x7FF)) >> 31);
    ds = pqc_fpr_get(x & ~big);
    dt = pqc_fpr_get(x & big);
    c = __builtin_copysign(4503599627370496.0, ds);
    return ((int64_t)(ds + c) - (int64_t)c) + (int64_t)dt;
}

/*
 * fpr_expm_p63(x, ccs) = 2^63 * ccs * exp(-x) in fixed point, and the
 * tables fpr_gm_tab / fpr_p2_tab keep the pinned declarations: fpr_f64.c
 * (which replaces the pinned fpr.c) compiles the pinned definitions.
 */

#endif /* PQC_FALCON_FPR_F64_H */
