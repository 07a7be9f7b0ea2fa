#!/usr/bin/env bash
# Regenerate docs/validation/ (table, JSON, plots) from the held-out test split
# of the generated sample and the real CMS PFNano file.
# Usage: bash scripts/validate_models.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$(realpath --relative-to="$ROOT" "${1:-$ROOT/data/train}")"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
SHARED="$(realpath --relative-to="$ROOT" "${JETPLUG_SHARED_DATA:-$ROOT/../shared/data}")"
cd "$ROOT"
"$BIN/jetplug" validate "$DATA"/*/*.root --split test --pt-bins 500,550,650,700 \
  --n-bootstrap 200 --cms "$SHARED/pfnano.root" -o docs/validation
