#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for $1
# seconds (default 60) on its seed corpus; fails on any crash, leak or
# sanitizer report. Needs Debian's clang and libclang-rt-14-dev.
#
#   bash fuzz/run.sh 60                 # every target, 60 s each
#   FUZZ_TARGETS="idx" bash fuzz/run.sh 600
#   FUZZ_JOBS=2 bash fuzz/run.sh 600    # two worker processes per target
#   FUZZ_RUNS=10000000 bash fuzz/run.sh # stop each target after N executions instead
#
# Targets (fuzz/<name>_fuzz.c, seeds in fuzz/corpus/<name>/):
#   safetensors   lg_safetensors_parse and lg_safetensors_load (src/io/safetensors.c)
#   idx           lg_idx_parse and lg_idx_read, plain and gzip (src/io/idx.c)
#   tensor_table  lunagrad.tensor(nested table) in an embedded lua_State
# New inputs found are written to fuzz/out/<name>/ (not committed); crashes to
# fuzz/out/crash-*. Reproduce one: fuzz/out/bin/<name>_fuzz fuzz/out/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null; then
  echo "fuzz/run.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
out=fuzz/out
mkdir -p "$out/bin" "$out/obj"
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -std=c11 -D_DEFAULT_SOURCE -Isrc -Wall -Wextra -Wno-unknown-pragmas)
# The core without OpenMP (its pragmas are then ignored): one thread keeps runs reproducible.
core=(src/core/*.c src/ops/*.c src/kernels/*.c src/io/*.c src/da/*.c)
lua_inc=$(pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
blas_inc=$(pkg-config --cflags openblas 2>/dev/null || true)
libs=(-lopenblas -lz -lm)

# Each source is compiled once (instrumented, without libFuzzer's main) into
# $out/obj, then every target links what it needs.
san=(-fsanitize=address,undefined -fno-sanitize-recover=all)
compile() { # source -> object path on stdout
  local src=$1 obj=$out/obj/${1//\//_}.o
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj" -o -name '*.def' -newer "$obj")" ]; then
    # shellcheck disable=SC2086
    "$CLANG" "${flags[@]/-fsanitize=fuzzer,address,undefined/-fsanitize=fuzzer-no-link}" "${san[@]}" \
      $lua_inc $blas_inc -c -o "$obj" "$src" >&2
  fi
  echo "$obj"
}

build() { # name, extra sources..., then libraries after --
  local name=$1; shift
  local objs=() extra_libs=() src
  for src in "${core[@]}"; do objs+=("$(compile "$src")"); done
  while [ $# -gt 0 ] && [ "$1" != -- ]; do objs+=("$(compile "$1")"); shift; done
  [ $# -gt 0 ] && shift && extra_libs=("$@")
  echo "== building $name"
  # shellcheck disable=SC2086
  "$CLANG" "${flags[@]}" $lua_inc $blas_inc -o "$out/bin/${name}_fuzz" "fuzz/${name}_fuzz.c" \
    "${objs[@]}" "${extra_libs[@]}" "${libs[@]}"
}

targets=${FUZZ_TARGETS:-"safetensors idx tensor_table"}
for t in $targets; do
  case $t in
    tensor_table) build "$t" $(ls src/lua/*.c | grep -v env.c) -- -llua5.4 ;;
    *) build "$t" ;;
  esac
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OPENBLAS_NUM_THREADS=1
status=0
for t in $targets; do
  mkdir -p "$out/$t"
  # tensor_table programs need no more than 4 KB (2b repeats make long rows);
  # longer inputs only slow it down
  max_len=65536
  [ "$t" = tensor_table ] && max_len=4096
  args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -malloc_limit_mb=2048
        -max_len=$max_len -print_final_stats=1 -artifact_prefix="$out/")
  if [ -f "fuzz/$t.dict" ]; then args+=(-dict="fuzz/$t.dict"); fi
  if [ -n "${FUZZ_RUNS:-}" ]; then args+=(-runs="$FUZZ_RUNS"); fi
  if [ -n "${FUZZ_JOBS:-}" ]; then args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
  echo "== fuzzing $t for ${seconds}s"
  rc=0
  "$out/bin/${t}_fuzz" "${args[@]}" "$out/$t" "fuzz/corpus/$t" >"$out/$t.log" 2>&1 || rc=$?
  # with -jobs the workers log to fuzz-<n>.log in the current directory
  for w in fuzz-*.log; do [ -f "$w" ] && cat "$w" >>"$out/$t.log" && rm -f "$w"; done
  grep -E "^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec)" "$out/$t.log" || true
  if [ $rc -ne 0 ] || grep -qE "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|deadly signal" "$out/$t.log"; then
    grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$out/$t.log" | head -20 >&2
    echo "fuzz/run.sh: $t FAILED (log: $out/$t.log; reproduce: $out/bin/${t}_fuzz <crash file>)" >&2
    status=1
  else
    echo "== $t: no crash"
  fi
done
exit $status
