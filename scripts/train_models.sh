#!/usr/bin/env bash
# Reproduce the shipped models: generate the training sample, train the built-in
# top BDT and the example plugin's tagger. ~40 minutes on 2 cores.
# Usage: bash scripts/train_models.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/train}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
bash "$ROOT/scripts/setup.sh"
"$BIN/jetplug" generate ttbar -n 60000 --seed 1 --pt-hat-min 500 --pt-hat-max 750 -o "$DATA/ttbar" -j 2
"$BIN/jetplug" generate qcd -n 30000 --seed 2 --pt-hat-min 500 --pt-hat-max 750 -o "$DATA/qcd" -j 2
"$BIN/jetplug" generate qcd -n 100000 --seed 3 --pt-hat-min 500 --pt-hat-max 750 -o "$DATA/qcd" -j 2
for p in wjets:11 zjets:12 hbb:13; do
  "$BIN/jetplug" generate "${p%%:*}" -n 15000 --seed "${p##*:}" --pt-hat-min 500 --pt-hat-max 750 -o "$DATA/${p%%:*}" -j 2
done
"$BIN/jetplug" train top_bdt "$DATA"/ttbar/*.root "$DATA"/qcd/*.root --model-version 1.0.0
"$BIN/jetplug" train top_mlp "$DATA"/ttbar/*.root "$DATA"/qcd/*.root --model-version 1.0.0
"$BIN/jetplug" train pfn "$DATA"/ttbar/*.root "$DATA"/qcd/qcd_s2_*.root "$DATA"/wjets/*.root \
  "$DATA"/zjets/*.root "$DATA"/hbb/*.root --model-version 0.1.0 --threads 2 --patience 6 --epochs 40
"$BIN/jetplug" train example_multiplicity "$DATA"/ttbar/*.root "$DATA"/qcd/*.root --model-version 1.0.0
"$BIN/python" "$ROOT/scripts/model_report.py" > "$ROOT/docs/models.md"
