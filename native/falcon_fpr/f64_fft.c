/*
 * pqc-iiot: the pinned PQClean Falcon fft.c, compiled against our binary64
 * floating-point layer (fpr_f64.h) instead of the integer emulation. The
 * pinned file is included unmodified; its own #include "inner.h" is a no-op
 * because fpr_f64.h has already included the pinned inner.h.
 * Compile with -I <PQClean>/crypto_sign/falcon-512/clean -I <PQClean>/common,
 * in place of the pinned fft.c.
 */
#include "fpr_f64.h"
#include "fft.c"
