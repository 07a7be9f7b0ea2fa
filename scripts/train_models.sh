#!/usr/bin/env bash
# Reproduce the shipped models and their validation: generate the sample
# (scripts/generate_samples.sh, ~480k events), train every built-in tagger and
# the example plugin's tagger on FatJets with 500 < pT < 700 GeV, then run
# `jetplug validate` on the held-out test split. ~2 hours on 2 cores.
# Usage: bash scripts/train_models.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/train}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
bash "$ROOT/scripts/generate_samples.sh" "$DATA"
WINDOW=(--pt-min 500 --pt-max 700)
TOPQCD=("$DATA"/ttbar/*.root "$DATA"/qcd/*.root)
"$BIN/jetplug" train top_bdt "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 2.0.0 --threads 1
"$BIN/jetplug" train top_mlp "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 2.0.0 --threads 1
"$BIN/jetplug" train top_cnn "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 1.0.0 --threads 1 \
  --epochs 12 --patience 3 --batch-size 512
"$BIN/jetplug" train pfn "$DATA"/*/*.root "${WINDOW[@]}" --model-version 1.0.0 --threads 2 \
  --epochs 14 --patience 4 --batch-size 1024
"$BIN/jetplug" train example_multiplicity "${TOPQCD[@]}" "${WINDOW[@]}" --model-version 2.0.0 \
  --threads 1
"$BIN/python" "$ROOT/scripts/model_report.py" > "$ROOT/docs/models.md"
bash "$ROOT/scripts/validate_models.sh" "$DATA"
