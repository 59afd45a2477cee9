// What the wasm core is made of: one table, read by the build, the lock writer
// and the native benchmark, so they cannot disagree.

/** Directories (under the package's deps/PQClean) whose every .c file is compiled. */
export const sourceDirs = [
  'crypto_kem/ml-kem-512/clean',
  'crypto_kem/ml-kem-768/clean',
  'crypto_kem/ml-kem-1024/clean',
  'crypto_sign/falcon-512/clean',
];

/**
 * Falcon's internals (codec, fft, fpr, keygen, sign, vrfy, ...) are the same
 * code in every Falcon directory up to the symbol prefix and white space: they
 * take logn at run time. So falcon-512's internals are compiled once, and each
 * other variant contributes only its pqclean.c (the API, signature format and
 * padding), compiled with a generated header that maps its prefix onto
 * falcon-512's. The build checks the sameness claim before relying on it.
 */
export const aliasedFalconDirs = [
  'crypto_sign/falcon-1024/clean',
  'crypto_sign/falcon-padded-512/clean',
  'crypto_sign/falcon-padded-1024/clean',
];
export const falconBaseDir = 'crypto_sign/falcon-512/clean';
export const falconBasePrefix = 'PQCLEAN_FALCON512_CLEAN_';

/**
 * PQClean's shared primitives: Keccak for everything; AES-256 (constant-time bitsliced) and cSHAKE256 for
 * the authenticated encryption of native/src/pqc_ae.c.
 */
export const commonSources = ['common/fips202.c', 'common/aes.c', 'common/sp800-185.c'];

/** The headers of common/ that the compiled files include (pinned by the lock like the sources). */
export const commonHeaders = ['common/fips202.h', 'common/aes.h', 'common/sp800-185.h', 'common/randombytes.h'];

/** Our own C, relative to the repository root. */
export const nativeSources = [
  'native/src/pqc_memory.c',
  'native/src/pqc_random.c',
  'native/src/pqc_kem.c',
  'native/src/pqc_sign.c',
  'native/src/pqc_info.c',
  'native/src/pqc_ae.c',
];

/**
 * Our C over Falcon's internals, compiled against whichever internals the variant uses: signing with an
 * expanded key (Falcon's tree) and verification with a prepared public key.
 */
export const falconFastSources = ['native/falcon_fpr/falcon_fast.c', 'native/falcon_fpr/falcon_verify.c'];

/**
 * Two builds of the same sources, differing only in Falcon's floating point:
 * - fast (default, wasm/pqc.wasm): our binary64 layer (native/falcon_fpr/,
 *   docs/FALCON-FP.md) replaces the pinned integer emulation; the pinned
 *   fft.c, sign.c and keygen.c are compiled unmodified through wrappers that
 *   include it, and fpr_f64.c replaces fpr.c. Byte-identical outputs, ~10x
 *   faster signing.
 * - strict (wasm/pqc-strict.wasm): the pinned integer emulation, for users who
 *   want no hardware floating point at all.
 */
export const variants = {
  fast: {
    file: 'pqc.wasm',
    replaces: ['fft.c', 'sign.c', 'keygen.c', 'fpr.c'],
    extraSources: [
      'native/falcon_fpr/f64_fft.c',
      'native/falcon_fpr/f64_sign.c',
      'native/falcon_fpr/f64_keygen.c',
      'native/falcon_fpr/fpr_f64.c',
    ],
    defines: ['-DPQC_FALCON_F64'],
  },
  strict: { file: 'pqc-strict.wasm', replaces: [], extraSources: [], defines: [] },
};

/** What the module exports, and what it may import from the host (checked after linking). */
export const exportedFunctions = [
  'pqc_info',
  'pqc_kem_keypair',
  'pqc_kem_keypair_derand',
  'pqc_kem_encaps',
  'pqc_kem_encaps_derand',
  'pqc_kem_decaps',
  'pqc_sign_keypair',
  'pqc_sign_keypair_derand',
  'pqc_sign',
  'pqc_sign_derand',
  'pqc_verify',
  'pqc_sign_expand',
  'pqc_sign_expanded',
  'pqc_verify_prepare',
  'pqc_verify_prepared',
  'pqc_falcon_native_fp',
  'pqc_shake256',
  'pqc_ae_init',
  'pqc_ae_seal',
  'pqc_ae_open',
  'pqc_ae_release',
  'pqc_kmac256',
  'pqc_malloc',
  'pqc_free',
  'pqc_memzero',
  'emscripten_stack_get_current',
  'emscripten_stack_get_end',
  'emscripten_stack_get_base',
];
export const allowedImports = [
  'pqc.random_fill',
  'wasi_snapshot_preview1.proc_exit',
  'env.emscripten_notify_memory_growth',
];

/** The same flags for every object; -ffile-prefix-map keeps build paths out of the binary. */
// -ffp-contract=off: no fused multiply-add, whose single rounding would change Falcon's results;
// -mnontrapping-fptoint: plain f64-to-int conversions instead of range-checked branches.
export const compileFlags = ['-O3', '-ffp-contract=off', '-mnontrapping-fptoint', '-Wall', '-Wno-unused-function'];

/**
 * Extra flags for some units, by path (matched against the file's path; the first matching rule applies).
 * Measured on this machine (two cores, Node 20; sizes are wasm/pqc.wasm gzipped):
 * - ML-KEM's ntt.c, reduce.c and poly.c with link-time optimisation and wasm SIMD: LTO inlines
 *   reduce.c's Montgomery and Barrett reductions into the NTT and polynomial loops, which SIMD then
 *   vectorises (128-bit lanes, eight int16 coefficients); neither flag helps alone. Encapsulation and
 *   decapsulation ~1.3x faster for +~200 bytes gzipped; -fno-unroll-loops keeps the code small (with
 *   unrolling the NTTs alone grow by ~15 KB gzipped). verify.c (verify, cmov, cmov_int16: the
 *   constant-time selections) stays a separate, non-LTO unit, so those remain opaque calls exactly as
 *   before: nothing can be inlined into a branch on secret data. The rest of ML-KEM gained nothing
 *   measurable from the same flags but cost kilobytes.
 * - Falcon's vrfy.c (the mod-q NTT: verification, and key generation's and key expansion's integer
 *   steps) with SIMD: verification ~1.2x faster.
 * - Falcon's key generation (the pinned keygen.c, through our f64_keygen.c wrapper) at -Os: it runs once
 *   per identity, and -Os saved 4.3 KB gzipped (~12% slower key generation, 120 instead of 137 keys/s,
 *   still 1.6x native), which pays for the AE below within the 60 KiB budget. Same results (the KATs
 *   and the exactness test compare them). Both builds: the strict one compiles the pinned keygen.c itself.
 * Vector code is still branch-free where the scalar code was: the vectoriser adds only loop-count and
 * aliasing checks on pointers and lengths, never on data.
 * The native benchmark (bench/native.ts) keeps the plain compileFlags: gcc -O3, no LTO.
 * Both modules therefore need wasm SIMD (fixed-width 128-bit): Node >= 16.4, Chrome/Edge >= 91,
 * Firefox >= 89, Safari >= 16.4.
 * - The AE's units (PQClean's aes.c and sp800-185.c, our pqc_ae.c) at -Os, for the size budget: they add
 *   2,363 bytes gzipped to pqc.wasm instead of 3,141 at -O3, for a seal or open of 256 bytes ~5% slower
 *   (~5.8 us instead of ~5.5). -Os changes inlining and unrolling only: the bitsliced AES stays
 *   branch-free on data (its compiled branches are loop counters), as the tag comparison does.
 */
export const unitFlags = [
  { match: /\/common\/(aes|sp800-185)\.c$|\/native\/src\/pqc_ae\.c$/, flags: ['-Os'] },
  { match: /\/native\/falcon_fpr\/f64_keygen\.c$|\/crypto_sign\/falcon-512\/clean\/keygen\.c$/, flags: ['-Os'] },
  { match: /\/crypto_kem\/ml-kem-(512|768|1024)\/clean\/(ntt|reduce|poly)\.c$/, flags: ['-msimd128', '-flto', '-fno-unroll-loops'] },
  { match: /\/crypto_sign\/falcon-512\/clean\/vrfy\.c$/, flags: ['-msimd128', '-fno-unroll-loops'] },
];

export const linkFlags = [
  '-O3',
  // The SIMD (and LTO) units above: lets the linker and binaryen's optimiser accept and keep vector code.
  '-msimd128',
  '-sSTANDALONE_WASM',
  '--no-entry',
  // The one host import (pqc.random_fill) is not an Emscripten library function;
  // the build checks the import list itself after linking instead.
  '-sERROR_ON_UNDEFINED_SYMBOLS=0',
  '-sALLOW_MEMORY_GROWTH=1',
  // Falcon-1024's clean signing keeps ~80 KB of temporaries on the stack.
  '-sTOTAL_STACK=262144',
  '-sINITIAL_MEMORY=1048576',
  '-sFILESYSTEM=0',
  '-sASSERTIONS=0',
  '-sMALLOC=emmalloc',
];
