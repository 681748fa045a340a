#!/usr/bin/env bash
# Regenerate the shipped zoo (docs/zoo.md): for every model NAME of `autocircuit zoo list`,
#   models/NAME/{config.json, model.safetensors, ground_truth.json, README.md}
#   datasets/NAME.json
# with the default prompt count and seed. Deterministic: the output equals the committed
# files byte for byte (tests/test_zoo.c checks it).
# usage: scripts/make-zoo.sh [BUILD_DIR]   (default build; built first if needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
if [ ! -x "$build/autocircuit" ]; then
  make -C "$root" build BUILD="$build"
fi
cli="$build/autocircuit"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$root/datasets"
for name in $("$cli" zoo list | awk '{print $1}'); do
  "$cli" zoo "$name" --out "$tmp/$name" > /dev/null
  mkdir -p "$root/models/$name"
  cp "$tmp/$name/model/config.json" "$tmp/$name/model/model.safetensors" \
     "$tmp/$name/ground_truth.json" "$tmp/$name/README.md" "$root/models/$name/"
  cp "$tmp/$name/dataset.json" "$root/datasets/$name.json"
  echo "wrote models/$name/ and datasets/$name.json"
done
