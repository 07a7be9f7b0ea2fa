#!/usr/bin/env bash
# Generate the training/validation/test sample of the shipped taggers:
# ttbar, QCD, W+jet, Z+jet, H->bb (pT-hat 500-750 GeV, MPI off, ISR on),
# in two rounds with different seeds so that a partial run still holds every
# class. ~480k events, ~45 minutes on 2 cores. Files already present are kept
# (delete DATA_DIR to regenerate). Usage: bash scripts/generate_samples.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/train}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
WORKERS="${JETPLUG_WORKERS:-2}"
bash "$ROOT/scripts/setup.sh"
# process:events:seed, per round
ROUNDS=(
  "ttbar:100000:21 qcd:60000:22 wjets:20000:23 zjets:30000:24 hbb:30000:25"
  "ttbar:100000:31 qcd:60000:32 wjets:20000:33 zjets:30000:34 hbb:30000:35"
)
for round in "${ROUNDS[@]}"; do
  for item in $round; do
    IFS=: read -r proc n seed <<<"$item"
    out="$DATA/$proc"
    mkdir -p "$out"
    expected=$(( (n + 999) / 1000 ))
    have=$(find "$out" -name "${proc}_s${seed}_*.root" | wc -l)
    if [[ "$have" -ge "$expected" ]]; then
      echo "==> $proc seed $seed: $have files present"
      continue
    fi
    "$BIN/jetplug" generate "$proc" -n "$n" --seed "$seed" --pt-hat-min 500 --pt-hat-max 750 \
      -o "$out" -j "$WORKERS"
  done
done
