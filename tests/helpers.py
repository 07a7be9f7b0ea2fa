"""Build test inputs from the real CMS files: copies with chosen branches, corrupt baskets."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import awkward as ak
import uproot

FATJET_FIELDS = (
    "pt",
    "eta",
    "phi",
    "mass",
    "msoftdrop",
    "tau1",
    "tau2",
    "tau3",
    "tau4",
    "n2b1",
    "n3b1",
)


EVENT_BRANCHES = ("run", "luminosityBlock", "event", "genWeight")


def copy_fatjets(
    src: Path,
    dst: Path,
    fields: Sequence[str] = FATJET_FIELDS,
    *,
    step: int = 50,
    values: Mapping[str, Mapping[int, float]] | None = None,
    event: Sequence[str] = EVENT_BRANCHES,
) -> Path:
    """Write a NanoAOD-layout copy of ``src`` with only ``FatJet_<fields>`` and ``event``.

    ``step`` events per ``extend`` call, i.e. per basket, so that a file has
    several baskets (and chunks can fail independently). ``values`` sets
    chosen entries: ``{field: {index of the FatJet in the whole file: value}}``
    (e.g. NaN or inf).
    """
    tree = uproot.open(src)["Events"]
    arrays = tree.arrays([f"FatJet_{f}" for f in fields] + list(event))
    jets = {f: arrays[f"FatJet_{f}"] for f in fields}
    for name, changes in (values or {}).items():
        flat = ak.to_numpy(ak.flatten(jets[name])).copy()
        for index, value in changes.items():
            flat[index] = value
        jets[name] = ak.unflatten(flat, ak.num(jets[name]))
    data = {
        **{b: arrays[b] for b in event},
        "FatJet": ak.zip(jets),
    }
    with uproot.recreate(dst) as f:
        out = f.mktree("Events", {k: v.type.content for k, v in data.items()})
        for start in range(0, len(arrays), step):
            out.extend({k: v[start : start + step] for k, v in data.items()})
    return dst


def write_events(
    path: Path, tree: str, src: Path, *, rntuple: bool = False, drop: Sequence[str] = ()
) -> Path:
    """A copy of ``src``'s event numbers, genWeight, primary vertex and FatJets in ``tree``.

    ``rntuple``: written as an RNTuple (uproot >= 5.7 does on plain assignment),
    else as a TTree. ``drop``: branches left out (e.g. ``genWeight``, for data).
    """
    branches = uproot.open(src)["Events"].keys()
    names = ["run", "luminosityBlock", "event", "genWeight", "nFatJet"]
    names += [b for b in branches if b.startswith(("FatJet_", "PV_"))]
    names = [n for n in names if n not in drop]
    arrays = uproot.open(src)["Events"].arrays(names)
    with uproot.recreate(path) as f:
        if rntuple:
            f[tree] = {k: arrays[k] for k in names}
        else:
            data = {k: arrays[k] for k in names if not k.startswith(("FatJet_", "nFatJet"))}
            data["FatJet"] = ak.zip({b[7:]: arrays[b] for b in names if b.startswith("FatJet_")})
            f.mktree(tree, {k: v.type.content for k, v in data.items()}).extend(data)
    return path


def corrupt_basket(path: Path, branch: str, basket: int) -> None:
    """Overwrite the tail of one basket's compressed payload with garbage."""
    b = uproot.open(path)["Events"][branch]
    seek = int(b.member("fBasketSeek")[basket])
    nbytes = int(b.member("fBasketBytes")[basket])
    with path.open("r+b") as f:
        f.seek(seek + nbytes - 40)
        f.write(b"\xff" * 40)


def tagger_outputs(path: Path, plugin: str) -> tuple[ak.Array, ak.Array]:
    """``(events, events.FatJet.<plugin>)`` after running ``plugin`` on a PFNano file."""
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    from jetplug import PluginHost
    from jetplug.chain import PluginChain
    from jetplug.config import PluginConfig

    events = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
    ).events()
    out = PluginChain([PluginConfig(plugin)], PluginHost()).apply(events).FatJet[plugin]
    return events, out


def jetplug_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m jetplug ARGS`` in a fresh process (its exit status and output as a user
    sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "jetplug", *args], capture_output=True, text=True, check=False
    )
