#!/usr/bin/env bash
# Builds core/kernels/bnn-kernels.wasm from bnn_kernels.c with Debian's clang and lld
# (apt-get install clang lld). The .wasm is committed; rebuild it after editing the C source.
#
#   bash core/kernels/build.sh            build, check, write bnn-kernels.wasm
#   bash core/kernels/build.sh --check    build to a temporary file and fail if it differs from
#                                         the committed bnn-kernels.wasm
#
# The module imports the tfjs wasm backend's memory and works on tensor buffers in place, so it
# must not own any memory: the checks below fail the build on a data segment or any use of the
# stack pointer (see the comment at the top of bnn_kernels.c).
set -euo pipefail
cd "$(dirname "$0")"

# The committed bnn-kernels.wasm was built with this compiler; --check compares bytes only when
# the same version is installed (another clang version may emit different, equally valid code).
BUILT_WITH="Debian clang version 14.0.6"

CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "build.sh: $CLANG not found (apt-get install clang lld)" >&2; exit 1; }
command -v wasm-ld >/dev/null || { echo "build.sh: wasm-ld not found (apt-get install lld)" >&2; exit 1; }
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
check=0
if [ "${1:-}" = "--check" ]; then check=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -O3 -msimd128: SIMD128 loops. -ffreestanding -nostdlib: no libc, nothing but the three
# functions. --import-memory: use the memory of the tfjs module ("env"."memory").
# -z stack-size=0 and --no-growable-memory are not needed: the code never uses a stack.
# -fno-vectorize/-fno-slp-vectorize: the SIMD is written by hand; the scalar tails stay scalar.
"$CLANG" --target=wasm32 -O3 -msimd128 -ffreestanding -nostdlib \
  -fno-vectorize -fno-slp-vectorize -fno-unroll-loops \
  -Wall -Wextra -Werror \
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-debug \
  -o "$tmp/$out" bnn_kernels.c

# Safety checks on the linked module.
"$OBJDUMP" -h "$tmp/$out" > "$tmp/sections.txt"
if grep -qE '^\s*[0-9]+\s+DATA\b' "$tmp/sections.txt"; then
  echo "build.sh: the module has a DATA section; static data would overwrite the tfjs heap" >&2
  cat "$tmp/sections.txt" >&2
  exit 1
fi
"$OBJDUMP" -d "$tmp/$out" > "$tmp/disasm.txt"
if grep -qE 'global\.(get|set)' "$tmp/disasm.txt"; then
  echo "build.sh: the code reads or writes a global (the stack pointer); it must use no stack" >&2
  grep -nE 'global\.(get|set)' "$tmp/disasm.txt" >&2
  exit 1
fi
for f in bnn_winograd_input_grad bnn_winograd_filter_grad bnn_winograd4_input_grad bnn_winograd4_filter_grad bnn_sign bnn_ste_grad bnn_approx_sign_grad bnn_pack_ste bnn_unpack_signs bnn_ste_grad_packed bnn_max_pool_grad bnn_avg_pool_grad bnn_peak_probe; do
  grep -q "<$f>:" "$tmp/disasm.txt" || { echo "build.sh: $f is missing" >&2; exit 1; }
done

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

if [ $check = 1 ]; then
  version=$("$CLANG" --version | head -n 1)
  if [[ "$version" != "$BUILT_WITH"* ]]; then
    echo "build.sh: the sources build and pass the checks; not comparing bytes ($version, the committed modules were built with $BUILT_WITH)"
  else
    for f in "$out" "$stats"; do
      if cmp -s "$tmp/$f" "$f"; then
        echo "build.sh: $f is up to date"
      else
        echo "build.sh: $f differs from a fresh build of its C source; run bash core/kernels/build.sh" >&2
        exit 1
      fi
    done
  fi
else
  cp "$tmp/$out" "$out"
  cp "$tmp/$stats" "$stats"
  echo "build.sh: wrote core/kernels/$out ($(wc -c < "$out") bytes) and core/kernels/$stats ($(wc -c < "$stats") bytes)"
fi
