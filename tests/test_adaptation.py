"""Domain shift: the gradient reversal layer, domain-adversarial training on synthetic shifted
data, the adapted taggers in the processor, and ``jetplug validate --section domain``."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from jetplug import PluginHost, Plugins
from jetplug.cli import main
from jetplug.validation.collect import read_events
from jetplug_adaptation.common import NETWORKS
from jetplug_adaptation.train import Domains, FitSettings, fit_adapted

torch = pytest.importorskip("torch")


def test_gradient_reversal_flips_and_scales_the_gradient() -> None:
    from jetplug_adaptation.nets import GradientReversal

    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    layer = GradientReversal(0.5)
    y = layer(x)
    assert torch.equal(y, x)  # identity forward
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), [-0.5, -1.0, -1.5])


def test_domain_rows_by_hand() -> None:
    """Target = source with every top score +0.1: W1 top = 0.1, W1 QCD = 0, the QCD
    efficiency at the source's cut unchanged; the same score twice: ratio 1, no spread."""
    from jetplug.validation.collect import JetTable
    from jetplug.validation.decorrelation import Variant
    from jetplug.validation.domain import domain_rows, paired_ratio

    rng = np.random.default_rng(4)
    truth = np.repeat([1, 0], [2000, 8000])
    score = np.where(truth == 1, rng.uniform(0.3, 0.8, 10000), rng.uniform(0.0, 0.6, 10000))
    source = JetTable({"truthLabel": truth}, {"t.score": score})
    target = JetTable({"truthLabel": truth}, {"t.score": score + 0.1 * (truth == 1)})
    (row,) = domain_rows(source, {"up": target}, [Variant("t", 1, "t", "score")], n_bootstrap=8)
    assert row["w1_top"] == pytest.approx(0.1)
    assert row["w1_qcd"] == 0
    assert row["sf_qcd"] == 1
    assert row["sf_top"] > 1.2  # more top jets above the source's median cut
    assert row["r50_target"] > row["r50_source"]
    assert 0 < row["w1_top_floor"] < 0.02
    labels = (truth == 1).astype(int)
    assert paired_ratio(labels, score, score, n_bootstrap=10) == (1.0, 0.0)


def _shifted(seed: int, n: int = 3000) -> Domains:
    """Two classes; feature 1 separates them but is shifted by +1.5 in the target domain,
    feature 0 separates them equally in both."""
    rng = np.random.default_rng(seed)

    def sample(shift: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        x = np.stack(
            [y + rng.normal(0, 1, n), 1.0 * y + shift + rng.normal(0, 1, n), rng.normal(0, 1, n)],
            axis=1,
        )
        return x.astype(np.float32), y

    xs, ys = sample(0.0)
    xt, yt = sample(1.5)
    val = np.arange(n) % 5 == 0
    return Domains(xs, ys, ~val, val, xt, yt, np.ones(n, bool))


@pytest.mark.parametrize("method", ["dann", "sysadv"])
def test_adversary_makes_the_domains_harder_to_tell_apart(method: str) -> None:
    """λ = 0: the domain network tells source from target (feature 1 is shifted); λ = 3:
    the classifier gives up what the domain network reads, its accuracy drops toward 0.5."""
    data = _shifted(1)
    settings = FitSettings(epochs=8, batch_size=256, hidden=16)
    acc = {}
    for lam in (0.0, 3.0):
        _, record = fit_adapted(
            data, method=method, lam=lam, seed=2, settings=settings, log=lambda _: None
        )
        acc[lam] = record["history"][-1]["domain_accuracy"]
        assert record["history"][-1]["bce"] < 0.69  # it still classifies
    assert acc[0.0] > 0.6
    assert acc[3.0] < acc[0.0] - 0.05


def test_adapted_taggers_run_in_the_processor(generated: dict[str, list[Path]]) -> None:
    events = read_events(str(generated["ttbar"][0]))
    jets = Plugins([*NETWORKS, "top_mlp"])(events).FatJet
    n = int(ak.sum(ak.num(jets)))
    assert n > 0
    host = PluginHost()
    for name in NETWORKS:
        meta = json.loads(host.spec(name).artifact.path.with_suffix(".json").read_text())
        assert meta["working_points"][0]["lambda"] == 0
        assert len(meta["working_points"]) >= 3
        rec = ak.flatten(jets[name])
        scores = ak.to_numpy(rec.scores)
        assert scores.shape == (n, len(meta["working_points"]))
        assert ((scores >= 0) & (scores <= 1)).all()
        chosen = host.create_model(name).options["working_point"]
        assert chosen == meta["default_working_point"]
        np.testing.assert_array_equal(ak.to_numpy(rec.score), ak.to_numpy(rec[f"scores_{chosen}"]))


def test_validate_domain_section(
    generated: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Against itself a sample has no gap and no distance; against a shifted response it has."""
    from jetplug.generation import generate
    from jetplug.generation.detector import DetectorResponse

    base = tmp_path_factory.mktemp("domain")
    response = DetectorResponse.default().with_overrides({"hadron_scale": 0.8})
    for name, seed in (("ttbar", 11), ("qcd", 12)):
        generate(
            name,
            120,
            base / "shifted" / name,
            seed=seed,
            pt_hat_min=450,
            pt_hat_max=900,
            detector=response,
            progress=False,
        )
    source = [str(f) for f in (*generated["ttbar"], *generated["qcd"])]
    same = str(generated["ttbar"][0].parent.parent / "*" / "*.root")
    out = base / "out"
    result = CliRunner().invoke(
        main,
        [
            "validate",
            *source,
            "--section",
            "domain",
            "-p",
            "top_mlp",
            "-p",
            "dann_top",
            "--target",
            f"same={same}",
            "--target",
            f"hadron80={base / 'shifted' / '*' / '*.root'}",
            "--split",
            "all",
            "--pt-bins",
            "400,900",
            "--n-bootstrap",
            "8",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (out / "domain.md").read_text()
    assert "**target: same**" in text and "**target: hadron80**" in text
    assert "| dann_top[raw] |" in text and "Targets for dann_top on hadron80" in text
    rows = json.loads((out / "domain.json").read_text())["rows"]
    for r in (r for r in rows if r["target"] == "same"):
        assert r["w1_top"] == 0 and r["w1_qcd"] == 0
        assert r["r50_target"] == r["r50_source"]  # (inf for a tiny sample: no QCD passes)
        assert r["sf_top"] == 1
        assert r["sf_qcd"] == 1 or np.isnan(r["sf_qcd"])  # nan: no QCD jet passes
    mlp = next(r for r in rows if r["target"] == "hadron80" and r["name"] == "top_mlp")
    assert mlp["w1_top"] > 1e-3  # same events (seeds), only the response differs
    assert {p.name for p in (out / "plots").iterdir()} == {
        "tradeoff_same.png",
        "tradeoff_hadron80.png",
    }


def test_validate_domain_needs_a_target(generated: dict[str, list[Path]]) -> None:
    result = CliRunner().invoke(
        main,
        ["validate", str(generated["qcd"][0]), "--section", "domain", "--target", "x=nothing*"],
    )
    assert result.exit_code != 0
    assert "NAME=GLOB matching at least one file" in result.output
