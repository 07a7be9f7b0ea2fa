#!/usr/bin/env bash
# Reproduce the shipped models and their validation: generate the sample
# (scripts/generate_samples.sh, 400k events), train every built-in tagger and
# the example plugin's tagger on FatJets with 500 < pT < 700 GeV, then run
# `jetplug validate` on the held-out test split. Two training jobs run side by
# side, one thread each: the Particle Transformer (the long one), and the
# others one after the other. The Particle Transformer gets 15 epochs (its best
# epoch was its last with 6): ~50 minutes of training on 2 cores after generation.
# Usage: bash scripts/train_models.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/train}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
LOGS="${JETPLUG_TRAIN_LOGS:-$DATA/logs}"
bash "$ROOT/scripts/generate_samples.sh" "$DATA"
mkdir -p "$LOGS"
WINDOW=(--pt-min 500 --pt-max 700 --threads 1)
ALL=("$DATA"/*/*.root)
TOPQCD=("$DATA"/ttbar/*.root "$DATA"/qcd/*.root)

"$BIN/jetplug" train part "${ALL[@]}" "${WINDOW[@]}" --model-version 2.0.0 \
  --epochs 15 --patience 4 --batch-size 512 > "$LOGS/part.log" 2>&1 &
PART=$!
(
  set -e
  "$BIN/jetplug" train pfn "${ALL[@]}" "${WINDOW[@]}" --model-version 2.0.0 \
    --epochs 12 --patience 3 --batch-size 512
  "$BIN/jetplug" train top_bdt "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 3.0.0
  "$BIN/jetplug" train top_mlp "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 3.0.0
  "$BIN/jetplug" train example_multiplicity "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 3.0.0
  "$BIN/jetplug" train top_cnn "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 2.0.0 \
    --epochs 6 --patience 2 --batch-size 512
) > "$LOGS/others.log" 2>&1 &
OTHERS=$!
status=0
wait "$PART" || { echo "part training failed: see $LOGS/part.log"; status=1; }
wait "$OTHERS" || { echo "training failed: see $LOGS/others.log"; status=1; }
[[ "$status" -eq 0 ]] || exit "$status"
"$BIN/python" "$ROOT/scripts/model_report.py" > "$ROOT/docs/models.md"
bash "$ROOT/scripts/validate_models.sh" "$DATA"
