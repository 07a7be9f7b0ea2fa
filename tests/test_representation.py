"""JetCLR: augmentations, NT-Xent, the shipped plugins, the validate section's helpers."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import torch
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import ModelInputs, PluginHost, Plugins
from jetplug.spec import Kind
from jetplug.testing import PluginContract
from jetplug.validation import representation as rep
from jetplug_representation.augment import (
    Cloud,
    boost,
    cloud_of,
    collinear_split,
    hardest,
    inputs_of,
    load_clouds,
    rotate,
    save_clouds,
    smear,
    translate,
    views,
)
from jetplug_representation.jetclr import DIM, N_CONSTITUENTS, JetCLR
from jetplug_representation.nets import nt_xent
from jetplug_representation.training import CLRSettings, train_encoder


def _cloud(n: int = 200, p: int = 24, seed: int = 0) -> Cloud:
    """Random jets: pT fractions summing to 1, constituents within ~0.8 of the axis."""
    rng = np.random.default_rng(seed)
    count = rng.integers(3, p + 1, n)
    mask = np.arange(p)[None, :] < count[:, None]
    z = np.where(mask, rng.exponential(1.0, (n, p)), 0.0)
    z /= z.sum(axis=1, keepdims=True)
    deta = np.where(mask, rng.normal(0, 0.3, (n, p)), 0.0)
    dphi = np.where(mask, rng.normal(0, 0.3, (n, p)), 0.0)
    return Cloud(z, deta, dphi, mask, rng.uniform(500, 700, n))


def _pairwise_dr(c: Cloud) -> np.ndarray:
    d = np.hypot(c.deta[:, :, None] - c.deta[:, None, :], c.dphi[:, :, None] - c.dphi[:, None, :])
    return np.where(c.mask[:, :, None] & c.mask[:, None, :], d, 0.0)


def _irc_safe(c: Cloud) -> dict[str, np.ndarray]:
    """pT sum, girth, the mass-like Σ z_i z_j ΔR_ij², the pT-weighted axis."""
    dr = np.hypot(c.deta, c.dphi)
    return {
        "pt_sum": c.z.sum(axis=1),
        "girth": (c.z * dr).sum(axis=1),
        "mass": np.einsum("ni,nj,nij->n", c.z, c.z, _pairwise_dr(c) ** 2),
        "axis_eta": (c.z * c.deta).sum(axis=1),
    }


def test_rotation_keeps_pt_and_distances() -> None:
    c = _cloud()
    r = rotate(c, np.random.default_rng(1))
    np.testing.assert_array_equal(r.z, c.z)
    np.testing.assert_allclose(np.hypot(r.deta, r.dphi), np.hypot(c.deta, c.dphi), atol=1e-12)
    np.testing.assert_allclose(_pairwise_dr(r), _pairwise_dr(c), atol=1e-12)
    assert not np.allclose(r.deta, c.deta)  # it did rotate
    assert (r.deta[~c.mask] == 0).all()


def test_translation_moves_every_constituent_alike() -> None:
    c = _cloud()
    t = translate(c, np.random.default_rng(2))
    np.testing.assert_allclose(_pairwise_dr(t), _pairwise_dr(c), atol=1e-12)
    shift = np.where(c.mask, t.deta - c.deta, np.nan)
    assert np.nanmax(np.nanstd(shift, axis=1)) < 1e-12
    assert np.nanmean(np.abs(shift)) > 0.05


def test_smearing_moves_soft_constituents_more() -> None:
    c = _cloud(1000)
    s = smear(c, np.random.default_rng(3))
    move = np.hypot(s.deta - c.deta, s.dphi - c.dphi)
    pt = c.z * c.jet_pt[:, None]
    soft, hard = c.mask & (pt < 5), c.mask & (pt > 50)
    assert move[soft].mean() > 10 * move[hard].mean()
    np.testing.assert_array_equal(s.z, c.z)


def test_collinear_splitting_conserves_irc_safe_features() -> None:
    c = _cloud()
    s = collinear_split(c, np.random.default_rng(4), probability=0.5)
    assert s.mask.sum() > c.mask.sum()  # particles were split
    for name, value in _irc_safe(c).items():
        np.testing.assert_allclose(_irc_safe(s)[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    # the hardest few keep the order the encoder reads them in
    h = hardest(s, 8)
    assert h.z.shape == (len(c), 8)
    assert (np.diff(h.z, axis=1) <= 1e-15).all()


def test_untrained_boost_changes_the_mass() -> None:
    c = _cloud()
    b = boost(c, np.random.default_rng(0), factor=0.7)
    np.testing.assert_allclose(_irc_safe(b)["mass"], 0.49 * _irc_safe(c)["mass"], rtol=1e-10)


def test_nt_xent_is_lower_for_matched_pairs() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(128, 16, generator=gen)
    b = a + 0.3 * torch.randn(128, 16, generator=gen)
    shuffled = b[torch.randperm(128, generator=gen)]
    matched = float(nt_xent(a, b, 0.1))
    assert matched < 0.5 * float(nt_xent(a, shuffled, 0.1))
    assert matched < np.log(2 * 128 - 1)  # better than chance


def _jet_inputs(seed: int = 0) -> ModelInputs:
    c = _cloud(64, N_CONSTITUENTS, seed)
    fields = {
        "pt": c.jet_pt,
        "eta": np.random.default_rng(seed).uniform(-2, 2, len(c)),
        "phi": np.random.default_rng(seed + 1).uniform(-3, 3, len(c)),
    }
    like = ModelInputs(fields, None, None)
    return inputs_of(c, like, N_CONSTITUENTS)


def _embedding(host: PluginHost, inputs: ModelInputs) -> np.ndarray:
    return rep.outputs_of(host, "jetclr", inputs)["embedding"]


def test_embedding_is_permutation_invariant(host: PluginHost) -> None:
    inputs = _jet_inputs()
    assert inputs.constituents is not None and inputs.mask is not None
    base = _embedding(host, inputs)
    assert base.shape == (64, DIM) and np.isfinite(base).all()
    rng = np.random.default_rng(5)
    # shuffle the real constituents of every jet (padding stays last)
    order = np.argsort(np.where(inputs.mask, rng.uniform(size=inputs.mask.shape), 2.0), axis=1)
    shuffled = ModelInputs(
        inputs.fields,
        np.take_along_axis(inputs.constituents, order[..., None], axis=1),
        np.take_along_axis(inputs.mask, order, axis=1),
    )
    np.testing.assert_allclose(_embedding(host, shuffled), base, rtol=1e-4, atol=1e-4)
    # and the embedding does depend on the constituents
    other = _embedding(host, _jet_inputs(seed=9))
    assert not np.allclose(other, base, atol=1e-2)


def test_transformed_inputs_round_trip() -> None:
    inputs = _jet_inputs()
    again = inputs_of(cloud_of(inputs), inputs, N_CONSTITUENTS)
    assert again.constituents is not None and inputs.constituents is not None
    np.testing.assert_allclose(again.constituents, inputs.constituents, rtol=1e-5, atol=1e-5)
    assert views(cloud_of(inputs), np.random.default_rng(0), N_CONSTITUENTS).z.shape == (
        64,
        N_CONSTITUENTS,
    )


def test_registered_kinds(host: PluginHost) -> None:
    assert host.spec("jetclr").kind is Kind.REPRESENTATION
    assert host.spec("jetclr").outputs[0].shape == (DIM,)
    assert host.spec("jetclr_qcd").kind is Kind.ANOMALY
    assert host.models.get("jetclr_qcd").normal_truth == 0
    names = {name for name, _ in JetCLR.invariances.items()}
    assert {"rotation", "collinear splitting", "reflection η → −η"} <= names


def test_runs_in_the_processor_on_a_generated_file(generated: dict[str, list[Path]]) -> None:
    events = NanoEventsFactory.from_root(
        {str(generated["ttbar"][0]): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    jets = Plugins(["jetclr", "jetclr_qcd"])(events).FatJet
    embedding = ak.to_numpy(ak.flatten(jets.jetclr.embedding))
    assert embedding.shape == (int(ak.sum(ak.num(jets))), DIM)
    assert embedding.shape[0] > 0 and np.isfinite(embedding).all()
    score = ak.to_numpy(ak.flatten(jets.jetclr_qcd.score))
    assert np.isfinite(score).all() and (score >= 0).all()


class TestJetCLRContract(PluginContract):
    plugin = "jetclr"


class TestJetCLRAnomalyContract(PluginContract):
    plugin = "jetclr_qcd"


# -- the validate section's helpers --------------------------------------------------------------
def test_linear_probe_separates_separable_features() -> None:
    rng = np.random.default_rng(0)
    truth = rng.choice([0, 1, 2], 3000)
    x = rng.normal(size=(3000, 4)) + np.stack([truth == 1, truth == 2, 0 * truth, 0 * truth], 1) * 3
    rows = rep.linear_probe("x", (x[:2000], truth[:2000]), (x[2000:], truth[2000:]), n_bootstrap=5)
    assert [r.signal for r in rows] == ["top", "W"]
    assert all(r.auc > 0.95 for r in rows)
    noise = rng.normal(size=(3000, 4))
    noise = rep.linear_probe(
        "noise", (noise[:2000], truth[:2000]), (noise[2000:], truth[2000:]), n_bootstrap=5
    )
    assert all(abs(r.auc - 0.5) < 0.1 for r in noise)


def test_efps_of_split_jets_are_unchanged() -> None:
    pytest.importorskip("energyflow")
    c = _cloud(20)
    s = collinear_split(c, np.random.default_rng(1))
    as_list = lambda k: [np.stack([k.z[i], k.deta[i], k.dphi[i]], 1)[k.mask[i]] for i in range(20)]  # noqa: E731
    a = rep.efp_features(as_list(c), degree=3, log=lambda _: None)
    b = rep.efp_features(as_list(s), degree=3, log=lambda _: None)
    assert a.shape[0] == 20 and a.shape[1] > 5
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def test_invariance_rows(host: PluginHost) -> None:
    inputs = _jet_inputs()
    truth = np.arange(64) % 2
    rows = rep.invariance(host, "jetclr", inputs, truth)
    by = {r.transformation: r for r in rows}
    assert by["rotation"].trained is True and by["reflection η → −η"].trained is False
    assert all(-1 <= r.cosine <= 1 for r in rows)
    text = rep.representation_markdown([], [], rows, [])
    assert "| rotation | yes |" in text


def test_validate_section_end_to_end(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    pytest.importorskip("energyflow")
    from click.testing import CliRunner

    from jetplug.cli import main

    files = [str(p) for p in generated["ttbar"] + generated["qcd"]]
    common = ["validate", *files, "--split", "all", "--section", "representation"]
    args = [*common, "-p", "jetclr", "-p", "jetclr_qcd", "--pt-bins", "300,1000"]
    missing = CliRunner().invoke(main, args)
    assert missing.exit_code != 0 and "--probe-train" in missing.output
    probe = str(Path(files[0]).parent.parent / "*" / "*.root")
    env = {"JETPLUG_CACHE": str(tmp_path / "cache")}
    result = CliRunner(env=env).invoke(
        main, [*args, "--probe-train", probe, "--n-bootstrap", "5", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "representation.md").read_text()
    assert "| top | `jetclr` (linear) |" in text
    assert "| top | EFPs d ≤ 5 (linear) |" in text
    assert "| rotation | yes |" in text and "| `jetclr_qcd` | QCD | top |" in text
    assert list((tmp_path / "cache" / "efp").glob("efp-*.npy"))  # EFPs cached


def test_saved_clouds_load_back(tmp_path: Path) -> None:
    train, val = _cloud(300, seed=3), _cloud(50, seed=4)
    path = tmp_path / "clouds.npz"
    save_clouds(path, {"train": train, "val": val}, qcd_rows=np.arange(7))
    clouds, extra = load_clouds(path)
    assert sorted(clouds) == ["train", "val"]
    np.testing.assert_array_equal(extra["qcd_rows"], np.arange(7))
    for name, original in (("train", train), ("val", val)):
        back = clouds[name]
        np.testing.assert_array_equal(back.mask, original.mask)  # exact, including padding
        for field in ("z", "deta", "dphi"):  # float16: 11 bits, fewer below 6e-5 (subnormal)
            np.testing.assert_allclose(
                getattr(back, field), getattr(original, field), rtol=1e-3, atol=1e-7
            )
        np.testing.assert_allclose(back.jet_pt, original.jet_pt, rtol=1e-6)


def test_contrastive_training_learns_and_returns_a_cpu_encoder() -> None:
    threads = torch.get_num_threads()
    settings = CLRSettings(epochs=3, batch_size=64, lr=3e-3, max_minutes=5.0, seed=1)
    try:
        torch.set_num_threads(1)
        result = train_encoder(_cloud(640, seed=5), _cloud(128, seed=6), settings, lambda _: None)
    finally:
        torch.set_num_threads(threads)
    assert result.steps == 3 * (640 // 64) and result.epochs_run == 3
    # two views of 64 jets: chance is ln(127) = 4.84; the views are learnt to pair up
    assert result.val_loss[-1] < result.val_loss[0] < np.log(127) + 0.5
    assert result.best_epoch == int(np.argmin(result.val_loss)) + 1
    assert not result.encoder.training  # returned ready for inference


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not json", "not a JSON report (JSONDecodeError"),
        ('{"rows": [{"tagger": "top_bdt"}]}', "not the validation.json of jetplug validate's"),
    ],
)
def test_supervised_report_is_checked_before_any_embedding(
    real_data: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    """Once a traceback after every embedding and EFP had been computed."""
    from click.testing import CliRunner

    from jetplug.cli import main

    report = tmp_path / "validation.json"
    if content is not None:
        report.write_text(content)
    pf = str(real_data / "pfnano.root")
    args = ["validate", pf, "--section", "representation", "-p", "jetclr", "--probe-train", pf]
    result = CliRunner().invoke(main, [*args, "--supervised", str(report), "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: --supervised {report}: {message}")
