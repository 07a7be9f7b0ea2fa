"""Meta-learning (jetplug.training.meta): inner step, meta-gradients, a toy family of tasks."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from jetplug.training.meta import (  # noqa: E402
    MetaSettings,
    Task,
    adapt,
    fine_tune,
    meta_gradient,
    meta_train,
    support_sets,
    task_loss,
)


class _Net(nn.Module):
    """2 -> 8 (tanh) -> 1 logits, with a fixed input-shift buffer (held fixed, like standardisation)."""

    shift: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([0.1, -0.2]))
        self.hidden = nn.Linear(2, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.out(torch.tanh(self.hidden(x - self.shift))).squeeze(-1)
        return out


def _params(net: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return (
        {k: v.detach().clone() for k, v in net.named_parameters()},
        {k: v.detach() for k, v in net.named_buffers()},
    )


def _batch(seed: int, n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + 0.5 * torch.randn(n, generator=g) > 0).float()
    return x, y


def test_inner_step_is_a_manual_sgd_step() -> None:
    torch.manual_seed(0)
    net = _Net()
    params, buffers = _params(net)
    x, y = _batch(1)
    adapted = adapt(net, params, buffers, x, y, steps=2, lr=0.3)

    manual = copy.deepcopy(net)
    sgd = torch.optim.SGD(manual.parameters(), lr=0.3)
    for _ in range(2):
        sgd.zero_grad()
        logits = manual(x)
        weight = y / y.sum() + (1 - y) / (1 - y).sum()
        loss = (
            nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * weight
        ).sum() / 2
        loss.backward()
        sgd.step()
    for k, p in manual.named_parameters():
        torch.testing.assert_close(adapted[k], p.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(adapted["out.weight"], params["out.weight"])
    # fine_tune is the same procedure on a copy (the original is untouched)
    tuned = fine_tune(net, x.numpy(), y.numpy(), steps=2, lr=0.3)
    for k, p in tuned.named_parameters():
        torch.testing.assert_close(p.detach(), adapted[k], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(net.out.weight.detach(), params["out.weight"])


def test_second_order_meta_gradient() -> None:
    """MAML's meta-gradient is (1 - a H_support) grad L_query(phi'); first-order MAML drops the H term."""
    torch.manual_seed(3)
    net = _Net()
    params, buffers = _params(net)
    support, query = _batch(4), _batch(5)
    lr = 0.5
    maml, _ = meta_gradient(net, params, buffers, support, query, MetaSettings("maml", 1, lr))
    fomaml, _ = meta_gradient(net, params, buffers, support, query, MetaSettings("fomaml", 1, lr))

    names = list(params)
    shapes = [params[k].shape for k in names]
    flat = torch.cat([params[k].reshape(-1) for k in names]).requires_grad_(True)

    def unflat(v: torch.Tensor) -> dict[str, torch.Tensor]:
        out, i = {}, 0
        for k, s in zip(names, shapes, strict=True):
            n = int(np.prod(s))
            out[k] = v[i : i + n].reshape(s)
            i += n
        return out

    g_support = torch.autograd.grad(
        task_loss(net, unflat(flat), buffers, *support), flat, create_graph=True
    )[0]
    phi = (flat - lr * g_support).detach().requires_grad_(True)
    g_query = torch.autograd.grad(task_loss(net, unflat(phi), buffers, *query), phi)[0]
    hvp = torch.autograd.grad(g_support, flat, grad_outputs=g_query)[0]
    expected = g_query - lr * hvp

    got = torch.cat([maml[k].reshape(-1) for k in names])
    first = torch.cat([fomaml[k].reshape(-1) for k in names])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(first, g_query, rtol=1e-4, atol=1e-6)
    # the Hessian term is not negligible here: the two differ by a sizeable fraction
    assert (got - first).norm() > 0.05 * first.norm()


def _gaussian_task(angle: float, rng: np.random.Generator, n: int = 400) -> Task:
    """Signal around +d, background around -d, d at ``angle`` (unit length), unit width."""
    d = 1.5 * np.array([np.cos(angle), np.sin(angle)])
    y = np.repeat([1.0, 0.0], n // 2).astype(np.float32)
    x = (rng.normal(size=(n, 2)) + np.where(y[:, None] > 0, d, -d)).astype(np.float32)
    return Task(f"angle {angle:.2f}", x, y)


def _adapted_query_loss(net: nn.Module, tasks: list[Task], rng: np.random.Generator) -> float:
    params, buffers = _params(net)
    losses = []
    for task in tasks:
        s, q = task.sample(rng, 5)
        xs, ys = torch.as_tensor(task.x[s]), torch.as_tensor(task.y[s])
        adapted = adapt(net, params, buffers, xs, ys, steps=1, lr=0.5)
        losses.append(
            float(
                task_loss(
                    net, adapted, buffers, torch.as_tensor(task.x[q]), torch.as_tensor(task.y[q])
                )
            )
        )
    return float(np.mean(losses))


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile"])
def test_meta_learned_init_adapts_better_than_random(algorithm: str) -> None:
    """Tasks: directions within ±60° of +x. After one step on 5+5 jets, the meta-learned
    start classifies unseen tasks of the family better than the random start it came from."""
    rng = np.random.default_rng(0)
    train = [_gaussian_task(a, rng) for a in rng.uniform(-1.0, 1.0, 12)]
    held_out = [_gaussian_task(a, rng) for a in rng.uniform(-1.0, 1.0, 8)]
    torch.manual_seed(0)
    start = _Net()
    net = copy.deepcopy(start)
    settings = MetaSettings(algorithm, 1, 0.5, meta_lr=1e-2, meta_batch=4, shots=5, meta_steps=150)
    history = meta_train(net, train, settings, log=lambda _: None, every=50)
    assert len(history) == 3
    random_loss = _adapted_query_loss(start, held_out, np.random.default_rng(1))
    meta_loss = _adapted_query_loss(net, held_out, np.random.default_rng(1))
    assert meta_loss < 0.8 * random_loss, (meta_loss, random_loss)
    torch.testing.assert_close(dict(net.named_buffers())["shift"], start.shift)


def test_support_sets_are_balanced_and_disjoint() -> None:
    y = np.array([1] * 30 + [0] * 100)
    sets = support_sets(y, 10, 6, np.random.default_rng(0))
    assert len(sets) == 6
    for rows in sets:
        assert len(rows) == 10
        assert (y[rows] == 1).sum() == 5
    together = np.concatenate(sets)
    assert len(np.unique(together)) == len(together)
    with pytest.raises(ValueError, match="need 35 jets of class 1"):
        support_sets(y, 10, 7, np.random.default_rng(0))
    with pytest.raises(ValueError, match="even"):
        support_sets(y, 9, 1, np.random.default_rng(0))


def test_unknown_algorithm_is_refused() -> None:
    task = _gaussian_task(0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown meta-learning algorithm"):
        meta_train(_Net(), [task], MetaSettings("maml2", meta_steps=1), log=lambda _: None)  # type: ignore[arg-type]


# -- the few-shot tagger plugins (jetplug-meta) ------------------------------------------------
def test_shipped_few_shot_tagger_is_registered() -> None:
    import json

    from jetplug import PluginHost
    from jetplug.spec import sha256_file
    from jetplug_meta.adapt import INITS

    host = PluginHost()
    spec = host.spec("meta_w")
    assert spec.kind.value == "tagger"
    assert host.create_model("meta_w").signal_truth == 2
    meta = json.loads(spec.artifact.path.with_suffix(".json").read_text())
    assert meta["k"] == 100
    # adapted from the shipped MAML start: re-adapt (python -m jetplug_meta.adapt w ...)
    # whenever scripts/train_meta.py retrains it
    assert meta["init"]["sha256"] == sha256_file(INITS["maml"])
    init = json.loads(INITS["maml"].with_suffix(".json").read_text())
    assert init["held_out"] == "W"
    assert all("wjets" not in f for f in init["training_files"])


@pytest.mark.parametrize("source", ["real", "generated"])
def test_few_shot_tagger_runs_in_the_processor(
    source: str, real_data: Path, generated: dict[str, list[Path]]
) -> None:
    """``meta_w`` in the processor equals the adapted network on the same features."""
    import awkward as ak

    from jetplug import ModelInputs, Plugins
    from jetplug.validation.collect import read_events
    from jetplug_meta.adapt import load_init
    from jetplug_taggers.features import substructure_features

    path = real_data / "pfnano.root" if source == "real" else generated["qcd"][0]
    jets = Plugins(["meta_w"])(read_events(str(path))).FatJet
    score = ak.to_numpy(ak.flatten(jets.meta_w.score))
    assert len(score) > 0
    assert ((score >= 0) & (score <= 1)).all()
    fields = {
        f: ak.to_numpy(ak.flatten(jets[f]))
        for f in ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")
    }
    from jetplug import PluginHost

    net = load_init(PluginHost().spec("meta_w").artifact.path)
    with torch.no_grad():
        direct = net(torch.as_tensor(substructure_features(ModelInputs(fields)))).numpy()
    np.testing.assert_allclose(score, direct, rtol=1e-5, atol=1e-6)


def test_adapt_writes_a_plugin(
    generated: dict[str, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One call adapts the MAML start with K jets of a signal and gives plugin meta_<name>."""
    import json

    import awkward as ak

    from jetplug import PluginHost, Plugins
    from jetplug.validation.collect import read_events
    from jetplug_meta.adapt import INITS, adapt_files, load_init

    out = adapt_files(
        "toptest",
        generated["ttbar"],
        generated["qcd"],
        signal="top",
        k=10,
        steps=20,
        output_dir=tmp_path,
    )
    meta = json.loads(out.with_suffix(".json").read_text())
    assert (meta["signal_truth"], meta["k"], meta["fine_tune"]["steps"]) == (1, 10, 20)
    assert len(meta["support_files"]) == len(generated["ttbar"]) + len(generated["qcd"])
    start, tuned = load_init(INITS["maml"]), load_init(out)
    assert not torch.equal(start.net[0].weight, tuned.net[0].weight)  # it was adapted
    torch.testing.assert_close(start.mean, tuned.mean)  # the standardisation is the start's
    monkeypatch.setenv("JETPLUG_META_MODELS", str(tmp_path))
    assert PluginHost().create_model("meta_toptest").signal_truth == 1
    jets = Plugins(["meta_toptest"])(read_events(str(generated["ttbar"][0]))).FatJet
    assert np.isfinite(ak.to_numpy(ak.flatten(jets.meta_toptest.score))).all()
    # an adapted model named like a shipped one is not used, and says so
    for suffix in (".pt", ".json"):
        (tmp_path / f"meta_w{suffix}").write_bytes(out.with_suffix(suffix).read_bytes())
    from jetplug_meta.tagger import few_shot_plugins

    with pytest.warns(UserWarning, match=r"meta_w.pt is not used: plugin 'meta_w' is already "):
        names = [p.spec.name for p in few_shot_plugins()]
    assert names.count("meta_w") == 1


def test_study_compares_the_starts_with_the_same_adaptation(tmp_path: Path) -> None:
    """Synthetic 6-feature task: every (K, draw, method) scored; a start that already separates
    the classes beats scratch at small K; the report and plot are written."""
    from jetplug_meta.common import build_network
    from jetplug_meta.study import StudySettings, paired, plot_r50, report, run_study, summarise

    rng = np.random.default_rng(0)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.5).astype(np.float32)
        x = rng.normal(size=(n, 6)).astype(np.float32) + 1.5 * y[:, None] * np.eye(6)[0]
        return x, y

    support, evaluation = sample(600), sample(4000)
    torch.manual_seed(0)
    good = build_network()
    good_tuned = _trained(good, *sample(2000))
    settings = StudySettings(ks=(10, 100), repeats=3, steps=(20, 40), lr=0.1)
    rows = run_study({"pooled": good_tuned}, support, evaluation, settings, log=lambda _: None)
    assert len(rows) == 1 + 2 * 3 * 2 * 2  # K = 0, then K x draws x methods x lengths
    summary = summarise(rows)
    cell = {(r["k"], r["method"], r["steps"]): r for r in summary}
    assert cell[(10, "pooled", 20)]["auc"] > cell[(10, "scratch", 20)]["auc"]
    pairs = paired(rows)  # scratch against pooled, per K and adaptation length
    assert [(p["method"], p["k"], p["draws"]) for p in pairs[:2]] == [("scratch", 10, 3)] * 1 + [
        ("scratch", 100, 3)
    ]
    assert all(0 <= p["wins"] <= p["draws"] for p in pairs)
    text = report(summary, command="c", n_signal=1, n_background=2, settings=settings, pairs=pairs)
    assert "| 10 | pooled pre-training + fine-tuning |" in text and "40 steps" in text
    assert plot_r50(summary, tmp_path / "r.png", "t", settings.steps).stat().st_size > 0


def _trained(net: nn.Module, x: np.ndarray, y: np.ndarray) -> nn.Module:
    """``net`` (a StandardizedMLP) standardised on x and trained by 200 gradient steps."""
    from jetplug.training.meta import Logits

    net.standardize_from(torch.as_tensor(x))  # type: ignore[operator]
    tuned = fine_tune(Logits(net), x, y, steps=200, lr=0.3)
    return tuned.module  # type: ignore[return-value]


def test_study_files_keep_support_and_evaluation_apart(tmp_path: Path) -> None:
    from jetplug_meta.study import study_files

    for path in (
        "train/wjets/wjets_s23_000.root",
        "train/qcd/qcd_s22_000.root",
        "train/qcd/qcd_s99_000.root",
        "independent/wjets/wjets_s703_000.root",
        "independent/qcd/qcd_s702_000.root",
        "independent/ttbar/ttbar_s701_000.root",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    support, evaluation = study_files(tmp_path / "train", tmp_path / "independent", [22, 23])
    assert [f.name for f in support] == ["qcd_s22_000.root", "wjets_s23_000.root"]
    assert [f.name for f in evaluation] == ["qcd_s702_000.root", "wjets_s703_000.root"]
    with pytest.raises(ValueError, match="overlap"):
        study_files(tmp_path / "train", tmp_path / "train", [22, 23])
    with pytest.raises(ValueError, match="no support files"):
        study_files(tmp_path / "train", tmp_path / "independent", [21])
