"""The GAN fast simulation: GenJetAK8 -> FastSimFatJet, physical, reproducible, in processors."""

from __future__ import annotations

import itertools
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from coffea import processor
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

from jetplug import ConfigError, Plugins
from jetplug.config import parse_config
from jetplug.runner import run
from jetplug.testing import PluginContract
from jetplug_fastsim.data import gen_reco_pairs
from jetplug_fastsim.gan import FIELDS, decode, encode


def _events(path: Path) -> ak.Array:
    """Eager events that name their file (per-object random numbers are keyed by it)."""
    return NanoEventsFactory.from_root(
        {str(path): "Events"},
        schemaclass=PFNanoAODSchema,
        mode="eager",
        metadata={"filename": str(path)},
    ).events()


def test_encoding_round_trips_reconstructed_jets(generated: dict[str, list[Path]]) -> None:
    pairs = gen_reco_pairs(generated["ttbar"])
    assert pairs.reconstructed.sum() > 50
    assert (~pairs.reconstructed).sum() > 0  # gen jets that gave no FatJet (efficiency)
    reco = pairs.reco
    with np.errstate(invalid="ignore", divide="ignore"):
        regular = (reco["mass"] > 1e-3 * reco["pt"]) & (reco["tau4"] > 1e-3)  # no floored values
    ok = pairs.select(pairs.reconstructed & regular)
    assert len(ok) > 0.95 * pairs.reconstructed.sum()
    back = decode(ok.gen, encode(ok.gen, ok.reco))
    for name in FIELDS:
        np.testing.assert_allclose(back[name], ok.reco[name], rtol=2e-3, atol=2e-3, err_msg=name)


def test_fast_simulated_jets_are_physical_and_sorted(generated: dict[str, list[Path]]) -> None:
    events = _events(generated["ttbar"][0])
    out = Plugins(["fastsim_gan"])(events)
    jets = out.FastSimFatJet
    assert ak.sum(ak.num(jets)) > 0.5 * ak.sum(ak.num(events.FatJet))
    assert set(FIELDS) <= set(ak.fields(jets))
    assert ak.all(jets.msoftdrop <= jets.mass + 1e-3)
    # (jets["tau2"], not jets.tau2: vector behaviour reads .tau2 as the mass squared)
    tau = [jets[f"tau{i}"] for i in range(1, 5)]
    assert all(ak.all(b <= a + 1e-6) for a, b in itertools.pairwise(tau))
    assert ak.all(jets.nConstituents >= 1)
    assert ak.all(jets.pt[:, :-1] >= jets.pt[:, 1:])  # re-ranked by pT
    # vector behaviour and the link back to the gen jet
    gen = events.GenJetAK8[jets.sourceIdx]
    assert ak.all(jets.delta_r(gen) < 0.5)
    assert ak.all(abs(jets.pt / gen.pt - 1) < 1.0)


def test_processor_mode_with_the_bdt_retargeted(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    raw = {
        "fileset": {"ttbar": [str(f) for f in generated["ttbar"]]},
        "schema": "pfnano",
        "chunksize": 50,
        "plugins": ["fastsim_gan", {"name": "top_bdt", "collection": "FastSimFatJet"}],
        "histograms": {
            "score": {
                "axes": [
                    {"field": "FastSimFatJet.top_bdt.score", "bins": 20, "start": 0, "stop": 1}
                ]
            },
            "pt": {"axes": [{"field": "FastSimFatJet.pt", "bins": 30, "start": 0, "stop": 1500}]},
        },
    }
    cfg = parse_config(raw, base=tmp_path)
    first = run(cfg, None, executor="iterative")
    second = run(cfg, None, executor="futures", workers=2)
    counts = first.hists["ttbar"]["score"].values(flow=True)
    assert counts.sum() > 50
    np.testing.assert_array_equal(counts, second.hists["ttbar"]["score"].values(flow=True))
    np.testing.assert_array_equal(
        first.hists["ttbar"]["pt"].values(flow=True), second.hists["ttbar"]["pt"].values(flow=True)
    )


def test_one_tagger_on_full_and_fast_simulation_in_one_run(
    generated: dict[str, list[Path]], tmp_path: Path
) -> None:
    """The comparison the fast simulation is for: ``top_bdt`` on ``FatJet`` and, listed again
    with ``collection:``, on ``FastSimFatJet``, in one run and in a user's processor. Each
    instance scores exactly what it scores alone; reports and provenance tell them apart."""
    events = _events(generated["ttbar"][0])
    both = Plugins(["top_bdt", "fastsim_gan", {"name": "top_bdt", "collection": "FastSimFatJet"}])
    assert [s.label for s in both.chain.steps] == [
        "top_bdt@FatJet",
        "fastsim_gan",
        "top_bdt@FastSimFatJet",
    ]
    out = both(events)
    full = Plugins(["top_bdt"])(events)
    fast = Plugins(["fastsim_gan", {"name": "top_bdt", "collection": "FastSimFatJet"}])(events)
    assert ak.all(out.FatJet.top_bdt.score == full.FatJet.top_bdt.score)
    assert ak.all(out.FastSimFatJet.top_bdt.score == fast.FastSimFatJet.top_bdt.score)
    assert set(both.chain.fingerprint()) == {
        "top_bdt@FatJet",
        "fastsim_gan",
        "top_bdt@FastSimFatJet",
    }

    raw = {
        "fileset": {"ttbar": [str(f) for f in generated["ttbar"][:1]]},
        "schema": "pfnano",
        "plugins": [
            "fastsim_gan",
            {"name": "top_bdt", "collection": "FastSimFatJet"},
            "top_bdt",
        ],
        "histograms": {
            f"{c}_score": {
                "axes": [{"field": f"{c}.top_bdt.score", "bins": 20, "start": 0, "stop": 1}]
            }
            for c in ("FatJet", "FastSimFatJet")
        },
    }
    result = run(parse_config(raw, base=tmp_path), tmp_path / "out")
    hists = result.hists["ttbar"]
    assert hists["FatJet_score"].sum() == ak.sum(ak.num(events.FatJet))
    # in a run the per-object random numbers are keyed by the file's UUID (here, by its name:
    # eager events carry none), so the fast-sim jets are compared with a run of their own
    alone = dict(
        raw, plugins=raw["plugins"][:2], histograms={"s": raw["histograms"]["FastSimFatJet_score"]}
    )
    fast_alone = run(parse_config(alone, base=tmp_path), None).hists["ttbar"]["s"]
    assert hists["FastSimFatJet_score"].sum() > 100
    np.testing.assert_array_equal(
        hists["FastSimFatJet_score"].values(flow=True), fast_alone.values(flow=True)
    )
    ran = [(p["name"], p["target"]["collection"]) for p in result.provenance["plugins"]]
    assert sorted(ran) == [
        ("fastsim_gan", "FastSimFatJet"),
        ("top_bdt", "FastSimFatJet"),
        ("top_bdt", "FatJet"),
    ]


def test_validate_fastsim_section(generated: dict[str, list[Path]], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jetplug.cli import main

    files = [str(f) for f in (*generated["ttbar"], *generated["qcd"])]
    result = CliRunner().invoke(
        main, ["validate", *files, "--section", "fastsim", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "fastsim.md").read_text()
    for what in ("| msoftdrop |", "| FPD |", "| KPD |", "classifier AUC", "| top |"):
        assert what in text, what
    assert (tmp_path / "plots" / "features.png").is_file()


def test_downstream_check_tells_signal_from_background_modelling() -> None:
    """At full simulation's cut: a fast sim whose signal is less signal-like keeps fewer
    signal jets and as many background jets, which R50 alone does not say."""
    from jetplug.validation.fastsim import FastSimSample, at_full_cut

    rng = np.random.default_rng(3)
    n = 20_000
    truth = np.repeat([0, 1], n)
    score = np.concatenate([rng.normal(0.0, 1.0, n), rng.normal(3.0, 1.0, n)])
    features = {"pt": np.full(2 * n, 600.0), "eta": np.zeros(2 * n)}
    full = FastSimSample(features, truth, score)
    same = at_full_cut(full, full, 1, (500.0, 700.0))
    assert same["signal_full"] == same["signal_fast"] == pytest.approx(0.5, abs=1e-3)
    assert same["background_fast"] == same["background_full"] > 0
    worse = FastSimSample(features, truth, np.where(truth == 1, score - 0.25, score))
    shifted = at_full_cut(full, worse, 1, (500.0, 700.0))
    assert shifted["signal_fast"] == pytest.approx(0.401, abs=0.01)  # Φ(-0.25)
    assert shifted["background_fast"] == same["background_full"]


class TestGanContract(PluginContract):
    plugin = "fastsim_gan"
    chunk_rtol = 1e-4


def test_jetplug_train_points_to_the_training_script(generated: dict[str, list[Path]]) -> None:
    from click.testing import CliRunner

    from jetplug.cli import main

    result = CliRunner().invoke(main, ["train", "fastsim_gan", str(generated["qcd"][0])])
    assert result.exit_code != 0
    assert "scripts/train_fastsim.py" in result.output


def test_distilled_generator_imitates_its_teacher() -> None:
    import torch

    from jetplug_fastsim.distill import DistillSettings, distill_generator
    from jetplug_fastsim.gan import CONDITIONS, FEATURES, N_NOISE
    from jetplug_fastsim.nets import FastSimGAN

    torch.manual_seed(0)
    teacher = FastSimGAN(len(CONDITIONS), N_NOISE, len(FEATURES), hidden=32)
    teacher.feat_std.fill_(2.0)
    rng = np.random.default_rng(0)
    cond = rng.normal(size=(4000, len(CONDITIONS))).astype(np.float32)
    settings = DistillSettings(
        hidden=24, steps=1500, batch_size=256, eval_every=500, eval_rows=500,
        threads=torch.get_num_threads(),  # leave the test process's setting as it is
    )  # fmt: skip
    student, record = distill_generator(teacher, cond[:3000], cond[3000:], settings, log=print)
    assert student.generator[0].out_features == 24
    torch.testing.assert_close(student.feat_std, teacher.feat_std)  # a drop-in replacement
    c, z = torch.as_tensor(cond[3000:]), torch.randn(1000, N_NOISE)
    with torch.no_grad():
        (want, p_want), (got, p_got) = teacher(c, z), student(c, z)
        spread = float(((want - want.mean(0)) ** 2).mean())  # what a constant would miss by
        missed = float(((got - want) ** 2).mean())
    assert missed < 0.3 * spread  # a constant (or an untrained student) misses by >= spread
    assert record["val_mse_history"][-1][1] < record["val_mse_history"][0][1]
    torch.testing.assert_close(p_got, p_want)  # the same efficiency


def _conditions(n: int, truth: int, mass: float, pt: float) -> np.ndarray:
    """Raw conditions of ``n`` gen jets of one truth class, mass and pT (the refinement's bin)."""
    from jetplug_fastsim.gan import conditions

    fields = {"pt": np.full(n, pt), "eta": np.zeros(n), "mass": np.full(n, mass)}
    fields |= {"partonFlavour": np.full(n, 21), "hadronFlavour": np.zeros(n, np.int32)}
    return conditions({**fields, "truthLabel": np.full(n, truth)})


def test_quantile_refinement_maps_each_bin_onto_the_full_simulation() -> None:
    import torch

    from jetplug_fastsim.refine import QuantileRefinement, RefineSettings, fit_refinement

    names = ("a", "b", "c")
    settings = RefineSettings(features=("a", "b"), msd_classes=(), min_jets=1000)
    rng = np.random.default_rng(0)
    # two bins with different targets (one gen-jet mass exactly on a bin edge), one too small
    groups = [
        (_conditions(20_000, 0, 90.0, 500.0), 1.0, 2.0),  # QCD, m on the 90 GeV edge
        (_conditions(20_000, 0, 100.0, 1000.0), -3.0, 0.5),  # QCD, next mass bin, high pT
        (_conditions(500, 1, 175.0, 500.0), 9.0, 9.0),  # top: < min_jets, left alone
    ]
    cond = torch.from_numpy(np.concatenate([g[0] for g in groups]))
    n = len(cond)
    generated = torch.from_numpy(rng.normal(0.0, 1.0, (n, 3)).astype(np.float32))
    full = np.concatenate([rng.normal(mu, sd, (len(g), 3)) for g, mu, sd in groups])
    refine = QuantileRefinement(settings.record(), names)
    record = fit_refinement(
        refine, cond, generated, torch.from_numpy(full.astype(np.float32)), settings
    )
    assert record["fitted"] == 2 and record["jets"] == n
    assert len(set(refine.bin_index(cond).tolist())) == 3

    fresh = torch.from_numpy(rng.normal(0.0, 1.0, (n, 3)).astype(np.float32))
    out = refine(cond, fresh).numpy()
    start = 0
    for g, mu, sd in groups[:2]:  # each fitted bin: its own target, ranks kept
        rows = slice(start, start + len(g))
        start += len(g)
        for j in (0, 1):
            assert abs(out[rows, j].mean() - mu) < 0.05 * sd + 0.02
            assert abs(out[rows, j].std() - sd) < 0.05 * sd
            order = np.argsort(fresh[rows, j].numpy())
            assert (np.diff(out[rows, j][order]) >= -1e-6).all()
    np.testing.assert_array_equal(out[:, 2], fresh[:, 2].numpy())  # not in settings.features
    np.testing.assert_array_equal(out[start:], fresh[start:].numpy())  # the unfitted bin

    # beyond the generator's fitted range: the full simulation's end points
    far = torch.full((2, 3), 50.0)
    edges = refine(cond[:2], far)[:, 0]
    assert float(edges.max()) == pytest.approx(float(full[:20_000, 0].max()), rel=1e-5)
    assert float(refine(cond[:2], -far)[:, 0].min()) == pytest.approx(
        float(full[:20_000, 0].min()), rel=1e-5
    )

    again = QuantileRefinement(settings.record(), names)  # the tables travel in the state dict
    again.load_state_dict(refine.state_dict())
    torch.testing.assert_close(again(cond, fresh), refine(cond, fresh))
    traced = torch.jit.trace(refine, (cond[:64], fresh[:64]))  # as the Triton export does
    torch.testing.assert_close(traced(cond, fresh), refine(cond, fresh))
    with pytest.raises(ValueError, match="not generated features"):
        QuantileRefinement(RefineSettings(features=("z",), msd_classes=()).record(), names)
    with pytest.raises(ValueError, match=r"m_SD \(msd_classes\) needs the features"):
        QuantileRefinement(RefineSettings(features=("a",)).record(), names)


def test_quantile_refinement_maps_the_soft_drop_mass_of_resonance_bins() -> None:
    """A generator whose m_SD peak is broader than full simulation's (its m and m_SD/m each
    right on their own, their combination not): the m_SD stage narrows it to full
    simulation's in the classes it is fitted for, keeps the mass, leaves QCD alone."""
    import torch

    from jetplug_fastsim.gan import FEATURES, decode
    from jetplug_fastsim.refine import QuantileRefinement, RefineSettings, fit_refinement

    rng = np.random.default_rng(2)
    n = 30_000
    raw = [_conditions(n, 1, 185.0, 500.0), _conditions(n, 0, 185.0, 500.0)]  # top, QCD
    cond = torch.from_numpy(np.concatenate(raw))
    i_mass, i_msd = FEATURES.index("log_mass_response"), FEATURES.index("msd_over_m")

    def jets(spread: float, ratio_width: float) -> np.ndarray:
        x = np.zeros((2 * n, len(FEATURES)), np.float32)
        x[:, i_mass] = rng.normal(-0.05, spread, 2 * n)
        x[:, i_msd] = np.clip(rng.normal(0.93, ratio_width, 2 * n), 0, 1)
        return x

    full = jets(0.05, 0.02)
    generated = jets(0.05, 0.06)  # m right, m_SD/m too wide: m_SD's peak too broad
    settings = RefineSettings(features=(), msd_classes=("top",), min_jets=1000)
    refine = QuantileRefinement(settings.record(), FEATURES)
    record = fit_refinement(
        refine, cond, torch.from_numpy(generated), torch.from_numpy(full), settings
    )
    assert record["fitted"] == 2 and record["msd_fitted"] == 1
    fresh = jets(0.05, 0.06)
    out = refine(cond, torch.from_numpy(fresh)).numpy()
    gen = {"pt": np.full(2 * n, 500.0), "eta": np.zeros(2 * n), "phi": np.zeros(2 * n),
           "mass": np.full(2 * n, 185.0)}  # fmt: skip
    msd_full = decode(gen, full)["msoftdrop"]
    msd_out, msd_fresh = decode(gen, out)["msoftdrop"], decode(gen, fresh)["msoftdrop"]
    top, qcd = slice(0, n), slice(n, 2 * n)
    assert np.std(msd_fresh[top]) > 1.3 * np.std(msd_full[top])
    assert np.std(msd_out[top]) == pytest.approx(np.std(msd_full[top]), rel=0.05)
    np.testing.assert_array_equal(out[:, i_mass], fresh[:, i_mass])  # the mass is kept
    np.testing.assert_array_equal(out[qcd], fresh[qcd])  # QCD bins: not fitted for m_SD
    traced = torch.jit.trace(refine, (cond[:64], torch.from_numpy(fresh[:64])))
    torch.testing.assert_close(traced(cond, torch.from_numpy(fresh)), torch.from_numpy(out))


def test_shipped_generator_carries_its_refinement() -> None:
    from jetplug import load_model_metadata
    from jetplug_fastsim.gan import MODEL, load_generator

    meta = load_model_metadata(MODEL)
    model = load_generator(MODEL)
    assert model.refine is not None
    assert int(model.refine.fitted.sum()) == meta["refinement"]["fitted"] > 0
    assert "logit_tau32" not in meta["refinement"]["features"]
    assert meta["refinement"]["msd_classes"] == ["top", "W", "Z", "H"]
    assert int(model.refine.msd_fitted.sum()) == meta["refinement"]["msd_fitted"] > 0


def test_fast_simulation_of_cms_nanoaod_gen_jets(real_data: Path) -> None:
    """Real NanoAOD: GenJetAK8 without a truth label (simulated as QCD-like), no generator record."""
    from coffea.nanoevents import NanoAODSchema

    path = str(real_data / "nano_tt_v15.root")
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=NanoAODSchema, mode="eager", metadata={"filename": path}
    ).events()
    plugins = Plugins(["fastsim_gan"])
    fast = plugins(events).FastSimFatJet
    again = plugins(events).FastSimFatJet
    n_fast, n_full = int(ak.sum(ak.num(fast))), int(ak.sum(ak.num(events.FatJet)))
    assert 0.5 * n_full < n_fast < 1.5 * n_full  # the efficiency network's FatJets (64 here)
    flat = {f: ak.to_numpy(ak.flatten(fast[f])) for f in ("pt", "mass", "msoftdrop", "tau1")}
    assert (flat["pt"] > 100).all() and (flat["mass"] <= flat["pt"]).all()
    assert (flat["msoftdrop"] <= flat["mass"] + 1e-3).all() and (flat["tau1"] > 0).all()
    assert ak.all(fast.pt == again.pt)  # the per-object random numbers: reproducible


def test_random_numbers_for_events_that_do_not_name_their_file_warn(
    generated: dict[str, list[Path]],
) -> None:
    """Eager events carry no file identity: a plugin drawing random numbers warns (its draws
    would repeat in every such file); events that name their file draw reproducibly and
    silently, and a plugin that draws nothing never warns."""
    import warnings

    from jetplug import NoFileIdentityWarning

    path = generated["ttbar"][0]
    anonymous = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    with pytest.warns(NoFileIdentityWarning, match="'fastsim_gan' draws per-object random"):
        Plugins(["fastsim_gan"])(anonymous)
    plugins = Plugins(["fastsim_gan"])
    a = plugins(_events(path)).FastSimFatJet
    b = plugins(_events(path)).FastSimFatJet
    assert ak.all(a.pt == b.pt)  # named: reproducible
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoFileIdentityWarning)
        Plugins(["top_bdt"])(anonymous)


@pytest.mark.parametrize("target", ["FatJet", "GenJetAK8"])
def test_creating_an_existing_collection_is_refused(
    generated: dict[str, list[Path]], tmp_path: Path, target: str
) -> None:
    """A fast-sim target naming a collection the events have would silently replace it."""
    path = generated["ttbar"][0]
    entry = {"name": "fastsim_gan", "target": target}
    with pytest.raises(ValueError, match=f"creates collection '{target}', which the events") as e:
        Plugins([entry])(_events(path))
    assert any("fastsim_gan" in note for note in e.value.__notes__)
    raw = {"fileset": {"ttbar": [str(path)]}, "plugins": [entry, "top_bdt"]}
    with pytest.raises(ConfigError, match=rf"plugin 'fastsim_gan': creates collection '{target}'"):
        run(parse_config(raw, base=tmp_path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _SelectingProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """A user's processor that selects events before calling the plugins (or after)."""

    def __init__(self, select_first: bool) -> None:
        self.plugins = Plugins(["fastsim_gan"])
        self.select_first = select_first

    def process(self, events: ak.Array) -> dict[str, list[float]]:
        keep = ak.fill_none(ak.firsts(events.GenJetAK8.pt) > 550, False)
        out = self.plugins(events[keep]) if self.select_first else self.plugins(events)[keep]
        return {"pt": ak.to_list(ak.flatten(out.FastSimFatJet.pt))}

    def postprocess(self, accumulator: dict[str, list[float]]) -> dict[str, list[float]]:
        return accumulator


def test_random_numbers_for_a_selection_of_the_chunk_warn(
    generated: dict[str, list[Path]],
) -> None:
    """Events selected before the plugins are fewer than coffea's chunk: their objects would be
    keyed by position in the selection, not by entry, so a drawing plugin gives other numbers
    for the same jets with another selection or chunk size. That warns; the whole chunk, or a
    slice described by its own ChunkContext, draws the same numbers silently."""
    import warnings

    from jetplug import ChunkContext, PartialChunkWarning

    path = str(generated["ttbar"][0])
    fileset = {"tt": {"files": {path: "Events"}}}

    def analyse(select_first: bool) -> list[float]:
        runner = processor.Runner(
            executor=processor.IterativeExecutor(), schema=PFNanoAODSchema, chunksize=1000
        )
        out: dict[str, list[float]] = runner(
            fileset, _SelectingProcessor(select_first), treename="Events"
        )
        return out["pt"]

    with warnings.catch_warnings():
        warnings.simplefilter("error", PartialChunkWarning)
        whole = analyse(select_first=False)
    with pytest.warns(PartialChunkWarning, match=r"'fastsim_gan' draws .* for \d+ events, but"):
        selected = analyse(select_first=True)
    assert selected != whole  # what the warning is about: other numbers for the same jets

    events = NanoEventsFactory.from_root(
        {path: "Events"},
        schemaclass=PFNanoAODSchema,
        mode="eager",
        metadata={"filename": path, "entrystart": 0, "entrystop": 120},
    ).events()
    plugins = Plugins(["fastsim_gan"])
    full = plugins(events).FastSimFatJet
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartialChunkWarning)
        part = plugins(events[30:60], chunk=ChunkContext(file=path, entrystart=30, entrystop=60))
    assert ak.all(ak.flatten(part.FastSimFatJet.pt) == ak.flatten(full[30:60].pt))
