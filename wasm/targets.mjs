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

/** The headers of common/ that the compiled files include (pinned by the lock like the sources; the clang build sees nothing else). */
export const commonHeaders = ['common/fips202.h', 'common/aes.h', 'common/sp800-185.h', 'common/randombytes.h', 'common/compat.h'];

/** Our own C, relative to the repository root. */
export const nativeSources = [
  'native/src/pqc_memory.c',
  'native/src/pqc_heap.c',
  'native/src/pqc_random.c',
  'native/src/pqc_kem.c',
  'native/src/pqc_sign.c',
  'native/src/pqc_info.c',
  'native/src/pqc_ae.c',
  'native/src/pqc_stack.c',
  'native/src/pqc_stack.S',
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
  'pqc_stack_current',
  'pqc_stack_restore',
  'pqc_stack_end',
];
/** What each compiler's module may import (bindings/core.ts provides all of them). */
export const clangAllowedImports = ['pqc.random_fill', 'wasi_snapshot_preview1.proc_exit'];
export const emccAllowedImports = ['pqc.random_fill', 'wasi_snapshot_preview1.proc_exit', 'env.emscripten_notify_memory_growth'];

/** The same flags for every object; -ffile-prefix-map keeps build paths out of the binary. */
// -ffp-contract=off: no fused multiply-add, whose single rounding would change Falcon's results;
// -mnontrapping-fptoint: plain f64-to-int conversions instead of range-checked branches.
export const compileFlags = ['-O3', '-ffp-contract=off', '-mnontrapping-fptoint', '-Wall', '-Wno-unused-function'];
/** wasm32-wasip1: wasi-libc's headers and libc (dlmalloc), no system interface imported beyond proc_exit. */
// clang 21 turns on reference types and multi-value by default; neither is needed, and leaving them off keeps
// the module loadable by every engine the README names (Chrome/Edge 91+ among them).
const clangFeatures = ['-mno-reference-types', '-mno-multivalue'];
export const clangCompileFlags = ['--target=wasm32-wasip1', ...clangFeatures, ...compileFlags];
export const emccCompileFlags = compileFlags;

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
 * - Falcon's key generation (the pinned keygen.c, through our f64_keygen.c wrapper) at -Oz: it runs once
 *   per identity. With emcc, -Os saved 4.3 KB gzipped (~12% slower key generation, still 1.6x native);
 *   LLVM 21 inlines more, and -Oz keeps it near emcc's size.
 * - The parts of ML-KEM and Falcon that only move bytes or call Keccak (kem.c, indcpa.c, polyvec.c, cbd.c,
 *   symmetric-shake.c; Falcon's codec.c, common.c and each variant's pqclean.c; our API layer) at -Os: with
 *   clang 21 from @yowasp/clang (52 KB gzipped with everything else at -O3 and binaryen's wasm-opt, over the
 *   budget once the readable glue is counted) this and keygen at -Oz gave 50.2 KB (gzip -9), with no
 *   slowdown we could tell from the noise of interleaved rounds; the bench's same-run ratios are the check.
 *   fips202.c (Keccak) stays at -O3: at -Os ML-KEM ran ~10% slower.
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
  { match: /\/native\/falcon_fpr\/f64_keygen\.c$|\/crypto_sign\/falcon-512\/clean\/keygen\.c$/, flags: ['-Oz'] },
  {
    match:
      /\/crypto_kem\/ml-kem-(512|768|1024)\/clean\/(kem|indcpa|polyvec|cbd|symmetric-shake)\.c$|\/crypto_sign\/falcon-512\/clean\/(codec|common)\.c$|\/crypto_sign\/falcon-[a-z0-9-]*\/clean\/pqclean\.c$|\/native\/src\/pqc_(kem|sign|info|memory|heap|random)\.c$/,
    flags: ['-Os'],
  },
  { match: /\/crypto_kem\/ml-kem-(512|768|1024)\/clean\/(ntt|reduce|poly)\.c$/, flags: ['-msimd128', '-flto', '-fno-unroll-loops'] },
  { match: /\/crypto_sign\/falcon-512\/clean\/vrfy\.c$/, flags: ['-msimd128', '-fno-unroll-loops'] },
];

/**
 * The same module from either linker. Emscripten's settings and their wasm-ld
 * equivalents: STANDALONE_WASM --no-entry = a reactor (crt1-reactor's
 * _initialize); TOTAL_STACK = -z stack-size; INITIAL_MEMORY = --initial-memory;
 * ALLOW_MEMORY_GROWTH = --max-memory (2 GiB, as emcc's default maximum);
 * no malloc setting: native/src/pqc_heap.c replaces the C library's allocator in both builds.
 */
export const clangLinkFlags = [
  '--target=wasm32-wasip1',
  ...clangFeatures,
  '-O3',
  '-msimd128',
  '-mexec-model=reactor',
  '-Wl,-z,stack-size=262144',
  '-Wl,--initial-memory=1048576',
  '-Wl,--max-memory=2147483648',
  // No name section or producers section: smaller, and nothing of the build machine in the binary.
  '-Wl,--strip-all',
];

/**
 * binaryen's wasm-opt (the npm package `binaryen`, pinned) after wasm-ld, as emcc runs its own after linking:
 * it merges the functions that ML-KEM's three parameter sets compile identically and saves ~2 KB gzipped.
 * The features are the ones the module may use; wasm-opt refuses a module that uses any other.
 */
export const wasmOptFlags = [
  '-O3',
  '--enable-simd',
  '--enable-bulk-memory',
  '--enable-sign-ext',
  '--enable-nontrapping-float-to-int',
  '--enable-mutable-globals',
];

export const emccLinkFlags = [
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
  // native/src/pqc_heap.c is the allocator, as in the clang build.
  '-sMALLOC=none',
];
