#!/usr/bin/env bash
# Set up (if needed), lint, type-check and run the test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
echo "==> ruff"
"$BIN/ruff" check .
echo "==> mypy"
"$BIN/mypy"
echo "==> pytest"
exec "$BIN/python" -m pytest "$@"
