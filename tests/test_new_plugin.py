"""``jetplug new-plugin``: every kind with every format renders a valid package; generated
packages install (a real wheel, found through its entry point), train and pass their tests."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jetplug import JetplugError, Kind, PluginHost, PluginUnavailableError
from jetplug.cli import main
from jetplug.config import parse_config
from jetplug.scaffold import FORMATS, KINDS, PluginNames, default_seed, render_plugin

from .conftest import REPO

PAIRS = [(k, f) for k in KINDS for f in FORMATS]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def kit_args() -> list[str]:
    """``-p jetplug.testing`` unless jetplug is installed with its pytest11 entry point."""
    eps = importlib.metadata.entry_points(group="pytest11")
    return [] if any(ep.value == "jetplug.testing" for ep in eps) else ["-p", "jetplug.testing"]


def test_every_kind_has_a_template_and_three_formats() -> None:
    assert set(KINDS) == {k.value for k in Kind}
    assert set(FORMATS) == {"xgboost-json", "torch-state-dict", "onnx"}


def test_names_follow_the_directory() -> None:
    names = PluginNames.from_name("My-Tagger")
    assert (names.name, names.package, names.dist) == (
        "my_tagger",
        "jetplug_my_tagger",
        "jetplug-my-tagger",
    )
    assert PluginNames.from_name("jetplug_x").package == "jetplug_x"


@pytest.mark.parametrize(("kind", "fmt"), PAIRS, ids=[f"{k}-{f}" for k, f in PAIRS])
def test_template_renders_a_valid_package(
    kind: str, fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / f"my-{kind}"
    written = render_plugin(pkg, kind, fmt)
    names = PluginNames.from_name(pkg.name)
    for path in written:
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
    project = tomllib.loads((pkg / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["jetplug"] == {names.name: f"{names.package}.plugin"}
    assert (pkg / names.package / "py.typed").is_file()
    assert (pkg / names.package / "network.py").is_file() == (fmt == "torch-state-dict")
    config = parse_config(yaml.safe_load((pkg / "run.yaml").read_text()), base=pkg)
    assert names.name in [p.name for p in config.plugins]
    if RUFF:  # the package's own lint settings (pyproject [tool.ruff])
        lint = subprocess.run(
            [RUFF, "check", "--no-cache", "."], cwd=pkg, capture_output=True, text=True, check=False
        )
        assert lint.returncode == 0, lint.stdout
        fmt_check = [RUFF, "format", "--check", "--no-cache", "."]
        formatted = subprocess.run(fmt_check, cwd=pkg, capture_output=True, text=True, check=False)
        assert formatted.returncode == 0, formatted.stdout
    # untrained: importing reads no file; the host lists the plugin as unavailable, with why
    monkeypatch.syspath_prepend(str(pkg))
    try:
        plugin = __import__(f"{names.package}.plugin", fromlist=["plugin"])
        host = PluginHost(autoload=False, plugins=[plugin])
        with pytest.raises(PluginUnavailableError, match=r"metadata .* is missing"):
            host.spec(names.name)
    finally:
        for mod in [m for m in sys.modules if m.startswith(names.package)]:
            del sys.modules[mod]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "tagger", "top_bdt"], "a plugin named 'top_bdt' is already installed"),
        (["--kind", "tagger", "9lives"], "is not a lower-case identifier"),
        (["--kind", "decorrelator", "--reads", "score", "dec"], "is not <plugin>.<output>"),
        (["--kind", "tagger", "full"], "exists and is not empty"),
    ],
)
def test_new_plugin_refuses_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    args = [str(tmp_path / a) if a in ("top_bdt", "9lives", "dec", "full") else a for a in args]
    result = CliRunner().invoke(main, ["new-plugin", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


READS_REFUSED = [
    ("decorrelator", "nosuch.score", "--reads nosuch.score: no plugin 'nosuch' is installed"),
    ("decorrelator", "top_bd.score", "no plugin 'top_bd' is installed; did you mean 'top_bdt', "),
    ("decorrelator", "top_bdt.scor", "has no output 'scor'; did you mean top_bdt.score?"),
    ("decorrelator", "pfn.probs", "'probs' holds 5 numbers per FatJet object (a vector output)"),
    ("decorrelator", "jetclr.embedding", "'jetclr' has no output of one number per object"),
    ("decorrelator", "calib_bdt.pt", "plugin 'calib_bdt' (calibrator) replaces FatJet fields"),
    ("decorrelator", "example_fastsim.pt", "creates the collection ExampleFastJet"),
    ("tagger", "pfn.top_vs_qcd", "--reads pfn.top_vs_qcd is for --kind decorrelator"),
    ("anomaly", "nosuch.score", "--reads nosuch.score is for --kind decorrelator"),
    ("tagger", "top_bdt.score", "--reads top_bdt.score is for --kind decorrelator"),  # the default
]


@pytest.mark.parametrize(
    ("kind", "reads", "message"), READS_REFUSED, ids=[f"{r[0]}-{r[1]}" for r in READS_REFUSED]
)
def test_new_plugin_checks_reads_at_once(
    kind: str, reads: str, message: str, tmp_path: Path
) -> None:
    """``--reads`` names an installed plugin's output of one number per FatJet, for a kind
    that reads one; otherwise one line says why (with a did-you-mean) and nothing is written.
    Unchecked, these failed later: in train.py (an unknown plugin), at inference (a vector
    output reshaped to one number per jet), or not at all (a tagger ignored it)."""
    pkg = tmp_path / "dec"
    result = CliRunner().invoke(main, ["new-plugin", "--kind", kind, "--reads", reads, str(pkg)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not pkg.exists()


def test_vector_output_refusal_lists_its_columns(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["new-plugin", "--kind", "decorrelator", "--reads", "pfn.probs", str(tmp_path / "d")]
    )
    assert "name one of pfn.probs_top, pfn.probs_W, " in result.output
    assert "pfn.top_vs_qcd" in result.output


@pytest.mark.parametrize("reads", ["pfn.probs_top", "pfn.top_vs_qcd", "adv_top.scores_l10"])
def test_new_plugin_accepts_one_number_per_jet(reads: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["new-plugin", "--kind", "decorrelator", "--reads", reads, str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    model = next((tmp_path / "d").glob("jetplug_*/model.py")).read_text()
    assert f'READS = "{reads}"' in model


def test_reads_of_an_untrained_plugin_says_train_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagger = tmp_path / "my-tagger"
    render_plugin(tagger, "tagger", "xgboost-json")
    monkeypatch.syspath_prepend(str(tagger))
    try:
        plugin = __import__("jetplug_my_tagger.plugin", fromlist=["plugin"])
        host = PluginHost(autoload=False, plugins=[plugin])
        with pytest.raises(JetplugError) as raised:
            render_plugin(
                tmp_path / "dec", "decorrelator", "onnx", reads="my_tagger.probs_top", host=host
            )
    finally:
        for mod in [m for m in sys.modules if m.startswith("jetplug_my_tagger")]:
            del sys.modules[mod]
    message = str(raised.value)
    assert message.startswith("--reads my_tagger.probs_top: plugin 'my_tagger' ")
    assert "cannot run yet: model metadata" in message
    assert message.endswith("train it first (its train.py), then generate the decorrelator")
    assert not (tmp_path / "dec").exists()


def test_train_scripts_default_to_a_seed_of_their_own(tmp_path: Path) -> None:
    """Packages of different names (and kinds) do not train on the same synthetic events by
    default: a decorrelator trained on its upstream tagger's training sample learns the
    tagger's overfit scores there. None defaults to the tests' sample (seed 11)."""
    seeds = {}
    for kind, name in [("tagger", "my-tagger"), ("decorrelator", "my-decor")]:
        render_plugin(tmp_path / name, kind, "xgboost-json")
        train = (tmp_path / name / "train.py").read_text()
        seeds[name] = default_seed(PluginNames.from_name(name).name)
        assert f"SEED = {seeds[name]}\n" in train
        assert "default=SEED" in train
    assert seeds["my-tagger"] != seeds["my-decor"]
    assert all(100 <= s < 10000 for s in seeds.values())
    readme = (tmp_path / "my-decor" / "README.md").read_text()
    assert "must be trained on events that `top_bdt` was not trained on" in " ".join(readme.split())


def test_run_config_reads_the_sample_train_py_writes(tmp_path: Path) -> None:
    render_plugin(tmp_path / "t", "tagger", "xgboost-json")
    config = yaml.safe_load((tmp_path / "t" / "run.yaml").read_text())
    assert config["fileset"] == {"sample": ["data/sample.root"]}
    train = (tmp_path / "t" / "train.py").read_text()
    assert 'SAMPLE = Path(__file__).resolve().parent / "data" / "sample.root"' in train
    assert "write_synthetic(SAMPLE, args.sample_events, seed=args.seed + 1)" in train
    assert "jetplug run run.yaml -o results" in (tmp_path / "t" / "README.md").read_text()


def test_new_plugin_lists_what_it_wrote(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["new-plugin", "--kind", "anomaly", "--format", "onnx", str(tmp_path / "odd-jets")]
    )
    assert result.exit_code == 0, result.output
    assert "odd-jets/jetplug_odd_jets/model.py" in result.output
    assert "jetplug check odd_jets" in result.output


# -- wheels --------------------------------------------------------------------------------------
def _pip(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", *args, "--no-deps", "--no-build-isolation", "--no-index"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def test_wheels_ship_py_typed_templates_and_the_pytest_plugin(tmp_path: Path) -> None:
    dirs = [
        REPO,
        REPO / "plugins" / "jetplug-taggers",
        REPO / "examples" / "jetplug-example-plugin",
    ]
    built = _pip("wheel", "-q", "-w", str(tmp_path), *map(str, dirs))
    assert built.returncode == 0, built.stderr
    wheels = {w.name.split("-")[0]: zipfile.ZipFile(w) for w in tmp_path.glob("*.whl")}
    core = wheels["jetplug"].namelist()
    assert "jetplug/py.typed" in core
    templates = {n for n in core if n.startswith("jetplug/templates/plugin/")}
    assert len(templates) == 8 + 3 * len(KINDS) + 5
    entry_points = wheels["jetplug"].read("jetplug-0.1.0.dist-info/entry_points.txt").decode()
    assert "[pytest11]\njetplug = jetplug.testing" in entry_points
    assert "jetplug_taggers/py.typed" in wheels["jetplug_taggers"].namelist()
    assert "jetplug_example/py.typed" in wheels["jetplug_example_plugin"].namelist()


# -- generated packages, end to end --------------------------------------------------------------
GENERATED = [
    ("tagger", "xgboost-json"),
    ("calibrator", "torch-state-dict"),
    ("anomaly", "onnx"),
    ("fastsim", "torch-state-dict"),
    ("decorrelator", "onnx"),
    ("representation", "xgboost-json"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "fmt"), GENERATED, ids=[f"{k}-{f}" for k, f in GENERATED])
def test_generated_package_trains_installs_and_passes_its_tests(
    kind: str, fmt: str, tmp_path: Path
) -> None:
    """Generate, train, build and install the wheel (into a target directory: the shared
    environment is not touched), then run the package's tests and ``jetplug check`` with the
    plugin found through its entry point."""
    pkg = tmp_path / f"my-{kind}"
    names = PluginNames.from_name(pkg.name)
    result = CliRunner().invoke(main, ["new-plugin", "--kind", kind, "--format", fmt, str(pkg)])
    assert result.exit_code == 0, result.output
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pkg), env.get("PYTHONPATH")) if p)
    train = subprocess.run(
        [sys.executable, "train.py", "--events", "2500"],
        cwd=pkg,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert train.returncode == 0, train.stderr
    assert (pkg / names.package / "models").glob(f"{names.name}.*")
    site = tmp_path / "site"
    installed = _pip("install", "-q", "--target", str(site), str(pkg))
    assert installed.returncode == 0, installed.stderr
    # from here on the package is the installed wheel, not the source directory
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    where = subprocess.run(
        [sys.executable, "-c", f"import {names.package} as m; print(m.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *kit_args(),
            str(pkg / "tests"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "9 passed, 1 skipped" in tests.stdout  # the skip: local vs Triton, without a server
    check = _jetplug("check", names.name, "-n", "100", cwd=tmp_path, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"ok: {names.name} ran on 100 events" in check.stdout
    # the README's run, as generated: run.yaml reads data/sample.root, which train.py wrote
    run = _jetplug("run", "run.yaml", "-o", str(tmp_path / "results"), cwd=pkg, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "processed 2000 events" in run.stdout + run.stderr


def _jetplug(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "jetplug", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _path_env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _train(pkg: Path, env: dict[str, str]) -> None:
    """``python train.py`` as the README says (its default sample and seed)."""
    train = subprocess.run(
        [sys.executable, "train.py"], cwd=pkg, env=env, capture_output=True, text=True, check=False
    )
    assert train.returncode == 0, train.stdout + train.stderr


@pytest.mark.slow
def test_decorrelator_of_a_generated_tagger_passes_its_tests(tmp_path: Path) -> None:
    """The new-user path: a tagger, then a decorrelator of its score, each trained with the
    defaults. A decorrelator trained on the events its upstream plugin was trained on learns
    the upstream's overfit scores and fails its own test on other events."""
    site = tmp_path / "site"
    tagger, decor = tmp_path / "my-tagger", tmp_path / "my-decor"
    made = _jetplug("new-plugin", "--kind", "tagger", str(tagger), cwd=tmp_path, env=_path_env())
    assert made.returncode == 0, made.stderr
    _train(tagger, _path_env(tagger))
    installed = _pip("install", "-q", "--target", str(site), str(tagger))
    assert installed.returncode == 0, installed.stderr
    args = ["new-plugin", "--kind", "decorrelator", "--reads", "my_tagger.probs_top", str(decor)]
    made = _jetplug(*args, cwd=tmp_path, env=_path_env(site))
    assert made.returncode == 0, made.stderr
    refused = subprocess.run(
        [sys.executable, "train.py", "--seed", str(default_seed("my_tagger"))],
        cwd=decor,
        env=_path_env(decor, site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "my_tagger was trained on these events (synthetic seed" in refused.stderr
    _train(decor, _path_env(decor, site))
    installed = _pip("install", "-q", "--target", str(site), str(decor))
    assert installed.returncode == 0, installed.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *kit_args(), "tests"],
        cwd=decor,
        env=_path_env(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
