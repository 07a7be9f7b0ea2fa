"""``jetplug validate --section representation``: what a representation plugin has learnt.

A representation plugin (kind ``representation``, e.g. ``jetclr``) writes an
embedding vector per FatJet. Its jets come from
:func:`~jetplug.training.training_inputs` (the processor's own gathering
code), and the embedding from the plugin's ``prepare()``, the chosen backend
and ``finalize()``, as in a processor chunk. Three checks:

* **Linear probe.** A logistic regression on the frozen, L2-normalised
  embeddings, fitted on labelled jets of the *probe* files (the train split
  of the training sample) and evaluated on FILES (an independent sample,
  every event): top vs QCD and W vs QCD, AUC and R50 with bootstrap
  standard deviations. Beside it, the same classifier on **energy-flow
  polynomials** (EFPs, Komiske, Metodiev, Thaler arXiv:1712.07124; the
  ``energyflow`` package) of degree d ≤ 5 of the same constituents, the
  hand-crafted baseline (standardised; a linear function of EFPs can
  approximate any IRC-safe observable).
* **Invariance.** The mean cosine similarity between the embedding of a jet
  and that of a transformed copy, for each transformation the plugin class
  lists in its ``invariances`` attribute (name -> (trained to ignore?,
  ``f(inputs, rng) -> inputs``): the augmentations it was trained to ignore
  and some it was not), beside that of two different jets of the same class
  and of a top and a QCD jet (the scale of "unrelated"). Embeddings are
  centred on the mean embedding of the sample first (the direction every jet
  shares says nothing about a jet).
* **Anomaly score.** Anomaly plugins built on the representation (declared
  with ``normal_truth``) scored on the same jets, in the rows of
  :func:`jetplug.validation.anomaly.anomaly_rows`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import JetplugError
from ..host import PluginHost
from ..metrics import tagging_metrics
from ..model import ModelInputs
from ..spec import Kind, ModelSpec
from ..training import TrainingData, training_inputs
from .anomaly import AnomalyRow, anomaly_markdown, anomaly_rows
from .collect import CLASS_NAMES, JetTable

__all__ = [
    "EFP_DEGREE",
    "Invariance",
    "ProbeRow",
    "RepresentationReport",
    "anomaly_of",
    "constituent_clouds",
    "cosine",
    "efp_features",
    "evaluate_representation",
    "invariance",
    "linear_probe",
    "load_jets",
    "normalised",
    "outputs_of",
    "representation_markdown",
    "subsample",
    "supervised_rows",
    "write_representation",
]

EFP_DEGREE = 5
"""Energy-flow polynomials up to this number of edges."""
INVARIANCE_JETS = 5000
"""Jets of the invariance checks (a random subset of FILES)."""
SIGNALS = {"top": 1, "W": 2}
"""Signals of the linear probes, each against QCD (truth 0)."""


@dataclass(frozen=True)
class ProbeRow:
    """A linear classifier on some features, one signal against QCD."""

    features: str
    signal: str
    auc: float
    auc_err: float
    r50: float
    r50_err: float
    n_train: int
    n_signal: int
    n_background: int


@dataclass(frozen=True)
class Invariance:
    """Mean cosine similarity of embeddings of jets and their transformed copies."""

    transformation: str
    trained: bool | None
    """Trained on (True), not (False); None for the reference rows."""
    cosine: float
    cosine_err: float
    """Standard deviation over jets."""


@dataclass
class RepresentationReport:
    """What :func:`evaluate_representation` finds."""

    probes: list[ProbeRow]
    supervised: list[dict[str, Any]]
    invariance: list[Invariance]
    anomaly: list[AnomalyRow]
    jets: int
    probe_jets: int
    n_efps: int


def evaluate_representation(
    host: PluginHost,
    name: str,
    scores: Sequence[str],
    files: Sequence[Path],
    probe_files: Sequence[Path],
    *,
    split: str | None,
    pt_range: tuple[float, float],
    eta_max: float,
    n_bootstrap: int,
    backend: str = "local",
    supervised: Path | None = None,
    log: Callable[[str], None] = print,
) -> RepresentationReport:
    """Every check of the module docstring for representation plugin ``name``.

    ``files``: the evaluation jets (``split`` of them; None: every event);
    ``probe_files``: the train split fits the probes; ``scores``: anomaly
    plugins on the representation; ``supervised``: a ``jetplug validate`` JSON
    report of the taggers on ``files``.
    """
    import time

    from ..demo import default_cache

    spec = host.spec(name)
    start = time.perf_counter()
    test = load_jets(files, spec, split=split, pt_range=pt_range, eta_max=eta_max)
    train = load_jets(probe_files, spec, split="train", pt_range=pt_range, eta_max=eta_max)
    log(f"read {len(test)} jets of FILES and {len(train)} probe jets")

    def embedding(data: TrainingData) -> np.ndarray:
        return normalised(outputs_of(host, name, data.inputs, backend)["embedding"])

    probes = linear_probe(
        f"`{name}` (linear)",
        (embedding(train), train.truth),
        (embedding(test), test.truth),
        n_bootstrap=n_bootstrap,
    )
    log(f"embeddings and probes in {time.perf_counter() - start:.0f} s")
    cache = default_cache() / "efp"
    efp_train = efp_features(constituent_clouds(train.inputs, spec), log=log, cache=cache)
    efp_test = efp_features(constituent_clouds(test.inputs, spec), log=log, cache=cache)
    probes += linear_probe(
        f"EFPs d ≤ {EFP_DEGREE} (linear)",
        (efp_train, train.truth),
        (efp_test, test.truth),
        n_bootstrap=n_bootstrap,
    )
    log(f"EFP probes in {time.perf_counter() - start:.0f} s")
    counts = {
        s: (int((test.truth == t).sum()), int((test.truth == 0).sum())) for s, t in SIGNALS.items()
    }
    taggers = [n for n in host.models.names() if host.models.get(n).spec.kind == Kind.TAGGER]
    rows = supervised_rows(supervised, taggers, counts) if supervised else []
    sample = test.select(subsample(len(test), INVARIANCE_JETS))
    checks = invariance(host, name, sample.inputs, sample.truth, backend=backend)
    anomaly = anomaly_of(
        test.truth,
        {n: outputs_of(host, n, test.inputs, backend)["score"] for n in scores},
        {n: int(host.models.get(n).normal_truth or 0) for n in scores},
        n_bootstrap=n_bootstrap,
    )
    return RepresentationReport(
        probes, rows, checks, anomaly, len(test), len(train), int(efp_test.shape[1])
    )


def load_jets(
    files: Sequence[Path],
    spec: ModelSpec,
    *,
    split: str | None,
    pt_range: tuple[float, float],
    eta_max: float,
    truth: Sequence[int] = (0, 1, 2),
) -> TrainingData:
    """FatJets of ``files`` in the pT range and |η| < ``eta_max`` with a wanted truth label."""
    data = training_inputs(files, spec)
    pt, eta = data.reco["pt"], data.reco["eta"]
    keep = (pt > pt_range[0]) & (pt < pt_range[1]) & (np.abs(eta) < eta_max)
    keep &= np.isin(data.truth, list(truth))
    if split is not None:
        keep &= data.split == split
    return data.select(keep)


def outputs_of(
    host: PluginHost, name: str, inputs: ModelInputs, backend: str = "local"
) -> dict[str, np.ndarray]:
    """``prepare()``, inference on ``backend`` and ``finalize()`` of plugin ``name``."""
    spec = host.spec(name)
    model = host.create_model(name)
    prepared = model.prepare(inputs)
    raw = host.create_backend(spec, backend).infer(spec, prepared)
    return dict(model.finalize(raw, inputs, prepared))


def subsample(n: int, size: int, seed: int = 0) -> np.ndarray:
    """A boolean mask choosing ``size`` of ``n`` rows at random (all if fewer)."""
    keep = np.zeros(n, bool)
    keep[np.random.default_rng(seed).permutation(n)[:size]] = True
    return keep


def constituent_clouds(inputs: ModelInputs, spec: ModelSpec) -> list[np.ndarray]:
    """Each jet's real constituents as ``(m, 3)`` (pT / pT_jet, Δη, Δφ) to the jet axis.

    ``spec`` declares constituents with fields ``pt``, ``eta``, ``phi`` and the
    jet's ``pt``, ``eta``, ``phi``.
    """
    assert inputs.constituents is not None  # a representation on constituents
    assert inputs.mask is not None
    assert spec.inputs.constituents is not None
    names = list(spec.inputs.constituents.fields)
    c = inputs.constituents.astype(np.float64)
    pt, eta, phi = (c[..., names.index(k)] for k in ("pt", "eta", "phi"))
    f = {k: np.asarray(inputs.fields[k], np.float64)[:, None] for k in ("pt", "eta", "phi")}
    dphi = (phi - f["phi"] + np.pi) % (2 * np.pi) - np.pi
    x = np.stack([pt / f["pt"], eta - f["eta"], dphi], axis=-1)
    mask = inputs.mask.astype(bool)
    return [x[i][mask[i]] for i in range(len(x))]


def efp_features(
    clouds: Sequence[np.ndarray],
    degree: int = EFP_DEGREE,
    log: Callable[[str], None] = print,
    cache: Path | None = None,
) -> np.ndarray:
    """EFPs (d ≤ ``degree``, hadronic measure, β = 1, normalised) of ``(m, 3)`` (z, Δη, Δφ) jets.

    With ``cache`` (a directory), the result is kept there under a hash of the
    jets and ``degree`` and read back when the same jets come again (EFPs cost
    ~10 ms per jet on one core).
    """
    path = None
    if cache is not None:
        digest = hashlib.sha256(f"efp d<={degree} hadr beta=1 normed".encode())
        for c in clouds:
            digest.update(np.ascontiguousarray(c, np.float64).tobytes() + b"|")
        path = cache / f"efp-{digest.hexdigest()[:32]}.npy"
        if path.is_file():
            log(f"EFPs of {len(clouds)} jets from {path}")
            cached: np.ndarray = np.load(path, allow_pickle=False)
            return cached
    values = _compute_efps(clouds, degree, log)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, values, allow_pickle=False)
    return values


def _compute_efps(
    clouds: Sequence[np.ndarray], degree: int, log: Callable[[str], None]
) -> np.ndarray:
    try:
        import energyflow as ef
    except ImportError:
        from ..errors import JetplugError

        msg = (
            "the EFP baseline needs the energyflow package: "
            "pip install --no-deps energyflow==1.4.0 (scripts/setup.sh installs it)"
        )
        raise JetplugError(msg) from None
    efps = ef.EFPSet(f"d<={degree}", measure="hadr", beta=1, normed=True, coords="ptyphim")
    log(f"computing {len(efps.graphs())} EFPs (d ≤ {degree}) of {len(clouds)} jets")
    return np.asarray(efps.batch_compute(list(clouds), n_jobs=1), dtype=np.float64)


def linear_probe(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    n_bootstrap: int,
    seed: int = 0,
) -> list[ProbeRow]:
    """A standardised logistic regression per signal of :data:`SIGNALS`, against QCD.

    ``train`` and ``test`` are (features, truth label) pairs.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = []
    for signal, label in SIGNALS.items():
        use_train = np.isin(train[1], [0, label])
        use_test = np.isin(test[1], [0, label])
        y_train = train[1][use_train] == label
        y_test = test[1][use_test] == label
        if min(y_train.sum(), (~y_train).sum(), y_test.sum(), (~y_test).sum()) == 0:
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        clf.fit(train[0][use_train], y_train)
        score = clf.decision_function(test[0][use_test])
        m = tagging_metrics(y_test, score, n_bootstrap=n_bootstrap, seed=seed)
        rows.append(
            ProbeRow(
                name,
                signal,
                m.auc,
                m.auc_err,
                m.rejection,
                m.rejection_err,
                int(use_train.sum()),
                m.n_signal,
                m.n_background,
            )
        )
    return rows


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = x / np.where(norm > 0, norm, 1.0)
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation over rows of the cosine similarity of ``a`` and ``b``."""
    c = np.sum(normalised(a) * normalised(b), axis=1)
    return float(np.mean(c)), float(np.std(c))


def anomaly_of(
    truth: np.ndarray, scores: Mapping[str, np.ndarray], normal_of: Mapping[str, int], **kw: Any
) -> list[AnomalyRow]:
    """:func:`~jetplug.validation.anomaly.anomaly_rows` of ``scores`` on jets of ``truth``."""
    table = JetTable(
        columns={"truthLabel": truth}, outputs={f"{k}.score": v for k, v in scores.items()}
    )
    return anomaly_rows(table, normal_of, **kw)


Transform = Callable[[ModelInputs, np.random.Generator], ModelInputs]


def invariance(
    host: PluginHost,
    name: str,
    inputs: ModelInputs,
    truth: np.ndarray,
    *,
    backend: str = "local",
    output: str = "embedding",
    seed: int = 0,
) -> list[Invariance]:
    """Cosine similarities under the plugin's ``invariances`` and of unrelated jets."""
    transforms: Mapping[str, tuple[bool, Transform]] = getattr(
        host.models.get(name), "invariances", {}
    )
    rng = np.random.default_rng(seed)
    # centred on the sample's mean embedding: a direction every jet shares would make
    # any two jets look alike
    raw = outputs_of(host, name, inputs, backend)[output]
    centre = raw.mean(axis=0)
    base = raw - centre
    rows = []
    for label, (trained, transform) in transforms.items():
        other = outputs_of(host, name, transform(inputs, rng), backend)[output] - centre
        rows.append(Invariance(label, trained, *cosine(base, other)))
    for label, a, b in (("another jet of the same class", 0, 0), ("a top and a QCD jet", 1, 0)):
        ia = rng.permutation(np.flatnonzero(truth == a))
        ib = rng.permutation(np.flatnonzero(truth == b))
        n = min(len(ia), len(ib))
        if a == b:  # pairs of different jets of one class
            ia, ib = ia[: n // 2], ia[n // 2 : 2 * (n // 2)]
            label = f"another {CLASS_NAMES[a]} jet"
        else:
            ia, ib = ia[:n], ib[:n]
        if len(ia):
            rows.append(Invariance(label, None, *cosine(base[ia], base[ib])))
    return rows


def _r(value: float, err: float) -> str:
    return f"{value:.0f} ± {err:.0f}" if np.isfinite(value) else "∞"


def representation_markdown(
    probes: Sequence[ProbeRow],
    supervised: Sequence[Mapping[str, Any]],
    invariance: Sequence[Invariance],
    anomaly: Sequence[AnomalyRow],
) -> str:
    """The tables: linear probes beside the supervised taggers; invariance; anomaly score."""
    lines = [
        "Linear probes (logistic regression) on FILES, each signal against QCD, with the "
        "supervised taggers on the same jets:",
        "",
        "| signal vs QCD | classifier | AUC | R50 | probe trained on | N sig | N bkg |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for signal in SIGNALS:
        for r in (p for p in probes if p.signal == signal):
            lines.append(
                f"| {signal} | {r.features} | {r.auc:.4f} ± {r.auc_err:.4f} | "
                f"{_r(r.r50, r.r50_err)} | {r.n_train} | {r.n_signal} | {r.n_background} |"
            )
        for s in (s for s in supervised if s["signal"] == signal):
            lines.append(
                f"| {signal} | `{s['tagger']}` (supervised) | "
                f"{s['auc']:.4f} ± {s['auc_err']:.4f} | "
                f"{_r(s['r50'], s['r50_err'])} | — | {s['n_signal']} | {s['n_background']} |"
            )
    lines += [
        "",
        "Invariance: mean cosine similarity (± standard deviation over jets) between the "
        "embedding of a jet and that of its transformed copy (embeddings centred on the "
        f"mean of the {INVARIANCE_JETS} jets checked):",
        "",
        "| transformation | trained to ignore | cosine similarity |",
        "|---|---|---|",
    ]
    for v in invariance:
        trained = {True: "yes", False: "no", None: "(reference)"}[v.trained]
        lines.append(f"| {v.transformation} | {trained} | {v.cosine:.3f} ± {v.cosine_err:.3f} |")
    if anomaly:
        lines += ["", "Anomaly score on the representation, on the same jets:", ""]
        lines.append(anomaly_markdown(anomaly, []).rstrip())
    return "\n".join(lines) + "\n"


def write_representation(
    output: Path, report: RepresentationReport, info: Mapping[str, Any]
) -> tuple[Path, Path]:
    """``representation.md`` and ``representation.json`` in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    md = output / "representation.md"
    js = output / "representation.json"
    inputs = ", ".join(f"`{d}` ({n} files)" for d, n in dict(info.get("inputs", {})).items())
    probe = ", ".join(f"`{d}` ({n} files)" for d, n in dict(info.get("probe_inputs", {})).items())
    lo, hi = info.get("pt_range", ("?", "?"))
    md.write_text(
        f"# Representation `{info.get('plugin')}`\n\n"
        f"{info.get('jets', '?')} FatJets ({lo} < pT < {hi} GeV, |η| < {info.get('eta_max')}, "
        f"truth top, W or QCD) of FILES, every event: {inputs}. Probes fitted on the "
        f"{info.get('probe_split')} split of {probe} ({info.get('probe_jets')} jets). "
        f"EFPs: d ≤ {EFP_DEGREE}, {info.get('n_efps')} polynomials of the same constituents. "
        f"Bootstrap: {info.get('n_bootstrap')} resamplings. Supervised taggers: "
        f"{info.get('supervised_source')}. Reproduce with `{info.get('command', '')}`.\n\n"
        + representation_markdown(
            report.probes, report.supervised, report.invariance, report.anomaly
        )
    )
    js.write_text(
        json.dumps(
            {
                "info": dict(info),
                "probes": [asdict(p) for p in report.probes],
                "supervised": report.supervised,
                "invariance": [asdict(v) for v in report.invariance],
                "anomaly": [asdict(a) for a in report.anomaly],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return md, js


_REPORT_KEYS = frozenset(
    ("tagger", "signal", "pt_bin", "auc", "auc_err", "r50", "r50_err", "n_signal", "n_background")
)


def load_supervised(report: Path) -> list[dict[str, Any]]:
    """The rows of a taggers-section ``validation.json``; one-line errors for anything else."""
    try:
        data = json.loads(report.read_text())
    except FileNotFoundError:
        msg = f"--supervised {report}: no such file"
        raise JetplugError(msg) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        msg = f"--supervised {report}: not a JSON report ({type(e).__name__}: {e})"
        raise JetplugError(msg) from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or any(
        not isinstance(r, dict) or not r.keys() >= _REPORT_KEYS for r in rows
    ):
        msg = (
            f"--supervised {report}: not the validation.json of jetplug validate's taggers "
            f"section (rows with {sorted(_REPORT_KEYS)})"
        )
        raise JetplugError(msg)
    return rows


def supervised_rows(
    report: Path, taggers: Sequence[str], n_jets: Mapping[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """The supervised taggers' rows (all pT bins) of a ``jetplug validate`` JSON report.

    Only rows whose signal and background counts equal ``n_jets[signal]`` (the
    same jets) are kept.
    """
    out = []
    for r in load_supervised(report):
        base = r["tagger"].split("[")[0]
        if base not in taggers or not r["pt_bin"].endswith("(all)"):
            continue
        if r["signal"] not in n_jets or (r["n_signal"], r["n_background"]) != n_jets[r["signal"]]:
            continue
        out.append(
            {k: r[k] for k in ("tagger", "signal", "auc", "auc_err", "r50", "r50_err")}
            | {"n_signal": r["n_signal"], "n_background": r["n_background"]}
        )
    return out
