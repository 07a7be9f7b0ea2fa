#!/usr/bin/env bash
# Regenerate the JetCLR representation validation on the INDEPENDENT sample
#   docs/validation/representation/  (jetplug validate --section representation)
# and splice its tables into docs/representation.md (between the "generated"
# markers; tests/test_docs.py checks they agree).
# Linear probes (on jetclr's embedding and on EFPs) are fitted on the train split
# of the training sample's ttbar s21, QCD s22 and W s23 files, evaluated on every
# event of data/independent; the supervised taggers' rows come from
# docs/validation/independent/validation.json (scripts/validate_independent.sh),
# kept only where the jet counts show they are the same jets.
# Usage: bash scripts/validate_jetclr.sh [INDEX_GLOB]
#   INDEX_GLOB: the probe files' numbers within a seed (default * = all; e.g. '0[01]?')
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
INDEX="${1:-*}"
BIN="${JETPLUG_VENV:-$ROOT/.venv}/bin"
"$BIN/jetplug" validate data/independent/*/*.root --split all --section representation \
  -p jetclr -p jetclr_qcd --probe-train "data/train/*/*_s2[123]_${INDEX}.root" \
  --supervised docs/validation/independent/validation.json --pt-bins 500,700 \
  --n-bootstrap 200 -o docs/validation/representation
"$BIN/python" -m jetplug.validation.splice docs/representation.md \
  docs/validation/representation/representation.md
