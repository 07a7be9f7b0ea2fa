#!/usr/bin/env bash
# Regenerate the calibration and fast-simulation validation from the independent
# test sample of scripts/generate_calibration.sh (new seeds, realistic response):
#   docs/validation/calibration/  (jetplug validate --section calibration,
#                                  with the hadron-scale-shifted sample)
#   docs/validation/fastsim/      (jetplug validate --section fastsim; also on the
#                                  taggers' independent sample where it exists)
# and splice their tables into docs/calibration.md and docs/fastsim.md
# (between the "generated" markers; a test checks they agree), and time the
# fast simulation against the chain it replaces (benchmarks/bench_fastsim.py).
# Usage: bash scripts/validate_calibration.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$(realpath --relative-to="$ROOT" "${1:-$ROOT/data/calib}")"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
"$BIN/jetplug" validate "$DATA"/test/*/*.root --section calibration -p calib_ni -p calib_bdt -p calib_pfn \
  --shifted "$DATA/test_shifted/*/*.root" --n-bootstrap 200 -o docs/validation/calibration
"$BIN/jetplug" validate "$DATA"/test/*/*.root --section fastsim -p fastsim_gan --tagger top_bdt \
  -o docs/validation/fastsim
"$BIN/python" -m jetplug.validation.splice docs/calibration.md docs/validation/calibration/calibration.md
"$BIN/python" -m jetplug.validation.splice docs/fastsim.md docs/validation/fastsim/fastsim.md
# the taggers' independent sample (scripts/validate_independent.sh: 500-750 GeV, 60k QCD
# events) has ten times the QCD jets in the downstream R50 window
INDEP="${JETPLUG_INDEPENDENT:-data/independent}"
if compgen -G "$INDEP/*/*.root" >/dev/null; then
  "$BIN/jetplug" validate "$INDEP"/*/*.root --section fastsim -p fastsim_gan --tagger top_bdt \
    -o docs/validation/fastsim/independent
  "$BIN/python" -m jetplug.validation.splice docs/fastsim.md \
    docs/validation/fastsim/independent/fastsim.md independent
fi
"$BIN/python" "$ROOT/benchmarks/bench_fastsim.py" --events 1000 --repeat 3 \
  --markdown docs/validation/fastsim/speed.md
"$BIN/python" -m jetplug.validation.splice docs/fastsim.md docs/validation/fastsim/speed.md speed
