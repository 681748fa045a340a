#!/usr/bin/env bash
# `make bench`: the engine and algorithm benchmarks (docs/performance.md).
#   scripts/bench.sh [BUILD_DIR]
# Environment:
#   AC_BENCH_CACHE        checkpoint/dataset cache (default ${TMPDIR:-/tmp}/autocircuit-bench)
#   AC_BENCH_ENGINE_ARGS  extra options for bench_engine (e.g. "--repeat 10")
#   AC_BENCH_ALGOS_ARGS   extra options for bench_algos (e.g. "--repeat 2 --markdown")
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
