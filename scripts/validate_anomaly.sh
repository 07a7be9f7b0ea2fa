#!/usr/bin/env bash
# Regenerate the anomaly-score validation on the independent sample (seeds
# 701-705, which no training read: scripts/train_anomaly.py reads seeds 21-25,
# scripts/train_jetclr.py every seed of data/train)
#   docs/validation/anomaly/  (jetplug validate --section anomaly: tables, plots)
# and splice its tables into docs/anomaly.md (between the "generated" markers;
# tests/test_docs.py checks they agree).
# Usage: bash scripts/validate_anomaly.sh [DATA_DIR] [SEED_GLOB] [INDEX_GLOB]
#   DATA_DIR defaults to data/independent, SEED_GLOB (the file seeds to read) to 70?,
#   INDEX_GLOB (the files' numbers within a seed) to * (all).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$(realpath -s --relative-to="$ROOT" "${1:-$ROOT/data/independent}")"
SEEDS="${2:-70?}"
INDEX="${3:-*}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
# shellcheck disable=SC2086  # the glob is meant to expand
"$BIN/jetplug" validate "$DATA"/*/*_s${SEEDS}_${INDEX}.root --section anomaly \
  -p ae_qcd -p ae_top -p nae_qcd -p nae_top -p jetclr_qcd --split all --pt-bins 500,700 \
  --n-bootstrap 200 -o docs/validation/anomaly
"$BIN/python" -m jetplug.validation.splice docs/anomaly.md docs/validation/anomaly/anomaly.md
