#!/usr/bin/env bash
# Regenerate the domain-shift benchmark (docs/domain.md): every top tagger trained
# on the default simulation, evaluated on its independent sample (the source:
# data/independent, seeds 70x, which no tagger saw) and on the TEST parts of the
# shifted samples of scripts/generate_domain_samples.sh (generated first when
# missing):
#   fsr_up    final-state shower scale mu_R/2 (generator side)
#   hadron95  hadron energy scale 5 % lower (detector side)
# with jetplug validate --section domain (R50 on each, W1 of the score per class,
# scale factors, the lambda trade-off of the adapted taggers), written to
# docs/validation/domain/ and spliced into docs/domain.md (between the "generated"
# markers; a test checks they agree).
# Usage: bash scripts/validate_domain.sh [DATA_DIR] [N_TTBAR] [N_QCD]
#   default: data; the first 10 ttbar and 20 QCD files of data/independent (as
#   many events as each target's test part: 10k ttbar, 20k QCD)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$(realpath -s --relative-to="$ROOT" "${1:-$ROOT/data}")"
NTT="${2:-10}"
NQCD="${3:-20}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
OUT=docs/validation/domain
SHIFTS=(fsr_up hadron95)
for shift in "${SHIFTS[@]}"; do
  for part in train test; do
    for proc in ttbar qcd; do
      if ! compgen -G "$DATA/domain/$shift/$part/$proc/*.root" >/dev/null; then
        bash scripts/generate_domain_samples.sh "$DATA/domain"
        break 3
      fi
    done
  done
done
TTBAR=("$DATA"/independent/ttbar/*_s70?_*.root)
QCD=("$DATA"/independent/qcd/*_s70?_*.root)
TARGETS=()
for shift in "${SHIFTS[@]}"; do
  TARGETS+=(--target "$shift=$DATA/domain/$shift/test/*/*.root")
done
"$BIN/jetplug" validate "${TTBAR[@]:0:$NTT}" "${QCD[@]:0:$NQCD}" --section domain --split all \
  --pt-bins 500,700 --eta-max 2 --n-bootstrap 100 "${TARGETS[@]}" \
  -p top_bdt -p top_mlp -p top_cnn -p pfn -p part -p dann_top -p sysadv_top -o "$OUT"
"$BIN/python" -m jetplug.validation.splice docs/domain.md "$OUT/domain.md"
