#!/usr/bin/env bash
# Builds core/kernels/bnn-kernels.wasm and bnn-kernels-relaxed.wasm from bnn_kernels.c, and
# stats-kernels.wasm from stats_kernels.c, with Debian's clang and lld
# (apt-get install clang lld clang-16 lld-16 llvm-16). The .wasm files are committed; rebuild
# them after editing the C sources.
#
#   bash core/kernels/build.sh            build, check, write the three modules
#   bash core/kernels/build.sh --check    build to temporary files and fail if one differs from
#                                         the committed module
#
# bnn-kernels-relaxed.wasm is the same source with relaxed SIMD (-mrelaxed-simd: the convolutions'
# multiply-adds as f32x4.relaxed_madd, a fused multiply-add where the CPU has one). It needs clang
# 16 or later (clang 14 emits a draft opcode that no engine accepts), so it is built with
# $CLANG_RELAXED. bnn-kernels.wasm stays on clang 14: clang 16's SIMD128-only build of the same
# source ran 5-10% slower in the convolution kernels (docs/performance.md).
#
# The module imports the tfjs wasm backend's memory and works on tensor buffers in place, so it
# must not own any memory: the checks below fail the build on a data segment or any use of the
# stack pointer (see the comment at the top of bnn_kernels.c).
set -euo pipefail
cd "$(dirname "$0")"

# The committed bnn-kernels.wasm was built with this compiler; --check compares bytes only when
# the same version is installed (another clang version may emit different, equally valid code).
BUILT_WITH="Debian clang version 14.0.6"
RELAXED_BUILT_WITH="Debian clang version 16.0.6"

CLANG=${CLANG:-clang}
CLANG_RELAXED=${CLANG_RELAXED:-clang-16}
command -v "$CLANG" >/dev/null || { echo "build.sh: $CLANG not found (apt-get install clang lld)" >&2; exit 1; }
command -v wasm-ld >/dev/null || { echo "build.sh: wasm-ld not found (apt-get install lld)" >&2; exit 1; }
command -v "$CLANG_RELAXED" >/dev/null || { echo "build.sh: $CLANG_RELAXED not found (apt-get install clang-16 lld-16)" >&2; exit 1; }
# llvm-objdump: /usr/bin/llvm-objdump comes with Debian's llvm package, the versioned one with
# llvm-N, which apt-get install clang brings in through its recommended llvm-N-dev.
OBJDUMP=${OBJDUMP:-}
if [ -z "$OBJDUMP" ]; then
  for candidate in llvm-objdump $(ls -d /usr/lib/llvm-*/bin/llvm-objdump 2>/dev/null | sort -rV); do
    if command -v "$candidate" >/dev/null; then OBJDUMP=$candidate; break; fi
  done
fi
[ -n "$OBJDUMP" ] || { echo "build.sh: llvm-objdump not found (apt-get install llvm)" >&2; exit 1; }

out=bnn-kernels.wasm
relaxed=bnn-kernels-relaxed.wasm
check=0
if [ "${1:-}" = "--check" ]; then check=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -O3 -msimd128: SIMD128 loops. -ffreestanding -nostdlib: no libc, nothing but the kernels.
# --import-memory: use the memory of the tfjs module ("env"."memory").
# -z stack-size=0 and --no-growable-memory are not needed: the code never uses a stack.
# -fno-vectorize/-fno-slp-vectorize: the SIMD is written by hand; the scalar tails stay scalar.
build_kernels() { # compiler, output, extra flags...
  local cc=$1 dest=$2
  shift 2
  "$cc" --target=wasm32 -O3 -msimd128 "$@" -ffreestanding -nostdlib \
    -fno-vectorize -fno-slp-vectorize -fno-unroll-loops \
    -Wall -Wextra -Werror \
    -Wl,--no-entry -Wl,--import-memory -Wl,--strip-debug \
    -o "$dest" bnn_kernels.c
}
build_kernels "$CLANG" "$tmp/$out"
build_kernels "$CLANG_RELAXED" "$tmp/$relaxed" -mrelaxed-simd -DBNN_RELAXED_SIMD

# Safety checks on the linked modules; each one's disassembly is left in $tmp/<module>.txt.
check_kernels() { # module
  local module=$1 name disasm
  name=$(basename "$module")
  disasm="$tmp/$name.txt"
  "$OBJDUMP" -h "$module" > "$tmp/sections.txt"
  if grep -qE '^\s*[0-9]+\s+DATA\b' "$tmp/sections.txt"; then
    echo "build.sh: $name has a DATA section; static data would overwrite the tfjs heap" >&2
    cat "$tmp/sections.txt" >&2
    exit 1
  fi
  "$OBJDUMP" -d "$module" > "$disasm"
  if grep -qE 'global\.(get|set)' "$disasm"; then
    echo "build.sh: $name reads or writes a global (the stack pointer); it must use no stack" >&2
    grep -nE 'global\.(get|set)' "$disasm" >&2
    exit 1
  fi
  for f in bnn_winograd_input_grad bnn_winograd_filter_grad bnn_winograd4_input_grad bnn_winograd4_filter_grad bnn_sign bnn_ste_grad bnn_approx_sign_grad bnn_pack_ste bnn_unpack_signs bnn_ste_grad_packed bnn_max_pool_grad bnn_avg_pool_grad bnn_peak_probe; do
    grep -q "<$f>:" "$disasm" || { echo "build.sh: $f is missing from $name" >&2; exit 1; }
  done
}
check_kernels "$tmp/$out"
check_kernels "$tmp/$relaxed"
# The relaxed build must use the fused multiply-add (an objdump without relaxed SIMD shows it as
# <unknown>), and the SIMD128 build must not.
if ! grep -qE 'f32x4\.relaxed_madd|<unknown>' "$tmp/$relaxed.txt"; then
  echo "build.sh: $relaxed has no f32x4.relaxed_madd" >&2
  exit 1
fi
if grep -qE 'relaxed|<unknown>' "$tmp/$out.txt"; then
  echo "build.sh: $out uses relaxed SIMD" >&2
  exit 1
fi

# stats-kernels.wasm: the weight statistics (core/metrics/statsKernel.ts). It owns its memory
# (exported with __heap_base; the caller copies tensors in), so no import and no safety checks.
# -mnontrapping-fptoint: float→int casts saturate (NaN → 0, as JavaScript's `| 0`) instead of
# trapping.
stats=stats-kernels.wasm
"$CLANG" --target=wasm32 -O3 -msimd128 -mnontrapping-fptoint -ffreestanding -nostdlib \
  -fno-vectorize -fno-slp-vectorize \
  -Wall -Wextra -Werror \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-debug \
  -o "$tmp/$stats" stats_kernels.c
"$OBJDUMP" -d "$tmp/$stats" > "$tmp/stats-disasm.txt"
for f in stats_pass1 stats_pass2; do
  grep -q "<$f>:" "$tmp/stats-disasm.txt" || { echo "build.sh: $f is missing" >&2; exit 1; }
done

# compare_or_write compiler expected-version module...
compare_or_write() {
  local cc=$1 built_with=$2 version f
  shift 2
  version=$("$cc" --version | head -n 1)
  for f in "$@"; do
    if [ $check = 1 ]; then
      if [[ "$version" != "$built_with"* ]]; then
        echo "build.sh: $f builds and passes the checks; not comparing bytes ($version, the committed module was built with $built_with)"
      elif cmp -s "$tmp/$f" "$f"; then
        echo "build.sh: $f is up to date"
      else
        echo "build.sh: $f differs from a fresh build of its C source; run bash core/kernels/build.sh" >&2
        exit 1
      fi
    else
      cp "$tmp/$f" "$f"
      echo "build.sh: wrote core/kernels/$f ($(wc -c < "$f") bytes)"
    fi
  done
}
compare_or_write "$CLANG" "$BUILT_WITH" "$out" "$stats"
compare_or_write "$CLANG_RELAXED" "$RELAXED_BUILT_WITH" "$relaxed"
