"""``calib_ni``: numerical inversion, what experiments do today, as a plugin like any other.

Training measures the median response R = pT_reco / pT_gen of gen-matched
FatJets in bins of **gen** pT and |η|; each bin gives a node
(log(R · median pT_gen), −log R): the correction as a function of the
reconstructed pT. At run time the correction is interpolated linearly in
log pT between the nodes of the jet's |η| bin (:class:`~.nets.InversionTable`,
a torch state dict of buffers, so it runs locally and on Triton like the
networks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jetplug import (
    Artifact,
    FieldSpec,
    InputSpec,
    ModelInputs,
    ModelSpec,
    TensorSpec,
    lazy_spec,
    shipped_spec,
    write_model_metadata,
)
from jetplug.training import TrainingData, TrainSettings

from .common import MODELS, Calibrator, calibrator_spec, regression_rows

__all__ = ["ETA_EDGES", "PT_EDGES", "NumericalInversion", "build_spec", "inversion_nodes"]

MODEL = MODELS / "calib_ni.pt"
ETA_EDGES = (0.0, 1.3, 2.0, 2.5)
"""|η| bins (barrel, endcap inside the tracker, tracker edge)."""
PT_EDGES = tuple(float(v) for v in np.geomspace(200.0, 2500.0, 21))
"""Gen-pT bins of the response measurement [GeV]."""
MIN_JETS = 30


def build_spec(artifact: Artifact, meta: Mapping[str, Any]) -> ModelSpec:
    """Reads FatJet pt and eta; replaces FatJet.pt."""
    return calibrator_spec(
        "calib_ni",
        artifact,
        meta,
        InputSpec("FatJet", (FieldSpec("pt"), FieldSpec("eta"))),
        (TensorSpec("x", "float32", (2,)),),
        "numerical inversion of the median FatJet response in bins of gen pT and |eta|",
    )


def inversion_nodes(
    gen_pt: np.ndarray, reco_pt: np.ndarray, abs_eta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log pT nodes, log corrections, jets per node), each (n_eta, n_pt).

    Bins with fewer than ``MIN_JETS`` jets take their nearest filled
    neighbour's response; nodes are made strictly increasing in log pT.
    """
    n_eta, n_pt = len(ETA_EDGES) - 1, len(PT_EDGES) - 1
    nodes, corr = np.zeros((n_eta, n_pt)), np.zeros((n_eta, n_pt))
    counts = np.zeros((n_eta, n_pt), dtype=np.int64)
    for i in range(n_eta):
        in_eta = (abs_eta >= ETA_EDGES[i]) & (abs_eta < ETA_EDGES[i + 1])
        response = np.full(n_pt, np.nan)
        centre = np.sqrt(np.asarray(PT_EDGES[:-1]) * np.asarray(PT_EDGES[1:]))
        for j in range(n_pt):
            sel = in_eta & (gen_pt >= PT_EDGES[j]) & (gen_pt < PT_EDGES[j + 1])
            counts[i, j] = int(sel.sum())
            if counts[i, j] >= MIN_JETS:
                response[j] = np.median(reco_pt[sel] / gen_pt[sel])
                centre[j] = np.median(gen_pt[sel])
        filled = np.flatnonzero(np.isfinite(response))
        if not len(filled):
            msg = f"no |eta| bin {ETA_EDGES[i]}-{ETA_EDGES[i + 1]} has {MIN_JETS} matched jets"
            raise ValueError(msg)
        nearest = filled[np.abs(np.arange(n_pt)[:, None] - filled[None, :]).argmin(axis=1)]
        response = response[nearest]
        x = np.log(response * centre)
        nodes[i] = np.maximum.accumulate(x + np.arange(n_pt) * 1e-6)
        corr[i] = -np.log(response)
    return nodes, corr, counts


class NumericalInversion(Calibrator):
    """FatJet pT corrected by the inverted median response of its (pT, |η|) bin."""

    spec = lazy_spec("calib_ni", lambda: shipped_spec(MODEL, "torch-state-dict", build_spec))

    def prepare(self, inputs: ModelInputs) -> dict[str, np.ndarray]:
        """log pT and |η|."""
        f = inputs.fields
        x = np.stack([np.log(np.maximum(f["pt"], 1e-3)), np.abs(f["eta"])], axis=1)
        return {"x": x.astype(np.float32)}

    def build_module(self) -> Any:
        """The interpolation table; its values come from the artifact."""
        from .nets import InversionTable

        return InversionTable(len(ETA_EDGES) - 1, len(PT_EDGES) - 1)

    def train(
        self,
        data: TrainingData,
        output: Path,
        *,
        version: str,
        settings: TrainSettings,
        log: Callable[[str], None],
    ) -> dict[str, Any]:
        """Measure the response on train+val jets and save the table."""
        import torch

        rows = regression_rows(data, pt_min=0.0)
        use = rows.train | rows.val
        nodes, corr, counts = inversion_nodes(
            data.gen["pt"][use], data.reco["pt"][use], np.abs(data.gen["eta"][use])
        )
        module = self.build_module()
        module.eta_edges.copy_(torch.as_tensor(ETA_EDGES[1:-1], dtype=torch.float32))
        module.log_pt.copy_(torch.as_tensor(nodes, dtype=torch.float32))
        module.log_corr.copy_(torch.as_tensor(corr, dtype=torch.float32))
        output.parent.mkdir(parents=True, exist_ok=True)
        torch.save(module.state_dict(), output)
        log(f"numerical inversion from {int(use.sum())} jets; response per bin:")
        for i, row in enumerate(np.exp(-corr)):
            log(f"  |eta| {ETA_EDGES[i]}-{ETA_EDGES[i + 1]}: " + " ".join(f"{r:.3f}" for r in row))
        return write_model_metadata(
            output,
            version,
            trainer="numerical inversion (median response per gen pT, |eta| bin)",
            eta_edges=list(ETA_EDGES),
            pt_edges=[round(v, 2) for v in PT_EDGES],
            jets_per_bin=counts.tolist(),
            jets=int(use.sum()),
            seed=settings.seed,
        )
