#!/usr/bin/env bash
# The taggers' physics numbers on an INDEPENDENT sample, in one command: events
# generated with seeds no training used (the shipped taggers' sample uses seeds
# 21-45), the same processes, pT-hat window and detector response as the
# training sample, then `jetplug validate --split all` (every event) with the
# BDT as the R50 reference. Default 100k events (30k ttbar, 60k QCD, 4k W, 3k Z,
# 3k H: at R50 ~ 500 the QCD count sets the error), ~10 minutes on 2 cores; the
# sample is kept in DATA_DIR and reused.
# The report goes to docs/validation/independent/ by default.
# Usage: bash scripts/validate_independent.sh [DATA_DIR] [OUT_DIR] [SEED_BASE]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/independent}"
OUT="${2:-$ROOT/docs/validation/independent}"
BASE="${3:-700}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
WORKERS="${JETPLUG_WORKERS:-2}"
bash "$ROOT/scripts/setup.sh"
off=0
for item in ttbar:30000 qcd:60000 wjets:4000 zjets:3000 hbb:3000; do
  IFS=: read -r proc n <<<"$item"
  off=$(( off + 1 ))
  seed=$(( BASE + off ))
  if [[ -z "$(find "$DATA/$proc" -name "${proc}_s${seed}_*.root" 2>/dev/null | head -1)" ]]; then
    "$BIN/jetplug" generate "$proc" -n "$n" --seed "$seed" --pt-hat-min 500 --pt-hat-max 750 \
      -o "$DATA/$proc" -j "$WORKERS" --detector "${JETPLUG_DETECTOR:-realistic}"
  fi
done
cd "$ROOT"  # relative paths: the report names no absolute path
DATA="$(realpath --relative-to="$ROOT" "$DATA")"
OUT="$(realpath -m --relative-to="$ROOT" "$OUT")"
"$BIN/jetplug" validate "$DATA"/*/*.root --split all --pt-bins 500,550,650,700 \
  --n-bootstrap 200 -o "$OUT"
