#!/usr/bin/env bash
# The README's run command: the main job on the shipped default model.
set -euo pipefail
build=${1:-build}
"$build/autocircuit" --help
