#!/usr/bin/env bash
# Regenerate the trained task models (docs/training.md):
#   models/TASK-trained/{config.json, model.safetensors, vocab.txt, README.md}
#   datasets/TASK-trained.json
# for TASK in ioi, greater-than, induction (or the tasks named on the command line),
# each with `autocircuit train`'s default settings for that task (the ones shipped).
# Deterministic: with the same thread count (pinned to 2 here) on the same kind of
# machine the output equals the committed files byte for byte.
# usage: scripts/make-trained.sh [TASK ...]   (BUILD=dir selects the build, default build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
if [ ! -x "$build/autocircuit" ]; then
  make -C "$root" build BUILD="$build"
fi
cli="$build/autocircuit"
export OMP_NUM_THREADS=2
tasks=("$@")
if [ ${#tasks[@]} -eq 0 ]; then tasks=(ioi greater-than induction); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$root/datasets"
for task in "${tasks[@]}"; do
  name="$task-trained"
  start=$(date +%s)
  "$cli" train --task "$task" --out "$tmp/$name"
  end=$(date +%s)
  mkdir -p "$root/models/$name"
  cp "$tmp/$name/model/config.json" "$tmp/$name/model/model.safetensors" "$tmp/$name/model/vocab.txt" \
     "$tmp/$name/README.md" "$root/models/$name/"
  cp "$tmp/$name/dataset.json" "$root/datasets/$name.json"
  echo "wrote models/$name/ and datasets/$name.json ($((end - start)) s)"
done
