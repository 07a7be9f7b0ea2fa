#!/usr/bin/env bash
# Generate the calibration / fast-simulation sample with the 'realistic' detector
# response (docs/generation.md): QCD (light-quark, gluon and b jets) in three
# pT-hat windows and ttbar, W, Z, H->bb over a wide pT range, so that response and
# resolution can be measured per gen pT, |eta| and flavour.
#   train/         seeds 1xx: trains the calibrators and the fast-sim GAN
#   test/          seeds 2xx: an independent sample (new seeds) for validation
#   test_shifted/  the same events as test/, with the hadron scale 5 % lower
#                  (--set hadron_scale=0.95): the calibrators' robustness check
# ~100k events, ~15 minutes on 2 cores. Files already present are kept.
# Usage: bash scripts/generate_calibration.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/data/calib}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
WORKERS="${JETPLUG_WORKERS:-2}"
bash "$ROOT/scripts/setup.sh"
# process:events:seed-offset:pt-hat-min:pt-hat-max
ITEMS=(
  "qcd:10000:1:250:500" "qcd:10000:2:500:900" "qcd:10000:3:900:1600"
  "ttbar:4000:4:400:800" "ttbar:4000:5:800:1500"
  "wjets:3000:6:300:1200" "zjets:3000:7:300:1200" "hbb:3000:8:300:1200"
)
sample() {  # name seed-base events-divisor [extra jetplug-generate arguments]
  local name=$1 base=$2 div=$3
  shift 3
  for item in "${ITEMS[@]}"; do
    IFS=: read -r proc n off lo hi <<<"$item"
    n=$(( n / div ))
    seed=$(( base + off ))
    out="$DATA/$name/$proc"
    mkdir -p "$out"
    expected=$(( (n + 999) / 1000 ))
    have=$(find "$out" -name "${proc}_s${seed}_*.root" | wc -l)
    if [[ "$have" -ge "$expected" ]]; then
      echo "==> $name $proc seed $seed: $have files present"
      continue
    fi
    "$BIN/jetplug" generate "$proc" -n "$n" --seed "$seed" --pt-hat-min "$lo" --pt-hat-max "$hi" \
      -o "$out" -j "$WORKERS" --detector realistic "$@"
  done
}
sample train 100 1
sample test 200 2
sample test_shifted 200 2 --set hadron_scale=0.95
