#!/usr/bin/env bash
# `make bench`: the engine and algorithm benchmarks (docs/performance.md).
#   scripts/bench.sh [BUILD_DIR]
# Environment:
#   AC_BENCH_CACHE        checkpoint/dataset cache (default ${TMPDIR:-/tmp}/autocircuit-bench)
#   AC_BENCH_ENGINE_ARGS  extra options for bench_engine (e.g. "--repeat 10")
#   AC_BENCH_ALGOS_ARGS   extra options for bench_algos (e.g. "--repeat 2 --markdown")
#   AC_BENCH_E2E=0        skip the end-to-end CLI runs (EAP on 1,000 pairs, thread scaling)
set -euo pipefail
build=${1:-build}
for exe in bench_engine bench_algos; do
  if [ ! -x "$build/$exe" ]; then
    echo "bench.sh: $build/$exe not found (run 'make build')" >&2
    exit 1
  fi
done
# OpenBLAS picks its slower AVX2 (Haswell) kernels on AVX-512 CPUs it does not know
# unless told before the process starts; idle OpenMP threads should sleep, not spin.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
export OMP_WAIT_POLICY=passive
cache=${AC_BENCH_CACHE:-${TMPDIR:-/tmp}/autocircuit-bench}

echo "== bench_engine"
# shellcheck disable=SC2086
"$build/bench_engine" ${AC_BENCH_ENGINE_ARGS:-}
echo
echo "== bench_algos"
# shellcheck disable=SC2086
"$build/bench_algos" --cache "$cache" ${AC_BENCH_ALGOS_ARGS:-}

# End to end through the CLI, as a user runs it: EAP on the cached 1,000-pair dataset
# (loading, tokens, prefix cache, scores file included), wall time and peak memory from
# /usr/bin/time -v, at every thread count from 1 to all. Targets (issue #9): <= 30 s;
# peak RSS <= 1.3 x fp32 weights + 200 MB.
if [ "${AC_BENCH_E2E:-1}" != 0 ]; then
  model="$cache/gpt2-small-random"
  data="$cache/ioi-random-1000x16.json"
  cli="$build/autocircuit"
  echo
  echo "== end to end: $cli discover --algo eap, 1000 pairs x 16 tokens, batch 32"
  if [ ! -x "$cli" ] || [ ! -f "$model/model.safetensors" ] || [ ! -f "$data" ]; then
    echo "  (skipped: needs $cli and the bench_algos cache)"
  elif [ ! -x /usr/bin/time ]; then
    echo "  (skipped: needs /usr/bin/time)"
  else
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    weights_mb=$(awk -v b="$(stat -c %s "$model/model.safetensors")" 'BEGIN { printf "%.0f", b / 1048576 }')
    limit_mb=$(awk -v w="$weights_mb" 'BEGIN { printf "%.0f", 1.3 * w + 200 }')
    ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
    printf '  %7s %8s %8s %8s %9s  %s\n' threads "wall s" "user s" "sys s" "peak MB" "targets"
    base_wall=
    for th in $(seq 1 "$ncpu") ; do
      OMP_NUM_THREADS=$th OPENBLAS_NUM_THREADS=$th /usr/bin/time -v -o "$tmp/time.txt" \
        "$cli" discover --model "$model" --data "$data" --algo eap --no-bos --train-test all,0 \
        --batch-size 32 --no-shuffle --quiet --out "$tmp/scores.json" > "$tmp/out.txt" 2>&1 || {
          echo "  threads $th: the CLI failed:"; sed 's/^/    /' "$tmp/out.txt" "$tmp/time.txt"; exit 1; }
      wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$tmp/time.txt")
      user=$(awk -F': ' '/User time/ { print $2 }' "$tmp/time.txt")
      sys=$(awk -F': ' '/System time/ { print $2 }' "$tmp/time.txt")
      rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$tmp/time.txt")
      [ -n "$base_wall" ] || base_wall=$wall
      note=$(awk -v w="$wall" -v r="$rss" -v l="$limit_mb" -v b="$base_wall" -v t="$th" 'BEGIN {
        printf "wall <= 30 s: %s; peak <= %d MB (1.3 x %s MB weights + 200): %s; speedup %.2fx",
          (w <= 30 ? "met" : "NOT met"), l, "'"$weights_mb"'", (r <= l ? "met" : "NOT met"), b / w }')
      printf '  %7s %8s %8s %8s %9s  %s\n' "$th" "$wall" "$user" "$sys" "$rss" "$note"
    done
    echo "  (wall clock includes loading; other work on the machine inflates it, user + sys do not move as much)"
  fi
fi
