"""Padded constituents from the PFNano tables, on generated files and on CMS PFNano."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory, PFNanoAODSchema

from jetplug import ConstituentSpec, InputSpec, MissingInputError, PluginHost
from jetplug.chunk import ChunkContext
from jetplug.columns import constituents_of, gather_inputs
from jetplug.derivations import ENERGY_FRACTIONS
from jetplug.plan import ConstituentTables
from jetplug_taggers import TopBDT

SPEC = dataclasses.replace(
    TopBDT.spec,
    name="constituent_probe",
    inputs=InputSpec(
        "FatJet",
        (),
        constituents=ConstituentSpec(fields=("pt", "eta", "charge"), max_constituents=20),
    ),
)


def _events(path: Path, schema: type = PFNanoAODSchema) -> ak.Array:
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=schema, mode="eager"
    ).events()


@pytest.mark.parametrize("schema", [PFNanoAODSchema, NanoAODSchema])
def test_constituents_match_coffea_on_generated_files(
    generated: dict[str, list[Path]], schema: type
) -> None:
    events = _events(generated["ttbar"][0], schema)
    ours = constituents_of(events, ConstituentTables("FatJet", ConstituentSpec()))
    reference = _events(generated["ttbar"][0]).FatJet.constituents.pf  # needs nConstituents
    assert ak.to_list(ak.num(ours, axis=2)) == ak.to_list(ak.num(reference, axis=2))
    np.testing.assert_array_equal(
        ak.to_numpy(ak.flatten(ours.pt, axis=None)),
        ak.to_numpy(ak.flatten(reference.pt, axis=None)),
    )


def test_padded_inputs_on_real_pfnano_without_nconstituents(real_data: Path) -> None:
    events = _events(real_data / "pfnano.root")
    assert "nConstituents" not in ak.fields(events.FatJet)
    inputs, counts = gather_inputs(events, SPEC, PluginHost().derivations)
    n_jets = int(counts.sum())
    assert inputs.constituents is not None and inputs.mask is not None
    assert inputs.constituents.shape == (n_jets, 20, 3)
    table = events.FatJetPFCands
    per_jet = [
        [row.count(j) for j in range(n)]
        for row, n in zip(ak.to_list(table.jetIdx), ak.to_list(ak.num(events.FatJet)), strict=True)
    ]
    expected = np.minimum([c for row in per_jet for c in row], 20)
    np.testing.assert_array_equal(inputs.mask.sum(axis=1), expected)
    pts = inputs.constituents[..., 0]
    both = inputs.mask[:, :-1] & inputs.mask[:, 1:]
    assert np.all(pts[:, :-1][both] >= pts[:, 1:][both])  # sorted by pt, descending
    assert set(np.unique(inputs.constituents[..., 2][inputs.mask])) <= {-1.0, 0.0, 1.0}


def test_constituents_missing_on_nanoaod_is_named(real_data: Path) -> None:
    events = _events(real_data / "nano_dy.root", NanoAODSchema)  # no PF candidates at all
    with pytest.raises(
        MissingInputError,
        match=r"plugin 'constituent_probe' needs field 'FatJet constituents \(PFCands\)'.* in "
        r"file nano_dy.root .*PFNano: FatJetPFCands_jetIdx, .*; official NanoAOD \(v15\): "
        r"FatJetPFCand_jetIdx",
    ):
        gather_inputs(
            events, SPEC, PluginHost().derivations, chunk=ChunkContext(file="nano_dy.root")
        )


def test_energy_fractions_derived_from_candidates_equal_the_written_ones(
    generated: dict[str, list[Path]], real_data: Path
) -> None:
    derivations = PluginHost().derivations
    events = _events(generated["ttbar"][0])
    for name in ENERGY_FRACTIONS:  # generated files carry NanoAOD's fractions ...
        derived = derivations.get(name).func(events, "FatJet")
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(derived)),
            ak.to_numpy(ak.flatten(events.FatJet[name])),
            atol=1e-5,
        )
    total = ak.to_numpy(ak.flatten(sum(events.FatJet[n] for n in ENERGY_FRACTIONS)))
    np.testing.assert_allclose(total, 1.0, atol=1e-4)  # ... which add up to one
    assert ak.mean(events.FatJet.neHEF) > 0.02  # neutral hadrons are there

    cms = _events(real_data / "pfnano.root")  # CMS PFNano lacks them: derived
    assert "neHEF" not in ak.fields(cms.FatJet)
    fractions = {n: ak.flatten(derivations.get(n).func(cms, "FatJet")) for n in ENERGY_FRACTIONS}
    cms_total = ak.to_numpy(sum(fractions.values()))
    assert len(cms_total) == ak.sum(ak.num(cms.FatJet)) and len(cms_total) > 0
    assert np.all((cms_total > 0.5) & (cms_total <= 1 + 1e-5))  # HF candidates count in none
    assert ak.min(fractions["chHEF"]) >= 0 and ak.max(fractions["chHEF"]) > 0.3
