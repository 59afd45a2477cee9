# The wasm stack pointer, for the bindings' stack wipe (bindings/core.ts): where
# the stack is before a call, and putting it back if the host threw through wasm.
# C cannot name the __stack_pointer global, so these two are assembly. They are
# the same with either compiler (both link with wasm-ld, which defines the global).

    .globaltype __stack_pointer, i32

    .globl pqc_stack_current
    .type pqc_stack_current,@function
pqc_stack_current:
    .functype pqc_stack_current () -> (i32)
    global.get __stack_pointer
    end_function

    .globl pqc_stack_restore
    .type pqc_stack_restore,@function
pqc_stack_restore:
    .functype pqc_stack_restore (i32) -> ()
    local.get 0
    global.set __stack_pointer
    end_function
