"""Plots read well: log axes ignore empty bins, the energy label follows the config or samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hist
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jetplug import ConfigError, plotting
from jetplug.config import PlotConfig, parse_config


def _score_hist() -> hist.Hist[Any]:
    """Weighted; QCD has a single-entry bin, top has empty bins.

    A single entry's error bar reaches down to value - sqrt(variance), which
    after the density division can be a rounding remainder (~1e-17) instead
    of 0: matplotlib's log autoscaling used to extend the axis down to it.
    """
    h: hist.Hist[Any] = hist.Hist(
        hist.axis.Regular(10, 0, 1, name="score"),
        hist.axis.IntCategory([0, 1], name="truth"),
        storage=hist.storage.Weight(),
    )
    qcd = np.array([0.05] * 6 + [0.15, 0.25, 0.35, 0.45, 0.65, 0.75, 0.85, 0.95] * 2 + [0.55])
    h.fill(score=qcd, truth=0, weight=np.ones(len(qcd)))
    top = np.array([0.85] * 50 + [0.95] * 400)
    h.fill(score=top, truth=1, weight=np.ones(len(top)))
    return h


@pytest.mark.parametrize("density", [False, True])
def test_log_axis_starts_near_the_smallest_content(density: bool) -> None:
    h = _score_hist()
    cfg = PlotConfig(type="hist1d", hist="score", overlay="truth", log=True, density=density)
    fig, ax = plt.subplots()
    try:
        plotting._hist1d(cfg, {"d": {"score": h}}, ax)
        low, high = ax.get_ylim()
    finally:
        plt.close(fig)
    lines = [h[{"truth": hist.loc(t)}].values() for t in (0, 1)]
    if density:
        lines = [v / np.sum(v * 0.1) for v in lines]
    positive = np.concatenate(lines)
    positive = positive[positive > 0]
    assert positive.min() / 10 < low < positive.min()  # not 1e-18 because a bin is empty
    assert high > positive.max()


def test_log_axis_of_an_empty_histogram_does_not_fail(tmp_path: Path) -> None:
    h = _score_hist()
    h.reset()
    cfg = parse_config(
        {
            "fileset": {"d": ["x.root"]},
            "histograms": {
                "score": {
                    "axes": [
                        {"field": "FatJet.s", "bins": 10, "start": 0, "stop": 1, "name": "score"},
                        {"field": "FatJet.t", "categories": [0, 1], "name": "truth"},
                    ]
                }
            },
            "plots": [{"type": "hist1d", "hist": "score", "overlay": "truth", "log": True}],
        },
        base=tmp_path,
    )
    (path,) = plotting.make_plots(cfg, {"d": {"score": h}}, tmp_path / "plots")
    assert path.stat().st_size > 0


def _config(tmp_path: Path, fileset: dict[str, Any], **extra: Any) -> Any:
    return parse_config({"fileset": fileset, **extra}, base=tmp_path)


def test_energy_label_from_config_metadata_and_files(
    tmp_path: Path, generated: dict[str, list[Path]], real_data: Path
) -> None:
    gen = {"ttbar": [str(generated["ttbar"][0])], "qcd": [str(generated["qcd"][0])]}
    real = {"dy": [str(real_data / "nano_dy.root")]}
    assert plotting.energy_label(_config(tmp_path, gen)) == "13.6 TeV"  # recorded by generate
    assert plotting.energy_label(_config(tmp_path, real)) is None  # CMS files do not record it
    assert plotting.energy_label(_config(tmp_path, {**gen, **real})) is None  # not one energy
    assert plotting.energy_label(_config(tmp_path, real, energy=13)) == "13 TeV"
    assert plotting.energy_label(_config(tmp_path, gen, energy=14)) == "14 TeV"  # config wins
    with_meta = {"dy": {"files": real["dy"], "metadata": {"energy": 13.6}}}
    assert plotting.energy_label(_config(tmp_path, with_meta)) == "13.6 TeV"
    assert plotting.files_energy(generated["ttbar"]) == "13.6 TeV"
    assert plotting.files_energy([real_data / "nano_dy.root"]) is None


@pytest.mark.parametrize(("energy", "expected"), [(13, "13 TeV"), (None, "")])
def test_plot_label_follows_the_config(
    tmp_path: Path,
    real_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    energy: float | None,
    expected: str,
) -> None:
    labels: list[str] = []
    original = plotting.hep.label.exp_label

    def spy(**kwargs: Any) -> Any:
        labels.append(kwargs["rlabel"])
        return original(**kwargs)

    monkeypatch.setattr(plotting.hep.label, "exp_label", spy)
    extra = {} if energy is None else {"energy": energy}
    cfg = _config(
        tmp_path,
        {"dy": [str(real_data / "nano_dy.root")]},
        histograms={"score": {"axes": [{"field": "FatJet.s", "bins": 10, "start": 0, "stop": 1}]}},
        plots=[{"type": "hist1d", "hist": "score"}],
        **extra,
    )
    h = hist.Hist(hist.axis.Regular(10, 0, 1, name="FatJet_s"))
    plotting.make_plots(cfg, {"dy": {"score": h}}, tmp_path / "plots")
    assert labels == [expected]


@pytest.mark.parametrize("energy", [0, -1, "high", True])
def test_bad_energy_names_the_key(tmp_path: Path, energy: object) -> None:
    with pytest.raises(ConfigError, match=r"energy: the centre-of-mass energy in TeV"):
        parse_config({"fileset": {"a": ["x.root"]}, "energy": energy}, base=tmp_path)


def test_roc_of_an_empty_category_says_so_instead_of_a_blank_frame() -> None:
    h = _score_hist()
    for signal, says in ((5, "signal 5"), (1, None)):
        cfg = PlotConfig(type="roc", hist="score", axis="truth", signal=signal, background=0)
        fig, ax = plt.subplots()
        try:
            if signal == 5:  # a category the axis has no entries in
                h2: hist.Hist[Any] = hist.Hist(
                    hist.axis.Regular(10, 0, 1, name="score"),
                    hist.axis.IntCategory([0, 1, 5], name="truth"),
                    storage=hist.storage.Weight(),
                )
                h2.fill(score=[0.1, 0.2], truth=[0, 1], weight=[1.0, 1.0])
                plotting._roc(cfg, {"d": {"score": h2}}, ax)
            else:
                plotting._roc(cfg, {"d": {"score": h}}, ax)
            texts = [t.get_text() for t in ax.texts]
            lines = ax.get_lines()
        finally:
            plt.close(fig)
        if says:
            assert any("no entries in the signal 5 category" in t for t in texts) and not lines
        else:
            assert not texts and len(lines) == 1
