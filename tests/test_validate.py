"""``jetplug validate``: the table, plots and CMS check on generated and real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from jetplug.cli import main
from jetplug.errors import JetplugError
from jetplug.validation import collect, discriminants
from jetplug.validation.collect import JetTable
from jetplug.validation.report import baseline_tau32, inverse_jsd


@pytest.fixture(scope="module")
def report(
    generated: dict[str, list[Path]], real_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("validation")
    files = [str(f) for fs in generated.values() for f in fs]
    args = ["validate", *files, "-o", str(out), "--split", "all", "--pt-bins", "300,600,1200"]
    args += ["--n-bootstrap", "20", "--cms", str(real_data / "pfnano.root")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def test_table_has_every_tagger_per_bin(report: Path) -> None:
    rows = json.loads((report / "validation.json").read_text())["rows"]
    top = {(r["tagger"], r["pt_bin"]) for r in rows if r["signal"] == "top"}
    for tagger in ("top_bdt", "top_mlp", "top_cnn", "pfn", "part", "tau32+mSD"):
        assert {(tagger, "300-600"), (tagger, "600-1200"), (tagger, "300-1200 (all)")} <= top
    for r in rows:
        assert 0.0 <= r["auc"] <= 1.0
        assert r["r30"] is None  # far fewer than 1e5 background jets
    md = (report / "validation.md").read_text()
    assert "| top | 300-600 | top_bdt |" in md
    for plot in ("roc_top.png", "sculpting_top.png", "scores_top_bdt.png", "scores_pfn.png"):
        assert (report / "plots" / plot).stat().st_size > 10_000


def test_rejection_ratios_to_the_reference_tagger(report: Path) -> None:
    from jetplug.validation import Row, r50_ratios

    def row(tagger: str, pt_bin: str, r50: float, err: float) -> Row:
        return Row(tagger, "top", pt_bin, 0.9, 0.01, r50, err, None, None, 1.0, 100, 100)

    rows = r50_ratios(
        [
            row("top_bdt", "a", 200.0, 20.0),
            row("pfn", "a", 300.0, 30.0),
            row("pfn", "b", 300.0, 30.0),  # no reference in bin b
            row("top_bdt", "c", float("inf"), 0.0),
            row("pfn", "c", 50.0, 5.0),
        ],
        "top_bdt",
    )
    assert rows[0].r50_ratio == pytest.approx(1.0)
    assert rows[1].r50_ratio == pytest.approx(1.5)
    assert rows[1].r50_ratio_err == pytest.approx(1.5 * np.hypot(0.1, 0.1))
    assert rows[2].r50_ratio is None and rows[4].r50_ratio is None
    data = json.loads((report / "validation.json").read_text())
    assert data["info"]["reference"] == "top_bdt"
    assert "R50 / ref" in (report / "validation.md").read_text()


def test_auc_matches_sklearn_on_the_same_jets(
    report: Path, generated: dict[str, list[Path]], host: object
) -> None:
    files = [f for fs in generated.values() for f in fs]
    table = collect(files, ["top_bdt"], split=None, pt_range=(300, 1200))
    truth = table.columns["truthLabel"]
    keep = np.isin(truth, [0, 1])
    expected = roc_auc_score(truth[keep] == 1, table.outputs["top_bdt.score"][keep])
    rows = json.loads((report / "validation.json").read_text())["rows"]
    row = next(r for r in rows if r["tagger"] == "top_bdt" and r["pt_bin"].endswith("(all)"))
    assert row["auc"] == pytest.approx(expected, rel=1e-12)
    assert row["n_signal"] + row["n_background"] == keep.sum()


def test_cms_section_checks_probabilities(report: Path) -> None:
    info = json.loads((report / "validation.json").read_text())["info"]
    cms = {c["tagger"]: c for c in info["cms"]}
    assert set(cms) >= {"pfn", "top_cnn", "top_mlp"}
    assert cms["pfn"]["n_jets"] == 24
    assert cms["pfn"]["finite"]
    assert cms["pfn"]["max_sum_deviation"] < 1e-5
    assert -1.0 <= cms["pfn"]["pearson"] <= 1.0
    assert "particleNet_TvsQCD" in (report / "validation.md").read_text()


def test_multiclass_plugin_gives_one_discriminant_per_signal(host: object) -> None:
    from jetplug import PluginHost

    discs = discriminants(PluginHost(), ["pfn", "top_bdt"])
    assert sorted(d.name for d in discs) == ["pfn", "pfn[H]", "pfn[W]", "pfn[Z]", "top_bdt"]
    probs = np.array([[0.6, 0.1, 0.0, 0.1, 0.2]])
    pfn_top = next(d for d in discs if d.name == "pfn")
    np.testing.assert_allclose(pfn_top.score(probs), [0.75])


def test_file_without_truth_is_refused_with_its_name(real_data: Path, tmp_path: Path) -> None:
    path = real_data / "nano_dy.root"
    result = CliRunner().invoke(main, ["validate", str(path), "-o", str(tmp_path), "-p", "top_bdt"])
    assert result.exit_code == 2
    assert "nano_dy.root" in result.output
    assert "truthLabel" in result.output


def test_signal_only_files_are_refused_saying_what_is_missing(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    """Once an empty table and exit 0; now one line naming the classes the files hold."""
    files = [str(f) for f in generated["ttbar"]]
    args = ["validate", *files, "--split", "all", "-p", "top_bdt", "-o", str(tmp_path / "v")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: nothing to validate: each row compares a tagger's signal")
    assert "by truth class: {'top': " in last and "'QCD'" not in last
    assert not (tmp_path / "v").exists()


def test_a_file_given_twice_is_refused(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    """Overlapping globs once doubled every count (and shrank the bootstrap errors)."""
    first = generated["ttbar"][0]
    again = first.parent / ".." / first.parent.name / first.name
    args = ["validate", str(first), str(generated["qcd"][0]), str(again), "-p", "top_bdt"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "v")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"error: the files to validate on: file {first} is given twice (the second time as "
        f"{again}); its events would count twice"
    )
    from jetplug import PluginHost
    from jetplug.training import training_inputs

    with pytest.raises(JetplugError, match=f"the training files: file {first} is given twice"):
        training_inputs([first, first], PluginHost().spec("top_bdt"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-p", "top_bdt", "-p", "ae_qcd"], "{'ae_qcd': 'anomaly'} would show in no row"),
        (["-p", "top_bdt", "--reference", "nosuch"], "--reference 'nosuch' is not among the"),
        (["-p", "pfn", "--reference", "top_bdt"], "--reference 'top_bdt' is not among the"),
    ],
)
def test_taggers_section_refuses_what_it_would_ignore(
    generated: dict[str, list[Path]], tmp_path: Path, extra: list[str], message: str
) -> None:
    files = [str(generated["ttbar"][0]), str(generated["qcd"][0])]
    result = CliRunner().invoke(main, ["validate", *files, *extra, "-o", str(tmp_path / "v")])
    assert result.exit_code == 2, result.output
    assert message in result.output.strip().splitlines()[-1]


def test_baseline_and_sculpting_measures() -> None:
    table = JetTable(
        columns={
            "msoftdrop": np.array([170.0, 50.0, 150.0]),
            "tau2": np.array([0.2, 0.2, 0.0]),
            "tau3": np.array([0.1, 0.05, 0.1]),
        }
    )
    np.testing.assert_allclose(baseline_tau32(table), [0.5, -1.0, 0.0])
    mass = np.concatenate([np.full(100, 80.0), np.full(100, 200.0)])
    assert inverse_jsd(mass, mass > 100) == pytest.approx(1.0)  # disjoint: JSD = 1
    rng = np.random.default_rng(0)
    same = rng.uniform(50, 300, 20000)
    assert inverse_jsd(same, rng.random(20000) < 0.5) > 50  # random cut: no sculpting


@pytest.mark.parametrize(
    ("section", "plugin"),
    [
        ("taggers", "top_bdt"),
        ("calibration", "calib_ni"),
        ("fastsim", "fastsim_gan"),
        ("decorrelation", "tau21_ddt"),
    ],
)
def test_sections_needing_truth_refuse_real_cms_files_in_one_line(
    real_data: Path, section: str, plugin: str, tmp_path: Path
) -> None:
    path = real_data / "nano_tt_v15.root"
    args = ["validate", str(path), "--section", section, "-p", plugin, "-o", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # an error message, not a traceback
    assert f"file {path}: lacks ['FatJet_truthLabel'" in result.output
    assert "a file made by jetplug generate?" in result.output
