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

CLANG=${CLANG:-clang}
OBJDUMP=${OBJDUMP:-llvm-objdump}
for tool in "$CLANG" "$OBJDUMP"; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (apt-get install clang lld llvm)" >&2; exit 1; }
done

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
for f in bnn_sign bnn_ste_grad bnn_approx_sign_grad bnn_peak_probe; do
  grep -q "<$f>:" "$tmp/disasm.txt" || { echo "build.sh: $f is missing" >&2; exit 1; }
done

if [ $check = 1 ]; then
  if cmp -s "$tmp/$out" "$out"; then
    echo "build.sh: $out is up to date"
  else
    echo "build.sh: $out differs from a fresh build of bnn_kernels.c; run bash core/kernels/build.sh" >&2
    exit 1
  fi
else
  cp "$tmp/$out" "$out"
  echo "build.sh: wrote core/kernels/$out ($(wc -c < "$out") bytes)"
fi
