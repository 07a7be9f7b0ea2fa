#!/usr/bin/env bash
# Generate the training/validation/test sample of the shipped taggers:
# ttbar, QCD, W+jet, Z+jet, H->bb (pT-hat 500-750 GeV, MPI off, ISR on, the
# default 'realistic' detector response the shipped taggers were trained on;
# JETPLUG_DETECTOR=ideal for the compensating one),
# in seeded rounds (a small one first, so that a partial run still holds every
# class). The shipped models use the first two rounds, JETPLUG_ROUNDS=2 (the
# default): 400k events (180k ttbar, 90k QCD, 25k W, 50k Z, 55k H), ~40 minutes
# on 2 cores; JETPLUG_ROUNDS=3 adds a third (660k events, ~65 minutes). Files
# already present are kept (delete DATA_DIR to regenerate).
# Usage: bash scripts/generate_samples.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/train}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
WORKERS="${JETPLUG_WORKERS:-2}"
bash "$ROOT/scripts/setup.sh"
# process:events:seed, per round
ROUNDS=(
  "ttbar:60000:21 qcd:30000:22 wjets:10000:23 zjets:20000:24 hbb:20000:25"
  "ttbar:120000:31 qcd:60000:32 wjets:15000:33 zjets:30000:34 hbb:35000:35"
  "ttbar:120000:41 qcd:60000:42 wjets:15000:43 zjets:30000:44 hbb:35000:45"
)
for round in "${ROUNDS[@]:0:${JETPLUG_ROUNDS:-2}}"; do
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
      -o "$out" -j "$WORKERS" --detector "${JETPLUG_DETECTOR:-realistic}"
  done
done
