#!/usr/bin/env bash
# Bayesian search of top_bdt's xgboost hyper-parameters with `jetplug tune` on the
# training sample (scripts/generate_samples.sh: ttbar and QCD, FatJets with
# 500 < pT < 700 GeV as the shipped model), trials on a Dask LocalCluster, the
# study in OUT/study.journal (rerunning resumes it). The tuned model, the model of
# the trainer's default settings on the same data and the shipped top_bdt are then
# compared on the independent sample (scripts/validate_independent.sh), and the
# report is copied to docs/validation/tuning/ and spliced into docs/tuning.md.
# Usage: bash scripts/tune_top_bdt.sh [DATA_DIR] [INDEPENDENT_DIR]
#   TUNE_TRIALS   trials in all (default 60)
#   TUNE_SUBSET   "first-third": only ttbar_s21_* and qcd_s22_* (a third of the sample)
#   JETPLUG_TUNE_OUT  output directory (default data/tune/top_bdt)
#   JETPLUG_WORKERS   Dask workers (default 2)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"  # relative paths: the report names no absolute path
DATA="$(realpath -s --relative-to="$ROOT" "${1:-$ROOT/data/train}")"
IND="$(realpath -s --relative-to="$ROOT" "${2:-$ROOT/data/independent}")"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
OUT="${JETPLUG_TUNE_OUT:-data/tune/top_bdt}"
if [[ "${TUNE_SUBSET:-}" == first-third ]]; then
  FILES=("$DATA"/ttbar/ttbar_s21_*.root "$DATA"/qcd/qcd_s22_*.root)
else
  FILES=("$DATA"/ttbar/*.root "$DATA"/qcd/*.root)
fi
"$BIN/jetplug" tune top_bdt "${FILES[@]}" --pt-min 500 --pt-max 700 --threads 1 \
  --trials "${TUNE_TRIALS:-60}" --workers "${JETPLUG_WORKERS:-2}" --seed 42 \
  --model-version 1.0.0 -o "$OUT" --compare "$IND/*/*.root" --n-bootstrap 200
mkdir -p docs/validation/tuning/plots
cp "$OUT/tune.md" "$OUT/tune.json" docs/validation/tuning/
cp "$OUT"/plots/*.png docs/validation/tuning/plots/
"$BIN/python" -m jetplug.validation.splice docs/tuning.md docs/validation/tuning/tune.md
