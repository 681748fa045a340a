#!/bin/sh
# CTest: render the sample reports in headless Chromium and check their layout
# (scripts/check-report.sh). Skips (exit 77) when chromium is not installed.
# usage: tests/test_report_render.sh BUILD_DIR
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    echo "chromium is not installed (apt-get install chromium): skipped"
    exit 77
fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/report-render.XXXXXX") || exit 1
CHECK_REPORT_SHOTS=one sh "$(dirname "$0")/../scripts/check-report.sh" "$1" "$OUT"
rc=$?
if [ "$rc" = 0 ]; then rm -rf "$OUT"; else echo "kept $OUT for a look"; fi
exit "$rc"
