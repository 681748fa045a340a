#!/usr/bin/env bash
# The test suite under valgrind memcheck (docs/reliability.md).
#   scripts/valgrind.sh [BUILD_DIR] [TEST_REGEX]
# Builds BUILD_DIR (default build-valgrind) as Release without -march=native (valgrind
# 3.19 does not decode AVX-512) and runs every test program matching TEST_REGEX
# (default: all but VALGRIND_SKIP) under memcheck, following the CLI processes the tests
# start. OpenBLAS is told to use its AVX2 kernels for the same reason. A test fails on
# any memcheck error or any definitely/indirectly lost block; logs and a summary go to
# BUILD_DIR/valgrind/. Exit status 1 when any test failed.
# The shells (system(), sh -c) and timeout(1) are traced too: a skipped program's
# children run natively, so skipping sh would leave every CLI process unchecked. Text
# tools that start nothing (tr, sed, awk, ...) are skipped: their own leaks are not
# ours; bash's parser leaks are suppressed (scripts/valgrind.supp).
# Environment: VALGRIND_OUT (log directory, default BUILD_DIR/valgrind), VALGRIND_SKIP
# (regex of test names to leave out; default
# '^test_slow_'), VALGRIND_TIMEOUT (seconds per test, default 3600).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
pattern=${2:-.}
skip=${VALGRIND_SKIP:-^test_slow_}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DAC_NATIVE=OFF >/dev/null || exit 2
cmake --build "$build" -j "$(nproc)" >/dev/null || exit 2
out=${VALGRIND_OUT:-$build/valgrind}
rm -rf "$out"
mkdir -p "$out"
src=$(pwd)
export AC_SOURCE_DIR="$src" AC_SHARED_DIR="$src/../shared" AC_CLI="$src/$build/autocircuit"
export OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive AC_NO_REEXEC=1
# the interrupt tests signal the CLI after this many seconds: it must have started
export AC_TEST_SIGNAL_DELAY=${AC_TEST_SIGNAL_DELAY:-30}
vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --suppressions="$src/scripts/valgrind.supp" --trace-children=yes
    --trace-children-skip='*/cat,*/rm,*/ls,*/mkdir,*/tr,*/sed,*/awk,*/mawk,*/gawk,*/grep,*/head,*/tail,*/sort,*/cut,*/wc,*/date,*/mktemp,*/basename,*/dirname,*/diff,*/cmp,*/mv,*/cp,*/touch,*/gzip,*/man,*/groff,*/cmake,*/cc,*/gcc,*/ld,*/pkg-config,*/chromium*,*/python3'
    --num-callers=30)
status=0
summary="$out/summary.txt"
: > "$summary"
for t in "$build"/test_*; do
  name=$(basename "$t")
  [ -x "$t" ] || continue
  [[ "$name" =~ $pattern ]] || continue
  if [[ "$name" =~ $skip ]]; then
    echo "$name: skipped" | tee -a "$summary"
    continue
  fi
  mkdir -p "$out/$name"
  start=$(date +%s)
  timeout "${VALGRIND_TIMEOUT:-3600}" "${vg[@]}" --log-file="$out/$name/%p.log" "$t" > "$out/$name/stdout.txt" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  errors=0
  lost=0
  for log in "$out/$name"/*.log; do
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tr -d , | tail -1)
    errors=$((errors + ${e:-0}))
    l=$(grep -E 'definitely lost:|indirectly lost:' "$log" | sed 's/.*lost: \([0-9,]*\) bytes.*/\1/' | tr -d , |
        awk '{ s += $1 } END { print s + 0 }')
    lost=$((lost + ${l:-0}))
  done
  procs=$(ls "$out/$name"/*.log 2>/dev/null | wc -l)
  verdict=ok
  if [ $rc -eq 77 ]; then verdict="skipped by the test (exit 77)"
  elif [ $rc -ne 0 ] || [ "$errors" -ne 0 ] || [ "$lost" -ne 0 ]; then verdict="FAILED (exit $rc)"; status=1; fi
  printf '%-26s %5ss  %3s processes  %4s errors  %8s bytes lost  %s\n' "$name" "$secs" "$procs" "$errors" "$lost" "$verdict" | tee -a "$summary"
done
exit $status
