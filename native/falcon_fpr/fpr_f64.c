/*
 * pqc-iiot: replaces the pinned PQClean Falcon fpr.c in the fast build: it
 * provides what the pinned fpr.h declares out of line, for code compiled with
 * our binary64 layer (fpr_f64.h). Compile it INSTEAD OF the pinned fpr.c,
 * with -I <PQClean>/crypto_sign/falcon-512/clean -I <PQClean>/common.
 *
 *   fpr_add, fpr_mul, fpr_div, fpr_sqrt, fpr_scaled
 *       inline in fpr_f64.h; the emulated definitions below become static,
 *       renamed, and unreferenced (the compiler drops them), except:
 *   fpr_expm_p63 (PQCLEAN_FALCON512_CLEAN_fpr_expm_p63)
 *       the pinned function, compiled here: integer fixed-point arithmetic
 *       (a degree-12 polynomial whose coefficients live in a function-local
 *       table of the pinned fpr.c), plus fpr_trunc (ours, exact) of two
 *       products by 2^63 computed with the pinned emulated fpr_mul, which is
 *       now a static function the compiler specialises for the constant
 *       operand (clang inlines it; gcc keeps a constprop clone). Exact by
 *       construction, no table retyped.
 *   fpr_gm_tab[], fpr_p2_tab[] (PQCLEAN_FALCON512_CLEAN_...)
 *       the pinned tables, compiled here: the same bits.
 *
 * How: the pinned fpr.c is included unmodified. Its "#include inner.h" is a
 * no-op (fpr_f64.h has included the pinned inner.h already). Its five
 * emulated arithmetic functions are renamed by macros to pqc_fprc_*, and
 * declared static beforehand, so that their definitions get internal linkage
 * (C11 6.2.2: a later declaration without a storage class keeps the linkage
 * of a prior static declaration) and cannot clash with anything.
 *
 * It also holds the optional operation counters of native/falcon_fpr/
 * exactness.c (-DPQC_FPR_F64_COUNT; never in a product build).
 */
#include "fpr_f64.h"

#ifdef PQC_FPR_F64_COUNT
unsigned long pqc_fpr_count[PQC_FPR_OP_COUNT];
unsigned pqc_fpr_exp_min = 0x7FF, pqc_fpr_exp_max = 0;
unsigned long pqc_fpr_subnormals = 0;
#endif

#define fpr_scaled pqc_fprc_scaled
#define fpr_add pqc_fprc_add
#define fpr_mul pqc_fprc_mul
#define fpr_div pqc_fprc_div
#define fpr_sqrt pqc_fprc_sqrt

static fpr pqc_fprc_scaled(int64_t i, int sc) __attribute__((unused));
static fpr pqc_fprc_add(fpr x, fpr y) __attribute__((unused));
static fpr pqc_fprc_mul(fpr x, fpr y);
static fpr pqc_fprc_div(fpr x, fpr y) __attribute__((unused));
static fpr pqc_fprc_sqrt(fpr x) __attribute__((unused));

#include "fpr.c" /* the pinned one, unmodified */

#undef fpr_scaled
#undef fpr_add
#undef fpr_mul
#undef fpr_div
#undef fpr_sqrt
