#!/usr/bin/env bash
# Create .venv (Python 3.11) and install jetplug, its built-in plugin packages,
# the example third-party plugin, and the generation/test/dev/hls/tune extras
# (and energyflow, the representation package's efp extra).
# Idempotent: re-running only reinstalls when a pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${JETPLUG_VENV:-$ROOT/.venv}"
STAMP="$VENV/.jetplug-installed"
HASH="$(cat pyproject.toml plugins/*/pyproject.toml examples/*/pyproject.toml | sha256sum | cut -c1-16)"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "==> creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$HASH" ]]; then
  echo "==> installing jetplug and plugins into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # the CPU wheel of torch 2.13.0 (any other version pulls a multi-GB CUDA build)
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  "$VENV/bin/python" -m pip install --quiet \
    -e ".[generate,test,dev,hls,tune]" \
    -e plugins/jetplug-taggers \
    -e plugins/jetplug-calibration \
    -e plugins/jetplug-fastsim \
    -e plugins/jetplug-decorrelation \
    -e plugins/jetplug-anomaly \
    -e plugins/jetplug-adaptation \
    -e plugins/jetplug-representation \
    -e plugins/jetplug-meta \
    -e examples/jetplug-example-plugin
  # the representation package's "efp" extra (energy-flow polynomials, the baseline of
  # jetplug validate --section representation) without dependency resolution:
  # energyflow imports wasserstein (and it wurlitzer), whose metadata pins numpy<2
  # although it runs with numpy 2 (h5py comes with the hls extra)
  "$VENV/bin/python" -m pip install --quiet --no-deps \
    "energyflow==1.4.0" "wasserstein==1.1.0" "wurlitzer==3.1.1"
  echo "$HASH" > "$STAMP"
fi

# The Triton server's own environment (its python backend needs numpy<2).
# onnxruntime runs ONNX models in model.py; 1.32.0 is checked to work with numpy 1.26.
TRITON_VENV="${JETPLUG_TRITON_ENV:-$(dirname "$VENV")/.venv-triton}"
TSTAMP="$TRITON_VENV/.jetplug-installed"
TREQ="nvidia-pytriton==0.7.0 numpy<2 xgboost>=2.1 torch==2.13.0 onnxruntime==1.32.0"
if [[ ! -f "$TSTAMP" || "$(cat "$TSTAMP")" != "$TREQ" ]]; then
  echo "==> creating the Triton server environment $TRITON_VENV"
  [[ -x "$TRITON_VENV/bin/python" ]] || "$PYTHON" -m venv "$TRITON_VENV"
  "$TRITON_VENV/bin/python" -m pip install --quiet --upgrade pip
  # shellcheck disable=SC2086
  "$TRITON_VENV/bin/python" -m pip install --quiet $TREQ
  echo "$TREQ" > "$TSTAMP"
fi
