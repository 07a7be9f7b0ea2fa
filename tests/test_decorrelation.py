"""Mass decorrelation: the R50 / 1/JSD50 metric by hand, DDT maps flatten the QCD quantile,
the decorrelators run after their tagger in the processor on generated and real CMS files,
and ``jetplug validate --section decorrelation``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from jetplug import PluginHost, Plugins
from jetplug.cli import main
from jetplug.config import parse_config
from jetplug.runner import run
from jetplug.validation.collect import read_events
from jetplug.validation.decorrelation import decorrelation_metrics, pareto_front
from jetplug_decorrelation.common import rho
from jetplug_decorrelation.ddt import QUANTILES, fit_quantile_map, fit_tau21_slope
from jetplug_decorrelation.networks import NETWORKS

DDT = ("tau21_ddt", "ddt_n2", "ddt_part_w")
DECORRELATORS = (*DDT, *NETWORKS)


# -- the metric ----------------------------------------------------------------------------------
def test_r50_and_inverse_jsd50_by_hand() -> None:
    """Signal scores 0.1..0.4: the εS = 0.5 cut is their median, 0.25. QCD above it: 4 of 8
    (R50 = 2), at masses 82, 82, 87, 87 GeV; below: 82, 122, 122, 122 GeV (and one at 20 GeV,
    outside 50-300, which the JSD ignores). In the bins 80-85, 85-90, 120-125 GeV:
    pass p = (1/2, 1/2, 0), fail q = (1/4, 0, 3/4), m = (3/8, 1/4, 3/8);
    KL(p|m) = ½·log2(4/3) + ½·log2(2), KL(q|m) = ¼·log2(2/3) + ¾·log2(2); JSD = their mean."""
    sig = [0.1, 0.2, 0.3, 0.4]
    qcd = [0.3, 0.5, 0.6, 0.9, 0.0, 0.1, 0.2, 0.05, 0.01]
    mass = [0.0] * 4 + [82, 82, 87, 87, 82, 122, 122, 122, 20]
    labels = np.array([1] * 4 + [0] * 9)
    res = decorrelation_metrics(labels, np.array(sig + qcd), np.array(mass), n_bootstrap=50)
    kl_p = 0.5 * math.log2(4 / 3) + 0.5
    kl_q = 0.25 * math.log2(2 / 3) + 0.75
    assert res.cut == pytest.approx(0.25)
    assert res.r50 == pytest.approx(9 / 4)
    assert res.inv_jsd50 == pytest.approx(1 / (0.5 * (kl_p + kl_q)))
    assert res.n_signal == 4 and res.n_background == 9
    assert res.r50_err > 0 and res.inv_jsd50_err > 0


def test_metric_sees_sculpting_and_its_absence() -> None:
    rng = np.random.default_rng(3)
    n = 40000
    mass = rng.uniform(50, 300, n)
    labels = (rng.random(n) < 0.3).astype(int)
    independent = rng.normal(labels, 1.0)
    sculpting = independent + 2.0 * (np.abs(mass - 80) < 15)
    flat = decorrelation_metrics(labels, independent, mass, n_bootstrap=20)
    sculpted = decorrelation_metrics(labels, sculpting, mass, n_bootstrap=20)
    assert flat.inv_jsd50 > 30
    assert sculpted.inv_jsd50 < 6
    # R50 of a Gaussian separation of 1σ at εS = 0.5: 1/(1 - Φ(1))
    assert flat.r50 == pytest.approx(1 / 0.1587, rel=0.05)
    assert flat.r50 == pytest.approx(flat.r50, abs=3 * flat.r50_err + 1e-9)
    # the floor is what a mass-blind cut of that rejection reads on this many QCD jets:
    # the independent score sits at it (within its own spread), the sculpting one far below
    assert flat.inv_jsd50 == pytest.approx(flat.inv_jsd50_floor, rel=0.5)
    assert sculpted.inv_jsd50 < 0.1 * sculpted.inv_jsd50_floor
    # and it grows with the sample (the JSD of finite histograms falls as 1/N)
    half = decorrelation_metrics(labels[: n // 4], independent[: n // 4], mass[: n // 4])
    assert half.inv_jsd50_floor < 0.5 * flat.inv_jsd50_floor


def test_pareto_front() -> None:
    points = [(10.0, 2.0), (5.0, 5.0), (4.0, 4.0), (2.0, 20.0), (10.0, 1.0)]
    assert pareto_front(points) == [True, True, False, True, False]


# -- DDT -------------------------------------------------------------------------------------------
def test_quantile_map_flattens_the_qcd_quantile() -> None:
    """A score whose QCD distribution moves with ρ and pT: a fixed cut passes 2-98 % of QCD
    depending on the bin; the cut at 0 of score − q_80 passes 20 % in every bin."""
    rng = np.random.default_rng(5)
    n = 200_000
    pt = rng.uniform(450, 800, n)
    msd = rng.uniform(20, 300, n)
    r = rho(msd, pt)
    score = 0.5 * r + pt / 400 + rng.normal(0, 0.3, n)
    table, counts = fit_quantile_map(score, r, pt)
    assert counts.sum() == n
    i_pt = np.searchsorted([500, 560, 620, 680, 750], pt, side="right")
    i_rho = np.clip(np.searchsorted(np.linspace(-7, -1, 25)[1:-1], r, side="right"), 0, 23)
    q80 = table[i_pt, i_rho, QUANTILES.index(80)]
    ddt_pass = score - q80 > 0
    raw_pass = score > np.quantile(score, 0.8)
    coarse = np.digitize(r, [-5.0, -4.0, -3.0, -2.0])
    raw_frac = [raw_pass[coarse == b].mean() for b in range(5)]
    ddt_frac = [ddt_pass[(coarse == b) & (i_pt == p)].mean() for b in range(5) for p in range(5)]
    assert max(raw_frac) - min(raw_frac) > 0.4
    np.testing.assert_allclose(ddt_frac, 0.2, atol=0.03)


def test_tau21_slope_is_recovered() -> None:
    rng = np.random.default_rng(2)
    rp = rng.uniform(0.5, 5.5, 50_000)
    tau21 = 0.7 - 0.06 * rp + rng.normal(0, 0.1, len(rp))
    slope, intercept, profile = fit_tau21_slope(tau21, rp, (1.5, 4.5))
    assert slope == pytest.approx(-0.06, abs=0.005)
    assert intercept == pytest.approx(0.7, abs=0.02)
    assert len(profile) == 20


@pytest.fixture(scope="module")
def qcd_realistic(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Generated QCD with the realistic response, pT-hat 500-750 (the maps' sample)."""
    from jetplug.generation import generate

    out = tmp_path_factory.mktemp("qcd_ddt")
    return [
        Path(p)
        for p in generate("qcd", 600, out, seed=931, pt_hat_min=500, pt_hat_max=750, progress=False)
    ]


def test_shipped_n2_map_flattens_qcd_in_rho(qcd_realistic: list[Path]) -> None:
    """On independent QCD: N2-DDT < 0 keeps about X % of the jets in every ρ range, whereas a
    fixed N2 cut keeping X % overall does not."""
    events = read_events(str(qcd_realistic[0]))
    out = Plugins(["ddt_n2"])(events).FatJet
    x = PluginHost().create_model("ddt_n2").options["quantile"] / 100
    pt = ak.to_numpy(ak.flatten(out.pt))
    sel = (pt > 450) & (pt < 800) & (np.abs(ak.to_numpy(ak.flatten(out.eta))) < 2)
    n2 = ak.to_numpy(ak.flatten(out.n2b1))[sel]
    ddt = ak.to_numpy(ak.flatten(out.ddt_n2.score))[sel]
    r = rho(ak.to_numpy(ak.flatten(out.msoftdrop))[sel], pt[sel])
    bins = np.digitize(r, np.quantile(r, [0.25, 0.5, 0.75]))
    ddt_frac = np.array([(ddt[bins == b] < 0).mean() for b in range(4)])
    raw_frac = np.array([(n2[bins == b] < np.quantile(n2, x)).mean() for b in range(4)])
    assert np.ptp(raw_frac) > 2 * np.ptp(ddt_frac)
    np.testing.assert_allclose(ddt_frac, x, atol=0.1)


# -- the plugins in the processor --------------------------------------------------------------
def test_decorrelators_are_registered(host: PluginHost) -> None:
    for name in DECORRELATORS:
        assert host.spec(name).kind.value == "decorrelator"
    assert host.spec("ddt_part_w").requires == ("part",)
    meta = json.loads(host.spec("ddt_part_w").artifact.path.with_suffix(".json").read_text())
    # the map was fitted on the installed part: refit (scripts/train_decorrelation.py
    # --only ddt_part_w) whenever part is retrained
    assert meta["tagger_sha256"] == host.spec("part").artifact.sha256
    for name in NETWORKS:
        meta = json.loads(host.spec(name).artifact.path.with_suffix(".json").read_text())
        assert meta["working_points"][0]["lambda"] == 0
        assert len(meta["working_points"]) >= 3


@pytest.mark.parametrize("source", ["real", "generated"])
def test_decorrelators_run_after_their_tagger(
    source: str, real_data: Path, generated: dict[str, list[Path]]
) -> None:
    path = real_data / "pfnano.root" if source == "real" else generated["qcd"][0]
    events = read_events(str(path))
    jets = Plugins(["part", *DECORRELATORS])(events).FatJet
    n = int(ak.sum(ak.num(jets)))
    assert n > 0
    w = ak.to_numpy(ak.flatten(jets.part.w_vs_qcd))
    ddt = ak.flatten(jets.ddt_part_w)
    np.testing.assert_allclose(
        ak.to_numpy(ddt.score), w - ak.to_numpy(ddt.qcd_quantile), rtol=1e-5, atol=1e-6
    )
    tau21 = ak.to_numpy(ak.flatten(jets.tau2 / jets.tau1))
    assert np.isfinite(ak.to_numpy(ak.flatten(jets.tau21_ddt.score))).all()
    assert not np.allclose(ak.to_numpy(ak.flatten(jets.tau21_ddt.score)), tau21)
    host = PluginHost()
    for name in NETWORKS:
        rec = ak.flatten(jets[name])
        scores = ak.to_numpy(rec.scores)
        assert scores.shape == (n, len(host.spec(name).outputs[1].labels or ()))
        assert ((scores >= 0) & (scores <= 1)).all()
        chosen = host.create_model(name).options["working_point"]
        np.testing.assert_array_equal(ak.to_numpy(rec.score), ak.to_numpy(rec[f"scores_{chosen}"]))


def test_working_point_and_quantile_options_in_a_run(real_data: Path, tmp_path: Path) -> None:
    """The options pick another λ / quantile; histograms of the outputs fill."""
    cfg = parse_config(
        {
            "fileset": {"pf": [str(real_data / "pfnano.root")]},
            "plugins": [
                "part",  # ddt_part_w reads its output: a run must name it
                {"name": "disco_w", "options": {"working_point": "raw"}},
                {"name": "ddt_part_w", "options": {"quantile": 50}},
            ],
            "histograms": {
                "d": {
                    "axes": [{"field": "FatJet.disco_w.score", "bins": 10, "start": 0, "stop": 1}]
                },
                "q": {
                    "axes": [
                        {"field": "FatJet.ddt_part_w.score", "bins": 10, "start": -1, "stop": 1}
                    ]
                },
            },
        },
        base=tmp_path,
    )
    result = run(cfg)
    assert result.hists["pf"]["d"].sum(flow=True) == 24
    assert result.hists["pf"]["q"].sum(flow=True) == 24


def test_validate_decorrelation_section(
    generated: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    from jetplug.generation import generate

    base = tmp_path_factory.mktemp("wjets_dec")
    wjets = generate("wjets", 150, base, seed=932, pt_hat_min=450, pt_hat_max=900, progress=False)
    files = [str(f) for f in (*generated["qcd"], *wjets)]
    out = base / "out"
    result = CliRunner().invoke(
        main,
        [
            "validate",
            *files,
            "--section",
            "decorrelation",
            "-p",
            "tau21_ddt",
            "-p",
            "disco_w",
            "-p",
            "ddt_n2",
            "--split",
            "all",
            "--pt-bins",
            "400,900",
            "--n-bootstrap",
            "10",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (out / "decorrelation.md").read_text()
    for row in ("| tau21 |", "| tau21_ddt |", "| ddt_n2 |", "| disco_w[raw] |"):
        assert row in text
    rows = json.loads((out / "decorrelation.json").read_text())["rows"]
    assert any(r["pareto"] for r in rows)
    assert {p.name for p in (out / "plots").iterdir()} == {"pareto_W.png", "mass_W.png"}


# -- training ------------------------------------------------------------------------------------
@pytest.mark.parametrize("reads", ["score", "logit"])
def test_adversary_decorrelates_a_mass_sculpting_classifier(reads: str) -> None:
    """Signal peaks at 80 GeV; a second feature separates the classes independently of the
    mass. The plain network uses the mass window, so its QCD score depends on the mass; the
    adversarial point (capped reward, either input) gives most of that dependence up (the
    distance correlation of score and mass on validation QCD, the training record's dCor²)
    and keeps the mass-free separation. The sample is too small for 1/JSD50: its floor is
    ~4 here (``inv_jsd50_floor``)."""
    import torch

    from jetplug_decorrelation.train import FitSettings, fit_network

    rng = np.random.default_rng(5)
    n = 8000
    y = (rng.random(n) < 0.3).astype(np.float32)
    mass = np.where(y == 1, rng.normal(80, 8, n), rng.exponential(60, n) + 20)
    other = rng.normal(y * 1.5, 1.0)
    x = np.stack([mass, other], axis=1).astype(np.float32)
    split = rng.random(n)
    train, val = split < 0.7, split >= 0.7
    settings = FitSettings(
        epochs=10, batch_size=256, hidden=16, layers=2, adversarial_lr=2e-3, adversary_reads=reads
    )

    def fit(lam: float, start: object = None) -> tuple[object, float, float]:
        net, record = fit_network(
            x,
            y,
            mass,
            train,
            val,
            method="adv",
            lam=lam,
            seed=1,
            settings=settings,
            start=start,
            log=lambda m: None,
        )
        assert len(record["history"]) == settings.epochs
        with torch.no_grad():
            s = net(torch.as_tensor(x[val])).numpy()
        res = decorrelation_metrics(y[val].astype(int), s, mass[val], n_bootstrap=0)
        return net, record["history"][-1]["dcor2"], res.r50

    raw, raw_dcor, raw_r50 = fit(0.0)
    _, adv_dcor, adv_r50 = fit(30.0, raw)
    assert adv_dcor < raw_dcor / 3
    # the mass-free feature alone: 1.5σ apart, R50 = 1/(1 - Φ(1.5)) ≈ 15 at εS = 0.5
    assert 5 < adv_r50 < raw_r50


def test_adversary_input_is_checked() -> None:
    from jetplug_decorrelation.train import FitSettings, fit_network

    x = np.zeros((10, 2), np.float32)
    with pytest.raises(ValueError, match="adversary_reads='rank'"):
        fit_network(
            x,
            np.zeros(10),
            np.ones(10),
            np.ones(10, bool),
            np.ones(10, bool),
            method="adv",
            lam=1.0,
            seed=0,
            settings=FitSettings(adversary_reads="rank"),
        )
