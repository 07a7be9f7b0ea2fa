#!/usr/bin/env bash
# Regenerate docs/meta.md's tables on the independent sample (seeds 701-705), which
# neither the starts (scripts/train_meta.py: seeds 21, 22, 24, 25) nor any adaptation saw:
#   docs/validation/meta/            the few-shot study (scripts/study_meta.py): R50 and
#                                    AUC against K for scratch, pooled + fine-tuning, MAML
#                                    + fine-tuning, 10 disjoint support draws per K;
#                                    plots/r50_vs_k.png
#   docs/validation/meta/validate/   jetplug validate --section decorrelation on W vs QCD:
#                                    the shipped meta_w beside the fully supervised network
#                                    on the same features (adv_w's raw point) and τ21, N2
#   docs/validation/meta/seeds/      the training-seed check: MAML and pooled starts
#                                    trained with seeds 8 (and 9: pooled) into
#                                    results/meta-seeds/ (not shipped; trained here when
#                                    missing, ~10 CPU-minutes), against the shipped ones
# and splice the tables into docs/meta.md (between the "generated" markers; a test
# checks they agree).
# Usage: bash scripts/validate_meta.sh [TRAIN_DIR] [INDEPENDENT_DIR] [REPEATS]
#   default: data/train (support jets: W+jets and QCD seeds 23, 33, 22, 32, train split),
#   data/independent, 10 draws per K (~10 CPU-minutes, one thread)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TRAIN="$(realpath -s --relative-to="$ROOT" "${1:-$ROOT/data/train}")"
DATA="$(realpath -s --relative-to="$ROOT" "${2:-$ROOT/data/independent}")"
REPEATS="${3:-10}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
OUT=docs/validation/meta
export OMP_NUM_THREADS=1
"$BIN/python" scripts/study_meta.py --train "$TRAIN" --independent "$DATA" \
  --repeats "$REPEATS" -o "$OUT" --splice docs/meta.md
"$BIN/jetplug" validate "$DATA"/qcd/*.root "$DATA"/wjets/*.root --section decorrelation \
  --split all --pt-bins 500,700 --eta-max 2 --n-bootstrap 100 --signal W \
  -p meta_w -p adv_w -o "$OUT/validate"
"$BIN/python" -m jetplug.validation.splice docs/meta.md "$OUT/validate/decorrelation.md" validate
SEEDS=results/meta-seeds
[ -f "$SEEDS/s8/init_maml.pt" ] || "$BIN/python" scripts/train_meta.py "$TRAIN" --seed 8 -o "$SEEDS/s8"
[ -f "$SEEDS/s9/init_pooled.pt" ] || "$BIN/python" scripts/train_meta.py "$TRAIN" --seed 9 --only pooled -o "$SEEDS/s9"
"$BIN/python" scripts/study_meta.py --train "$TRAIN" --independent "$DATA" --repeats "$REPEATS" \
  --steps 100 --starts pooled maml --no-plot -o "$OUT/seeds" --start "maml_s8=$SEEDS/s8/init_maml.pt" \
  --start "pooled_s8=$SEEDS/s8/init_pooled.pt" --start "pooled_s9=$SEEDS/s9/init_pooled.pt"
"$BIN/python" -m jetplug.validation.splice docs/meta.md "$OUT/seeds/meta.md" seeds
