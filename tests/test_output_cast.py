"""Float outputs computed wider than declared: a value beyond the declared type is counted.

A plugin on the real ``top_bdt`` model (xgboost, its shipped artifact) whose
``finalize`` returns float64 scores times 1e39: those above 0.34 do not fit
the declared float32 and are stored as inf. That is counted per plugin and
output, in provenance and on the console, like NaN/inf inputs; nothing warns
or fails, and the histograms and skims hold inf for them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import awkward as ak
import numpy as np
import yaml

from jetplug import ModelInputs, ModelRegistry, PluginHost, hookimpl
from jetplug.cli.run import summary_lines
from jetplug.config import load_config
from jetplug.runner import run
from jetplug_taggers import TopBDT

SCALE = 1e39


class HugeBDT(TopBDT):
    """``top_bdt``'s score times 1e39, in float64, under a float32 output."""

    spec = dataclasses.replace(TopBDT.spec, name="huge_bdt")

    def finalize(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: ModelInputs,
        prepared: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        columns = super().finalize(outputs, inputs, prepared)
        return {"score": np.asarray(columns["score"], dtype=np.float64) * SCALE}


class _Plugin:
    @hookimpl
    def jetplug_register_models(self, registry: ModelRegistry) -> None:
        registry.add(HugeBDT)


def test_outputs_beyond_float32_are_counted_not_cast_silently(
    real_data: Path, tmp_path: Path
) -> None:
    """Regression: numpy's "overflow encountered in cast" warned without naming the plugin
    (and, under warnings as errors, failed every chunk); nothing was counted."""
    assert HugeBDT.spec.outputs[0].dtype == "float32"
    raw = {
        "fileset": {"tt": [str(real_data / "nano_tt_v15.root")]},
        "schema": "nanoaod",
        "chunksize": 100,
        "plugins": ["top_bdt", "huge_bdt"],
        "histograms": {
            "huge": {
                "axes": [{"field": "FatJet.huge_bdt.score", "bins": 4, "start": 0, "stop": 4e38}]
            }
        },
        "skims": {"jets": {"collection": "FatJet", "fields": ["top_bdt.score", "huge_bdt.score"]}},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    host = PluginHost(plugins=[_Plugin()])
    # warnings are errors here (pyproject): numpy's cast warning would fail the chunks
    result = run(load_config(path), tmp_path / "out", host=host, plots=False)
    skims = sorted((tmp_path / "out" / "skims" / "jets" / "tt").glob("*.parquet"))
    assert len(skims) == 2
    jets = ak.concatenate([ak.from_parquet(p)["FatJet"] for p in skims])
    scores, reference = (
        ak.to_numpy(ak.flatten(jets[name])) for name in ("huge_bdt_score", "top_bdt_score")
    )
    beyond = int((reference.astype(np.float64) * SCALE > np.finfo(np.float32).max).sum())
    assert 0 < beyond < len(reference)
    assert np.isinf(scores).sum() == beyond  # stored as inf, as the declared float32 holds it
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    step = next(s for s in prov["plugins"] if s["name"] == "huge_bdt")
    assert step["outputs_overflowed"] == {"objects": beyond, "outputs": {"score": beyond}}
    assert prov["overflowed_outputs"] == {"huge_bdt": beyond}
    assert "huge_bdt" not in prov["nonfinite_objects"]  # its inputs were finite
    assert result.overflowed == {"huge_bdt": beyond}
    assert (
        f"  objects with outputs beyond their declared type (stored as inf): huge_bdt {beyond} "
        f"(score {beyond})" in summary_lines(result)
    )
    huge = result.hists["tt"]["huge"]
    assert huge.values(flow=True)[-1] == beyond  # inf: the overflow bin
    assert huge.values().sum() == len(reference) - beyond  # the others, finite, in range
