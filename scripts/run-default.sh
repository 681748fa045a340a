#!/usr/bin/env bash
# The README's run command: the demo on the shipped default model (models/induction):
# discover → evaluate → report, the ROC AUC of each algorithm against the known circuit,
# and the path of the HTML report.
set -euo pipefail
build=${1:-build}
out=${AC_DEMO_OUT:-autocircuit-demo}
"$build/autocircuit" demo --out "$out"
