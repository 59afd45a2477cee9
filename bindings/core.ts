// The WebAssembly boundary: one instance, its memory, and the only code that
// allocates or frees in it. Every region is zeroed before it goes back to the
// allocator, and the stack area a call used is wiped after the call, so no
// secret outlives the call that needed it inside wasm memory. Operations on
// public data only (signature verification) take a cheaper path, runPublic();
// small per-message secret operations (the AE) reuse one region, runSecret().

import { PqcError } from './errors.js';

interface CoreExports {
  readonly memory: WebAssembly.Memory;
  readonly _initialize: () => void;
  readonly pqc_info: (alg: number, field: number) => number;
  readonly pqc_kem_keypair: (alg: number, pk: number, sk: number) => number;
  readonly pqc_kem_keypair_derand: (alg: number, pk: number, sk: number, seed: number) => number;
  readonly pqc_kem_encaps: (alg: number, ct: number, ss: number, pk: number) => number;
  readonly pqc_kem_encaps_derand: (alg: number, ct: number, ss: number, pk: number, seed: number) => number;
  readonly pqc_kem_decaps: (alg: number, ss: number, ct: number, sk: number) => number;
  readonly pqc_sign_keypair: (alg: number, pk: number, sk: number) => number;
  readonly pqc_sign_keypair_derand: (alg: number, pk: number, sk: number, seed: number) => number;
  readonly pqc_sign: (alg: number, sig: number, siglen: number, m: number, mlen: number, sk: number) => number;
  readonly pqc_sign_derand: (alg: number, sig: number, siglen: number, m: number, mlen: number, sk: number, seed: number) => number;
  readonly pqc_verify: (alg: number, sig: number, siglen: number, m: number, mlen: number, pk: number) => number;
  readonly pqc_sign_expand: (alg: number, expanded: number, sk: number) => number;
  readonly pqc_sign_expanded: (alg: number, sig: number, siglen: number, m: number, mlen: number, expanded: number, seed: number) => number;
  readonly pqc_verify_prepare: (alg: number, prepared: number, pk: number) => number;
  readonly pqc_verify_prepared: (alg: number, sig: number, siglen: number, m: number, mlen: number, prepared: number) => number;
  readonly pqc_falcon_native_fp: () => number;
  readonly pqc_shake256: (out: number, outlen: number, input: number, inlen: number) => number;
  readonly pqc_ae_init: (ctx: number, encKey: number, macKey: number) => number;
  readonly pqc_ae_seal: (ctx: number, nonce: number, aad: number, aadLen: number, pt: number, ptLen: number, out: number) => number;
  readonly pqc_ae_open: (ctx: number, nonce: number, aad: number, aadLen: number, input: number, inLen: number, out: number) => number;
  readonly pqc_ae_release: (ctx: number) => void;
  readonly pqc_kmac256: (out: number, outLen: number, key: number, keyLen: number, input: number, inLen: number, custom: number, customLen: number) => number;
  readonly pqc_malloc: (n: number) => number;
  readonly pqc_free: (p: number, n: number) => void;
  readonly pqc_stack_current: () => number;
  readonly pqc_stack_end: () => number;
  readonly pqc_stack_restore: (sp: number) => void;
}

export type CoreFunctions = Omit<CoreExports, 'memory' | '_initialize' | 'pqc_malloc' | 'pqc_free' | 'pqc_stack_restore'>;

/** A region of wasm memory owned by one call. */
export interface Region {
  readonly ptr: number;
  readonly len: number;
}

const RANDOM_CHUNK = 65536; // crypto.getRandomValues' limit per call
const KEPT_MAX = 65536; // the largest region runPublic() and runSecret() keep from call to call

export class WasmCore {
  readonly fn: CoreFunctions;
  private readonly memory: WebAssembly.Memory;
  private readonly raw: CoreExports;
  private view: Uint8Array;
  private broken: string | undefined;
  /** runPublic()'s and runSecret()'s region, reused from call to call and zeroed after each (see there). */
  private kept: Region | undefined;
  /** Replaced by the memory test to observe every region as it is freed. */
  rawFree: (ptr: number, len: number) => void;

  private constructor(instance: WebAssembly.Instance) {
    this.raw = instance.exports as unknown as CoreExports;
    this.fn = this.raw;
    this.memory = this.raw.memory;
    this.view = new Uint8Array(this.memory.buffer);
    this.rawFree = (ptr, len) => this.raw.pqc_free(ptr, len);
    this.raw._initialize();
  }

  static async instantiate(module: WebAssembly.Module): Promise<WasmCore> {
    let core: WasmCore | undefined;
    const imports = {
      pqc: {
        // One call per request (in 64 KiB chunks), never one per byte. Failure is
        // reported as a status: the C side latches it and wipes its outputs.
        random_fill: (ptr: number, len: number): number => {
          try {
            const heap = core!.heap();
            for (let off = 0; off < len; off += RANDOM_CHUNK) {
              crypto.getRandomValues(heap.subarray(ptr + off, ptr + Math.min(len, off + RANDOM_CHUNK)));
            }
            return 0;
          } catch {
            return 1;
          }
        },
      },
      wasi_snapshot_preview1: {
        proc_exit: (code: number): never => {
          throw new PqcError('ABORTED', `the wasm core aborted (exit ${code}): out of memory`);
        },
      },
      // Imported by Emscripten-built modules only (PQC_WASM_COMPILER=emcc); the views are refreshed in heap().
      env: { emscripten_notify_memory_growth: (): void => undefined },
    };
    const instance = await WebAssembly.instantiate(module, imports);
    core = new WasmCore(instance);
    return core;
  }

  /** The current view of wasm memory (a new one after the memory grew). */
  heap(): Uint8Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Uint8Array(this.memory.buffer);
    return this.view;
  }

  alloc(len: number): Region {
    const ptr = this.raw.pqc_malloc(len);
    if (ptr === 0) throw new PqcError('ABORTED', `wasm allocation of ${len} bytes failed`);
    return { ptr, len };
  }

  /** Zeroes, then frees: nothing goes back to the allocator with data in it. */
  free(region: Region): void {
    this.heap().fill(0, region.ptr, region.ptr + region.len);
    this.rawFree(region.ptr, region.len);
  }

  /** Copies bytes into a fresh region (the caller's array is never written). */
  put(bytes: Uint8Array): Region {
    const region = this.alloc(bytes.length);
    this.heap().set(bytes, region.ptr);
    return region;
  }

  /** Copies a region out into a new array owned by the caller. */
  take(region: Region, len = region.len): Uint8Array {
    return this.heap().slice(region.ptr, region.ptr + len);
  }

  readU32(ptr: number): number {
    const h = this.heap();
    return (h[ptr]! | (h[ptr + 1]! << 8) | (h[ptr + 2]! << 16) | (h[ptr + 3]! << 24)) >>> 0;
  }

  /**
   * Runs one native operation. The regions it allocates are freed (zeroed) in
   * `finally`, the stack pointer is restored even if the host threw through wasm,
   * and the stack bytes the call used below the caller's frame are wiped
   * (`stackWipe` bytes: the operation's measured depth with margin, params.ts).
   */
  run<T>(what: string, body: (scratch: (len: number) => Region) => T, stackWipe = Number.POSITIVE_INFINITY): T {
    if (this.broken) throw new PqcError('ABORTED', `the wasm core is unusable after an earlier abort (${this.broken}); call init() in a new context`);
    const regions: Region[] = [];
    const scratch = (len: number): Region => {
      const r = this.alloc(len);
      regions.push(r);
      return r;
    };
    const sp = this.raw.pqc_stack_current();
    try {
      return body(scratch);
    } catch (err) {
      if (err instanceof PqcError && err.code === 'ABORTED') this.broken = `${what}: ${err.message}`;
      throw err;
    } finally {
      this.raw.pqc_stack_restore(sp);
      this.heap().fill(0, Math.max(this.raw.pqc_stack_end(), sp - stackWipe), sp);
      for (const r of regions) this.free(r);
    }
  }

  /**
   * Runs one operation whose inputs, outputs and intermediate values are all public: signature
   * verification (public key, signature, message; the hash of the message and the decoded signature on
   * the C stack). `body` gets one input region of at least `len` bytes, reused from call to call instead
   * of allocated and freed each time, and zeroed after the call, so the caller's message does not stay in
   * wasm memory. The stack the call used is not wiped: it holds only values derived from those public
   * inputs, and the next secret operation's own wipe (run()) covers it (verification needs at most ~10 KB
   * of stack, less than any STACK_WIPE bound; test/bindings/memory.test.ts checks that the whole stack is zero
   * after every secret operation, verifications in between included). Never use this for anything that
   * touches a secret key, a seed or a shared secret.
   */
  runPublic<T>(what: string, len: number, body: (input: number) => T): T {
    return this.withKept(what, len, body, 0);
  }

  /**
   * Runs one operation on secret data whose inputs and outputs share one region of `len` bytes: the AE's
   * per-message seal and open. Like runPublic(), the region is reused from call to call instead of
   * allocated and freed each time (the AE runs once per message), and its `len` bytes are zeroed after the
   * call; like run(), the stack the call used is wiped (`stackWipe` bytes). The region's contents are only
   * ever read by the one call that wrote them: JavaScript runs each call to the end before the next.
   */
  runSecret<T>(what: string, len: number, body: (region: number) => T, stackWipe: number): T {
    return this.withKept(what, len, body, stackWipe);
  }

  private withKept<T>(what: string, len: number, body: (region: number) => T, stackWipe: number): T {
    if (this.broken) throw new PqcError('ABORTED', `the wasm core is unusable after an earlier abort (${this.broken}); call init() in a new context`);
    let region = this.kept;
    // Inputs above KEPT_MAX (long messages) get a region of their own for this call only, so that the kept
    // region stays small.
    const kept = len <= KEPT_MAX;
    if (!kept) region = this.alloc(len);
    else if (region === undefined || region.len < len) {
      if (region !== undefined) this.free(region);
      this.kept = undefined;
      region = this.kept = this.alloc(Math.max(len, 4096));
    }
    const sp = this.raw.pqc_stack_current();
    try {
      return body(region.ptr);
    } catch (err) {
      if (err instanceof PqcError && err.code === 'ABORTED') this.broken = `${what}: ${err.message}`;
      throw err;
    } finally {
      this.raw.pqc_stack_restore(sp);
      if (stackWipe > 0) this.heap().fill(0, Math.max(this.raw.pqc_stack_end(), sp - stackWipe), sp);
      if (kept) this.heap().fill(0, region.ptr, region.ptr + len);
      else this.free(region);
    }
  }

  /** Bounds of the wasm stack (for the zeroisation tests). */
  stackBounds(): { end: number; current: number } {
    return { end: this.raw.pqc_stack_end(), current: this.raw.pqc_stack_current() };
  }
}
