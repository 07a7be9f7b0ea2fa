#!/usr/bin/env bash
# Target-domain samples for the domain-shift benchmark (docs/domain.md): the
# training sample's processes and pT-hat window (500-750 GeV) with ONE setting
# changed, each in a `train` part (unlabelled target data for domain-adversarial
# training) and an independent `test` part (new seeds):
#   fsr_up    generator side: final-state shower scale mu_R/2 (the standard
#             FSR-up variation, TimeShower:renormMultFac = 0.25)
#   hadron95  detector side: hadron energy scale 5 % lower (hadron_scale=0.95)
# Files that exist are kept. ~100k events, ~10 minutes on 2 cores.
# Usage: bash scripts/generate_domain_samples.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/domain}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
WORKERS="${JETPLUG_WORKERS:-2}"
bash "$ROOT/scripts/setup.sh"
declare -A SHIFT=(
  [fsr_up]="--pythia TimeShower:renormMultFac=0.25"
  [hadron95]="--set hadron_scale=0.95"
)
declare -A BASE=([fsr_up]=800 [hadron95]=820)
for shift in fsr_up hadron95; do
  # shellcheck disable=SC2206
  args=(${SHIFT[$shift]})
  for part in train test; do
    off=$([[ $part == train ]] && echo 0 || echo 10)
    for item in ttbar:10000 qcd:$([[ $part == train ]] && echo 10000 || echo 20000); do
      IFS=: read -r proc n <<<"$item"
      seed=$(( ${BASE[$shift]} + off + $([[ $proc == ttbar ]] && echo 1 || echo 2) ))
      out="$DATA/$shift/$part/$proc"
      if [[ -z "$(find "$out" -name "${proc}_s${seed}_*.root" 2>/dev/null | head -1)" ]]; then
        "$BIN/jetplug" generate "$proc" -n "$n" --seed "$seed" --pt-hat-min 500 \
          --pt-hat-max 750 -o "$out" -j "$WORKERS" "${args[@]}"
      fi
    done
  done
done
