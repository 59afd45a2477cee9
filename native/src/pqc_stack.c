/*
 * The lowest address of the wasm stack (it grows down), so the bindings never
 * wipe below it. Emscripten records it when _initialize runs; with plain
 * wasm-ld (the default clang build) it is the linker-defined __stack_low.
 */
#include <stdint.h>

#include "pqc.h"

#ifdef __EMSCRIPTEN__
#include <emscripten/stack.h>

PQC_EXPORT uintptr_t pqc_stack_end(void) {
    return emscripten_stack_get_end();
}
#else
extern char __stack_low;

PQC_EXPORT uintptr_t pqc_stack_end(void) {
    return (uintptr_t)&__stack_low;
}
#endif
