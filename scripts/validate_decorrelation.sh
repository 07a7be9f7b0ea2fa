#!/usr/bin/env bash
# Regenerate the decorrelation validation on an independent sample: the taggers'
# independent sample (scripts/validate_independent.sh, seeds 701-705), which
# neither the decorrelators (seeds 21-25) nor the taggers they read (seeds 2x, 3x)
# saw:
#   docs/validation/decorrelation/W/    W vs QCD: QCD and W+jets files
#   docs/validation/decorrelation/top/  top vs QCD: QCD and ttbar files
# (jetplug validate --section decorrelation: R50 against 1/JSD50, the QCD mass
# after the cut), and splice their tables into docs/decorrelation.md (between
# the "generated" markers; a test checks they agree). Each signal has its own
# files, so the W jets of ttbar events do not enter the W comparison.
# The W comparison adds 20k W+jets events of seed 713 (W_DIR, generated here if
# missing, ~2 minutes on 2 cores): at the high-1/JSD50 end the metric is capped by
# the QCD sample's size (the "floor" column), and the cut's position by the W jets.
# Usage: bash scripts/validate_decorrelation.sh [DATA_DIR] [SEED_PREFIX] [N_QCD_W] [N_QCD_TOP] [N_TTBAR] [W_DIR]
#   default: data/independent, seeds s70? (files *_s70?_*.root); W: every QCD and
#   W+jets file and W_DIR (data/decorrelation/wjets); top: every QCD and ttbar file
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$(realpath --relative-to="$ROOT" "${1:-$ROOT/data/independent}")"
SEEDS="${2:-s70}"
NQCDW="${3:-60}"
NQCD="${4:-60}"
NTT="${5:-30}"
WDIR="$(realpath -m --relative-to="$ROOT" "${6:-$ROOT/data/decorrelation/wjets}")"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
WORKERS="${JETPLUG_WORKERS:-2}"
if [[ -z "$(find "$WDIR" -name 'wjets_s713_*.root' 2>/dev/null | head -1)" ]]; then
  "$BIN/jetplug" generate wjets -n 20000 --seed 713 --pt-hat-min 500 --pt-hat-max 750 \
    -o "$WDIR" -j "$WORKERS" --detector "${JETPLUG_DETECTOR:-realistic}"
fi
OUT=docs/validation/decorrelation
QCD=("$DATA"/qcd/*_"$SEEDS"?_*.root)
WJETS=("$DATA"/wjets/*_"$SEEDS"?_*.root "$WDIR"/wjets_s713_*.root)
TTBAR=("$DATA"/ttbar/*_"$SEEDS"?_*.root)
COMMON=(--section decorrelation --split all --pt-bins 500,700 --eta-max 2 --n-bootstrap 100)
"$BIN/jetplug" validate "${QCD[@]:0:$NQCDW}" "${WJETS[@]}" "${COMMON[@]}" --signal W \
  -p part -p tau21_ddt -p ddt_n2 -p ddt_part_w -p adv_w -p disco_w -o "$OUT/W"
"$BIN/jetplug" validate "${QCD[@]:0:$NQCD}" "${TTBAR[@]:0:$NTT}" "${COMMON[@]}" --signal top \
  -p part -p top_bdt -p adv_top -p disco_top -o "$OUT/top"
"$BIN/python" -m jetplug.validation.splice docs/decorrelation.md "$OUT/W/decorrelation.md" W
"$BIN/python" -m jetplug.validation.splice docs/decorrelation.md "$OUT/top/decorrelation.md" top
