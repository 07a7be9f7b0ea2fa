#!/usr/bin/env bash
# Regenerate the trigger view (docs/trigger.md) from the independent test sample of
# scripts/generate_calibration.sh (seeds 2xx, realistic response: QCD in pT-hat slices
# 250-500, 500-900, 900-1600, ttbar, W, Z, H) plus a QCD check slice below it
# (pT-hat 150-250, seed 209, 30k events, ~4 minutes on 2 cores; generated here when
# missing) that shows what the pT-hat range under 250 GeV adds above the trigger's pT:
#   docs/validation/trigger/   (jetplug validate --section trigger)
#   docs/validation/trigger/latency.md  (benchmarks/bench_trigger_latency.py)
#   docs/validation/trigger/fixed_point.md  (scripts/fixed_point_emulation.py, hls4ml)
# and splice them into docs/trigger.md between the "generated" markers (a test checks
# they agree). Every shipped tagger and anomaly score is in PLUGINS.
# Usage: bash scripts/validate_trigger.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$(realpath --relative-to="$ROOT" "${1:-$ROOT/data/calib}")"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
PLUGINS=(top_bdt top_mlp top_cnn pfn part ae_qcd nae_qcd ae_top nae_top)
ARGS=()
for p in "${PLUGINS[@]}"; do ARGS+=(-p "$p"); done
CHECK="$DATA/trigger_check/qcd"
if [[ "$(find "$CHECK" -name 'qcd_s209_*.root' 2>/dev/null | wc -l)" -lt 30 ]]; then
  "$BIN/jetplug" generate qcd -n 30000 --seed 209 --pt-hat-min 150 --pt-hat-max 250 \
    -o "$CHECK" -j "${JETPLUG_WORKERS:-2}" --detector realistic
fi
"$BIN/jetplug" validate "$DATA"/test/*/*.root "$CHECK"/*.root --section trigger \
  "${ARGS[@]}" --luminosity 2e34 --pt-min 500 --rates 5,1 -o docs/validation/trigger
"$BIN/python" -m jetplug.validation.splice docs/trigger.md docs/validation/trigger/trigger.md
"$BIN/python" "$ROOT/benchmarks/bench_trigger_latency.py" --plugins "$(IFS=,; echo "${PLUGINS[*]}")" \
  --markdown docs/validation/trigger/latency.md
"$BIN/python" -m jetplug.validation.splice docs/trigger.md docs/validation/trigger/latency.md latency
"$BIN/python" "$ROOT/scripts/fixed_point_emulation.py" "$DATA"/test/ttbar/*.root "$DATA"/test/qcd/*.root \
  --markdown docs/validation/trigger/fixed_point.md
"$BIN/python" -m jetplug.validation.splice docs/trigger.md docs/validation/trigger/fixed_point.md fixed_point
