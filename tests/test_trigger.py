"""The trigger view: rates from pT-hat slices, equal-rate matching, the validate section."""

from __future__ import annotations

import json
import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from jetplug import PluginHost
from jetplug.errors import InputFileError, JetplugError
from jetplug.validation.trigger import (
    collect_trigger,
    equal_rate_line,
    rate,
    samples_of,
    selections,
    threshold_at_rate,
)
from jetplug.validation.trigger_report import nonml_scores, working_point

LUMI = 2e34
FIELDS = ("pt", "eta", "phi", "mass", "msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")


def build(
    src: Path,
    dst: Path,
    rows: slice,
    *,
    xsec: float,
    sumw: float,
    pt_hat: tuple[float, float],
    weight: float | np.ndarray = 1.0,
) -> Path:
    """Events ``rows`` of ``src`` (FatJets, event numbers) with a chosen genWeight and Runs tree."""
    names = ["run", "luminosityBlock", "event", *(f"FatJet_{f}" for f in FIELDS)]
    arrays = uproot.open(src)["Events"].arrays(names)[rows]
    n = len(arrays)
    data = {
        "run": arrays.run,
        "luminosityBlock": arrays.luminosityBlock,
        "event": arrays.event,
        "genWeight": ak.Array(np.broadcast_to(np.asarray(weight, np.float32), (n,)).copy()),
        "FatJet": ak.zip({f: arrays[f"FatJet_{f}"] for f in FIELDS}),
    }
    runs: dict[str, np.ndarray] = {
        "run": np.array([1], np.uint32),
        "genEventCount": np.array([n], np.int64),
        "genEventSumw": np.array([sumw]),
        "jetplugCrossSection": np.array([xsec]),
        "jetplugSqrtS": np.array([13600.0]),
        "jetplugPtHatMin": np.array([pt_hat[0]]),
        "jetplugPtHatMax": np.array([pt_hat[1]]),
    }
    with uproot.recreate(dst) as f:
        f.mktree("Events", {k: v.type.content for k, v in data.items()}).extend(data)
        f.mktree("Runs", {k: v.dtype for k, v in runs.items()}).extend(runs)
    return dst


@pytest.fixture(scope="module")
def built(generated: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """QCD in two slices (the first in two files, two cross-section estimates), two signals.

    Sums of weights exceed the events written (as if some were skimmed away),
    and one slice has genWeight 2, so a wrong normalisation shows.
    """
    out = tmp_path_factory.mktemp("trigger")
    qcd, top = generated["qcd"][0], generated["ttbar"][0]
    return [
        build(qcd, out / "qcd_s1_000.root", slice(0, 60), xsec=2e4, sumw=100, pt_hat=(250, 500)),
        build(qcd, out / "qcd_s1_001.root", slice(60, 90), xsec=2.2e4, sumw=50, pt_hat=(250, 500)),
        build(
            qcd, out / "qcd_s2_000.root", slice(90, 120), xsec=700, sumw=90, pt_hat=(500, 900),
            weight=2.0,
        ),
        build(top, out / "ttbar_s3_000.root", slice(0, 120), xsec=2, sumw=120, pt_hat=(400, 900)),
        build(top, out / "wjets_s4_000.root", slice(0, 60), xsec=20, sumw=60, pt_hat=(400, 900)),
    ]  # fmt: skip


def hand_rate(files: list[Path], threshold: float, eta_max: float = 2.0) -> float:
    """QCD rate [Hz] with a leading FatJet (|eta| < eta_max) above ``threshold``, by hand."""
    xsec_sumw: dict[tuple[float, float], list[float]] = {}
    passed: dict[tuple[float, float], float] = {}
    for path in files:
        if not path.name.startswith("qcd"):
            continue
        with uproot.open(path) as f:
            runs = f["Runs"].arrays(library="np")
            events = f["Events"].arrays(["genWeight", "FatJet_pt", "FatJet_eta"], library="np")
        window = (float(runs["jetplugPtHatMin"][0]), float(runs["jetplugPtHatMax"][0]))
        sums = xsec_sumw.setdefault(window, [0.0, 0.0])
        sums[0] += float(runs["jetplugCrossSection"][0] * runs["genEventSumw"][0])
        sums[1] += float(runs["genEventSumw"][0])
        for w, pt, eta in zip(
            events["genWeight"], events["FatJet_pt"], events["FatJet_eta"], strict=True
        ):
            inside = pt[np.abs(eta) < eta_max]
            if len(inside) and inside.max() > threshold:
                passed[window] = passed.get(window, 0.0) + float(w)
    total = 0.0
    for window, (xs_sumw, sumw) in xsec_sumw.items():
        xsec = xs_sumw / sumw  # the slice's cross-section: estimates weighted by their sumw
        total += passed.get(window, 0.0) * xsec * LUMI * 1e-36 / sumw
    return total


def test_rates_match_a_hand_calculation(built: list[Path]) -> None:
    samples = samples_of(built)
    assert [(s.process, s.pt_hat, len(s.files)) for s in samples] == [
        ("qcd", (250.0, 500.0), 2),
        ("qcd", (500.0, 900.0), 1),
        ("ttbar", (400.0, 900.0), 1),
        ("wjets", (400.0, 900.0), 1),
    ]
    assert samples[0].xsec_pb == pytest.approx((2e4 * 100 + 2.2e4 * 50) / 150)
    assert samples[0].sumw == 150
    table = collect_trigger(built, [], luminosity=LUMI, pt_min=500)
    assert len(table) == 90 + 30 + 120 + 60
    qcd = table.qcd
    # every written event of a slice: its cross-section times the fraction written
    assert rate(table.weight, qcd & (table.sample == 1))[0] == pytest.approx(
        700 * LUMI * 1e-36 * (30 * 2.0) / 90
    )
    for threshold in (300.0, 500.0, 650.0):
        by_hand = hand_rate(built, threshold)
        assert by_hand > 0
        assert rate(table.weight[qcd], table.lead_pt[qcd] > threshold)[0] == pytest.approx(by_hand)
    # twice the luminosity, twice the rate
    double = collect_trigger(built, [], luminosity=2 * LUMI, pt_min=500)
    assert double.weight[qcd].sum() == pytest.approx(2 * table.weight[qcd].sum())


def test_threshold_at_rate_is_the_loosest_cut_within_the_rate() -> None:
    ones = np.ones(4)
    assert threshold_at_rate(np.array([1.0, 2, 3, 4]), ones, 2.0) == 3.0
    # tied scores pass or fail together: >= 2 would give 3 events
    assert threshold_at_rate(np.array([1.0, 2, 2, 3]), ones, 2.0) == 3.0
    assert threshold_at_rate(np.array([1.0, 2, 3, 4]), np.array([1.0, 1, 1, 5]), 2.0) == math.inf
    assert threshold_at_rate(np.array([-np.inf, 2, 3]), np.ones(3), 10.0) == 2.0


def test_equal_rate_matching_of_the_non_ml_selection(built: list[Path]) -> None:
    table = collect_trigger(built, [], luminosity=LUMI, pt_min=450)
    qcd = table.qcd
    w = table.weight[qcd]
    pt, msd = table.lead_pt[qcd], table.lead_msd[qcd]
    preselected = rate(w, pt > 450)[0]
    target = preselected / 3
    line = equal_rate_line(table, target, range(0, 300, 10))
    assert len(line) >= 3
    for mass, cut, achieved in line:
        passed = (pt >= cut) & (pt > 450) & (msd >= mass)
        assert rate(w, passed)[0] == pytest.approx(achieved)
        assert achieved <= target * (1 + 1e-9)
        looser = pt[(pt < cut) & (pt > 450) & (msd >= mass)]
        if len(looser) and cut > 450:  # the next looser pT cut overshoots the rate
            assert rate(w, (pt >= looser.max()) & (pt > 450) & (msd >= mass))[0] > target
    cuts = [p[1] for p in line]
    assert cuts == sorted(cuts, reverse=True)  # a tighter mass cut leaves room in pT
    assert line[-1][1] == 450  # the line ends at the mass cut alone
    # the pT-only selection at equal rate is the line's first point
    wp = working_point(table, nonml_scores(table)["leading pT"], target)
    assert wp["cut"] == line[0][1] and wp["rate"] == pytest.approx(line[0][2])
    assert set(wp["eff"]) == {"top", "W"}


def test_slices_and_plugins_are_checked(
    built: list[Path], host: PluginHost, tmp_path: Path
) -> None:
    overlap = build(
        built[0], tmp_path / "qcd_s9_000.root", slice(0, 10), xsec=1, sumw=10, pt_hat=(400, 700)
    )
    with pytest.raises(JetplugError, match="overlap"):
        samples_of([*built, overlap])
    renamed = tmp_path / "events.root"
    renamed.write_bytes(built[0].read_bytes())
    with pytest.raises(InputFileError, match="named"):
        samples_of([renamed])
    with pytest.raises(JetplugError, match="calibrator"):
        selections(host, ["calib_ni"])
    labels = [s.label for s in selections(host, ["top_bdt", "pfn", "example_anomaly"])]
    assert labels == [
        "top_bdt",
        "pfn[anti-QCD]",
        "pfn[top]",
        "pfn[W]",
        "pfn[Z]",
        "pfn[H]",
        "example_anomaly",
    ]
    anti = selections(host, ["pfn"])[0]
    probs = np.array([[0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.6, 0.1, 0.1, 0.1]])
    qcd = anti.qcd_index
    assert qcd is not None
    np.testing.assert_allclose(anti.score(probs), 1 - probs[:, qcd])


def test_validate_trigger_section(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    from jetplug.cli import main

    files = [str(f) for f in (*generated["qcd"], *generated["ttbar"])]
    result = CliRunner().invoke(
        main,
        ["validate", *files, "--section", "trigger", "-p", "top_bdt", "-p", "example_anomaly",
         "-p", "example_decorrelator", "--pt-min", "450", "--rates", "2,0.5", "-o", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (tmp_path / "trigger.md").read_text()
    rows = ("| top_bdt |", "| example_anomaly |", "| example_decorrelator |", "At 0.5 Hz")
    for row in (*rows, "| leading pT (no ML) |"):
        assert row in text
    # the decorrelator's tagger (example_multiplicity) ran for it, but is no selection
    assert "| example_multiplicity |" not in text
    report = json.loads((tmp_path / "trigger.json").read_text())
    assert report["preselection"]["rate"] == pytest.approx(hand_rate(generated["qcd"], 450))
    for point in report["points"]:
        for wp in point["selections"].values():
            assert wp["rate"] <= point["target"] * (1 + 1e-9)
    assert (tmp_path / "plots" / "trigger_eff_vs_rate_top.png").is_file()
    bad = CliRunner().invoke(
        main,
        [
            "validate",
            *files,
            "--section",
            "trigger",
            "-p",
            "top_bdt",
            "--rates",
            "1e9",
            "-o",
            str(tmp_path),
        ],
    )
    assert bad.exit_code != 0
    assert "not below" in bad.output


@pytest.mark.slow
def test_fixed_point_emulation_follows_the_network(
    generated: dict[str, list[Path]], host: PluginHost
) -> None:
    pytest.importorskip("hls4ml", reason="the hls extra (pip install -e '.[hls]')")
    from jetplug.training.data import TrainSettings, load_jets
    from jetplug.validation.fixed_point import compare, fixed_point_markdown, float_network

    net, mean, std = float_network(host, "top_mlp")
    model = host.create_model("top_mlp")
    files = [*generated["ttbar"], *generated["qcd"]]
    sample = load_jets(files, model, TrainSettings(pt_min=450, pt_max=900))
    x = ((model.prepare(sample.inputs)["features"] - mean) / std).astype(np.float32)
    rows = compare(net, x, sample.label, ["ap_fixed<16,6>", "ap_fixed<5,2>"])
    float_, fine, coarse = rows
    assert float_.mean_diff == 0
    assert 0 < fine.mean_diff < 0.05  # rounding, not a copy of the floating-point outputs
    assert abs(fine.metrics.auc - float_.metrics.auc) < 0.01
    assert coarse.mean_diff > 10 * fine.mean_diff  # 5 bits: the emulation really truncates
    assert "`ap_fixed<16,6>`" in fixed_point_markdown(rows)
