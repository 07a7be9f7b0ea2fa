#!/usr/bin/env bash
# Set up (if needed) and run the demo analysis: generated ttbar + QCD events,
# the top BDT run locally, histograms, provenance and plots in demo-results/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
exec "${JETPLUG_VENV:-$ROOT/.venv}/bin/jetplug" demo "$@"
