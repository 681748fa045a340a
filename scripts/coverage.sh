#!/usr/bin/env bash
# Line coverage of src/ by the test suite (docs/reliability.md).
#   scripts/coverage.sh [BUILD_DIR]
# Builds BUILD_DIR (default build-coverage) with -DAC_COVERAGE=ON (gcc --coverage, -O0),
# runs the whole suite (ctest; the CLI processes the tests start count too), and prints
# per-file and total line coverage of src/ from gcov; the table is also written to
# BUILD_DIR/coverage.txt. With lcov and genhtml installed, an HTML report goes to
# BUILD_DIR/coverage-html/. Needs only gcc's gcov otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-coverage}
src=$(pwd)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DAC_COVERAGE=ON -DAC_NATIVE=OFF >/dev/null || exit 2
cmake --build "$build" -j "$(nproc)" >/dev/null || exit 2
find "$build" -name '*.gcda' -delete
ctest --test-dir "$build" -j "$(nproc)" --output-on-failure > "$build/coverage-ctest.log" 2>&1
ctest_rc=$?
tail -3 "$build/coverage-ctest.log"
# gcov on every object of the library and the CLI; keep the files under src/
report="$build/coverage.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && find "$src/$build/CMakeFiles/autocircuit.dir" "$src/$build/CMakeFiles/autocircuit-cli.dir" \
   -name '*.gcno' -print0 | xargs -0 gcov -n 2>/dev/null) |
awk -v root="$src/src/" '
  /^File / { f = $2; gsub(/\047/, "", f); next }
  /^Lines executed:/ {
    if (index(f, root) == 1) {
      split($2, a, ":"); pct = a[2]; sub(/%/, "", pct); n = $4
      rel = substr(f, length(root) + 1)
      hit = int(pct * n / 100 + 0.5)
      if (!(rel in lines) || n > lines[rel]) { lines[rel] = n; hits[rel] = hit }
    }
    f = ""
  }
  END {
    for (r in lines) {
      total += lines[r]; covered += hits[r]
      printf "%-34s %5d / %5d lines  %6.2f%%\n", "src/" r, hits[r], lines[r], lines[r] ? 100 * hits[r] / lines[r] : 100 | "sort"
    }
    close("sort")
    printf "%-34s %5d / %5d lines  %6.2f%%\n", "TOTAL src/", covered, total, total ? 100 * covered / total : 100
  }' | tee "$report"
if command -v lcov >/dev/null && command -v genhtml >/dev/null; then
  lcov -q -c -d "$build" -o "$build/coverage.info" --include "$src/src/*" 2>/dev/null &&
    genhtml -q -o "$build/coverage-html" "$build/coverage.info" 2>/dev/null &&
    echo "HTML report: $build/coverage-html/index.html"
fi
exit $ctest_rc
