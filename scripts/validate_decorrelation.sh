#!/usr/bin/env bash
# Regenerate the decorrelation validation on an independent sample (seeds the
# decorrelators never saw: scripts/train_decorrelation.py trains on seeds 21-25)
#   docs/validation/decorrelation/  (jetplug validate --section decorrelation:
#                                    R50 against 1/JSD50, QCD masses after the cut)
# and splice its tables into docs/decorrelation.md (between the "generated"
# markers; a test checks they agree).
# Usage: bash scripts/validate_decorrelation.sh [DATA_DIR] [SEED_PREFIX] [N_TTBAR_FILES]
#   default: data/train, seeds s3* (files *_s3?_*.root), the first 10 ttbar files
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$(realpath --relative-to="$ROOT" "${1:-$ROOT/data/train}")"
SEEDS="${2:-s3}"
NTT="${3:-10}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
FILES=("$DATA"/qcd/*_"$SEEDS"?_*.root "$DATA"/wjets/*_"$SEEDS"?_*.root)
TTBAR=("$DATA"/ttbar/*_"$SEEDS"?_*.root)
FILES+=("${TTBAR[@]:0:$NTT}")
"$BIN/jetplug" validate "${FILES[@]}" --section decorrelation --split all \
  -p part -p top_bdt -p tau21_ddt -p ddt_n2 -p ddt_part_w \
  -p adv_w -p disco_w -p adv_top -p disco_top \
  --pt-bins 500,700 --eta-max 2 --n-bootstrap 100 -o docs/validation/decorrelation
"$BIN/python" -m jetplug.validation.splice docs/decorrelation.md \
  docs/validation/decorrelation/decorrelation.md
