#!/usr/bin/env bash
# pqc-iiot: checks that Falcon on our binary64 floating-point layer (fpr_f64.h)
# gives byte-identical keys, expanded keys and signatures to the pinned PQClean
# integer emulation. Native (gcc -O2); everything is built in a temporary
# directory under /tmp, nothing in the repository.
#
# Usage: native/falcon_fpr/check.sh [SEEDS]   (default 2000; each seed is run
# for logn 9 and 10). Ends with "falcon f64 exactness: P passed, F failed";
# exit status 0 only if nothing failed. Set CC to use another compiler.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pq="$root/node_modules/pqclean/deps/PQClean"
f512="$pq/crypto_sign/falcon-512/clean"
seeds=${1:-2000}
cc=${CC:-gcc}

[ -f "$f512/fpr.h" ] || { echo "pinned PQClean sources not found under $pq (npm ci first)" >&2; exit 2; }

work=$(mktemp -d /tmp/falcon-fpr-check.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The flags that matter for exactness: no contraction into fused multiply-add,
# no fast-math; -fno-math-errno lets gcc inline sqrt.
cflags=(-O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
        -Wno-sign-compare)

pids=()
compile() { # out src extra-args...: compiles in the background (see wait_all)
    local out=$1 src=$2
    shift 2
    "$cc" "${cflags[@]}" -I "$pq/common" "$@" -c "$src" -o "$out" &
    pids+=($!)
}
wait_all() {
    local p failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    pids=()
    [ "$failed" = 0 ] || { echo "compilation failed" >&2; exit 1; }
}

# Partially links a group of objects and prefixes every global symbol it defines.
group() { # prefix out objs...
    local prefix=$1 out=$2
    shift 2
    ld -r -o "$out.tmp.o" "$@"
    nm -g --defined-only "$out.tmp.o" | awk -v p="$prefix" '{ print $3, p $3 }' > "$out.map"
    objcopy --redefine-syms="$out.map" "$out.tmp.o" "$out"
}

internals=(codec common fft fpr keygen rng sign vrfy)
variants=(falcon-512 falcon-1024 falcon-padded-512 falcon-padded-1024)

echo "building (emulated reference, emulated tree, f64, f64 with counters) in $work ..."
objs=()
# REF: the four pinned variants exactly as shipped (each with its own prefix).
for v in "${variants[@]}"; do
    d="$pq/crypto_sign/$v/clean"
    for f in "$d"/*.c; do
        o="$work/ref-$v-$(basename "$f" .c).o"
        compile "$o" "$f" -I "$d"
        objs+=("$o")
    done
done
compile "$work/fips202.o" "$pq/common/fips202.c"
objs+=("$work/fips202.o")

# Prefix map for the variants' pqclean.c onto falcon-512's internals (as wasm/build.mjs does).
for v in falcon-1024 falcon-padded-512 falcon-padded-1024; do
    p=$(grep -o 'PQCLEAN_FALCON[A-Z]*[0-9]*_CLEAN_' "$pq/crypto_sign/$v/clean/api.h" | head -1)
    grep -o 'PQCLEAN_FALCON512_CLEAN_[A-Za-z0-9_]*' "$f512/inner.h" | sort -u \
        | sed 's/^PQCLEAN_FALCON512_CLEAN_//' | grep -v -e '^crypto_sign' -e '^CRYPTO_' \
        | awk -v p="$p" '{ print "#define " p $1 " PQCLEAN_FALCON512_CLEAN_" $1 }' > "$work/alias-$v.h"
done

# EMU: falcon-512 internals as shipped + our fast-signing API.
emu=()
for f in "${internals[@]}"; do
    compile "$work/emu-$f.o" "$f512/$f.c" -I "$f512"; emu+=("$work/emu-$f.o")
done
compile "$work/emu-fast.o" "$here/falcon_fast.c" -I "$f512"; emu+=("$work/emu-fast.o")

# F64 (and CNT = F64 with operation counters).
for mode in f64 cnt; do
    extra=()
    [ "$mode" = cnt ] && extra=(-DPQC_FPR_F64_COUNT)
    for f in codec common rng vrfy; do       # no floating point: as shipped
        compile "$work/$mode-$f.o" "$f512/$f.c" -I "$f512" "${extra[@]}"
    done
    for f in fft sign keygen; do             # the pinned file through our wrapper
        compile "$work/$mode-f64_$f.o" "$here/f64_$f.c" -I "$f512" "${extra[@]}"
    done
    compile "$work/$mode-fpr_f64.o" "$here/fpr_f64.c" -I "$f512" "${extra[@]}"   # replaces fpr.c
    compile "$work/$mode-fast.o" "$here/falcon_fast.c" -I "$f512" "${extra[@]}"
    compile "$work/$mode-pqclean-falcon-512.o" "$f512/pqclean.c" -I "$f512" "${extra[@]}"
    for v in falcon-1024 falcon-padded-512 falcon-padded-1024; do
        compile "$work/$mode-pqclean-$v.o" "$pq/crypto_sign/$v/clean/pqclean.c" \
            -I "$pq/crypto_sign/$v/clean" -include "$work/alias-$v.h" "${extra[@]}"
    done
done
compile "$work/exactness.o" "$here/exactness.c" -I "$pq/crypto_sign/falcon-1024/clean" -I "$pq" -I "$here"
wait_all

# The f64 group must neither define nor call the emulated arithmetic; from the
# pinned fpr.c (through fpr_f64.c) it keeps only fpr_expm_p63 and the two tables.
ld -r -o "$work/f64-check.o" "$work"/f64-*.o
bad=$( (nm -g --defined-only "$work/f64-check.o"; nm -u "$work/f64-check.o") | grep -E 'fpr_(add|mul|div|sqrt|scaled)$' || true)
if [ -n "$bad" ]; then
    echo "the f64 build still contains emulated fpr operations:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "f64 build: fpr symbols defined: $(nm -g --defined-only "$work/f64-check.o" | grep -o 'fpr_[a-z0-9_]*' | sort -u | tr '\n' ' ')"
rm -f "$work/f64-check.o"

group EMU_ "$work/emu.o" "${emu[@]}"
for mode in f64 cnt; do
    up=$(echo "$mode" | tr a-z A-Z)
    group "${up}_" "$work/$mode.o" "$work"/$mode-*.o
done
"$cc" -o "$work/exactness" "$work/exactness.o" "${objs[@]}" "$work/emu.o" "$work/f64.o" "$work/cnt.o" -lm

echo "running $seeds seeds x logn {9, 10} ..."
"$work/exactness" "$seeds" ${NOSPEED:+nospeed}
