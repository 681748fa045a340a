#!/usr/bin/env bash
# Run every libFuzzer harness (or those named) for a fixed time each.
#   scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]
# BUILD_DIR is a clang build with -DAC_FUZZ=ON (make fuzz makes one). Each harness reads
# its seed corpus fuzz/corpus/NAME and the regression inputs fuzz/regressions/NAME, keeps
# what it learns in BUILD_DIR/corpus/NAME, and writes any crashing input to
# BUILD_DIR/artifacts/. One summary line per harness (executions, coverage) goes to
# stdout and BUILD_DIR/fuzz-summary.txt. Exit status 1 when any harness found something.
# Environment: FUZZ_JOBS (parallel harnesses, default 1), FUZZ_TIMEOUT (seconds one input
# may take, wall clock, default 30: generous, since a starved CPU stretches milliseconds
# into seconds), FUZZ_ARGS (more libFuzzer flags),
# AC_FUZZ_TOKENIZER (an extra tokenizer for the encode harness, e.g. the real GPT-2 files).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]}
seconds=${2:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]}
shift 2
if [ $# -gt 0 ]; then
  names=("$@")
else
  mapfile -t names < <(sed -n 's/^    X(\([a-z0-9_]*\)).*/\1/p' fuzz/fz.h)
fi
mkdir -p "$build/artifacts" "$build/logs"
summary="$build/fuzz-summary.txt"
: > "$summary"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# OpenMP threads are irrelevant to the parsers; keep the harnesses single-threaded
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

run_one() {
  local name=$1 bin="$build/fuzz_$name"
  local log="$build/logs/$name.log"
  if [ ! -x "$bin" ]; then
    echo "$name: $bin missing (build the 'fuzzers' target)" | tee -a "$summary"
    return 1
  fi
  mkdir -p "$build/corpus/$name" "fuzz/corpus/$name"
  local dirs=("$build/corpus/$name" "fuzz/corpus/$name")
  [ -d "fuzz/regressions/$name" ] && dirs+=("fuzz/regressions/$name")
  local dict=()
  [ -f "fuzz/dict/$name.dict" ] && dict=("-dict=fuzz/dict/$name.dict")
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-30}" -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "${dict[@]}" ${FUZZ_ARGS:-} \
    "${dirs[@]}" > "$log" 2>&1
  local rc=$?
  local execs cov ft corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(find "$build/corpus/$name" -type f | wc -l)
  local verdict=ok
  [ $rc -ne 0 ] && verdict="FOUND SOMETHING (exit $rc; see $log and $build/artifacts/)"
  printf '%-18s %6ss  execs %-10s cov %-6s ft %-6s corpus %-5s %s\n' \
    "$name" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$verdict" | tee -a "$summary"
  [ $rc -eq 0 ]
}

jobs=${FUZZ_JOBS:-1}
status=0
running=0
for name in "${names[@]}"; do
  if [ "$jobs" -le 1 ]; then
    run_one "$name" || status=1
  else
    run_one "$name" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
      wait -n || status=1
      running=$((running - 1))
    fi
  fi
done
while [ $running -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
