"""Backend specs: the §2.4 values, name resolution and lab-defined specs loaded from JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.backends import (
    BACKENDS,
    BackendSpec,
    UnknownBackendError,
    get_backend,
    load_backend_specs,
)
from tests.contracts.helpers import LAB_BACKENDS, lab_backend


def test_registry_has_the_four_families() -> None:
    assert list(BACKENDS) == ["fermions", "singlequdit", "multiqudit", "rydberg"]


@pytest.mark.parametrize("name", ["fermions", "shotline_fermions_simulator"])
def test_get_backend_resolves_display_and_full_names(name: str) -> None:
    assert get_backend(name) is BACKENDS["fermions"]


@pytest.mark.parametrize("name", ["bosons", "alqor_fermions_simulator",
                                  "shotline_fermions_hardware", "shotline_fermions", "",
                                  "shotline_fermions_simulator_x"])
def test_get_backend_rejects_unknown_names(name: str) -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_backend(name)
    assert isinstance(info.value, LookupError)
    assert "fermions" in str(info.value)


def test_family_values_follow_the_wire_contract() -> None:
    fermions, single, multi, rydberg = (BACKENDS[n] for n in BACKENDS)
    assert (fermions.num_wires, fermions.num_species, fermions.wire_order) == (8, 2, "interleaved")
    assert fermions.accepted_wire_orders == ("interleaved",)
    assert fermions.instruction("fhop").reachable_couplings() == [
        [0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    assert fermions.instruction("fphase").reachable_couplings() == [
        [0, 1], [2, 3], [4, 5], [6, 7]]
    assert (single.num_wires, single.version, single.wire_order) == (1, "0.3", "sequential")
    assert single.instruction("rlz2").params[0].max == pytest.approx(20 * math.pi)
    assert single.instruction("load").integer_params
    assert (multi.num_wires, multi.version, multi.max_hilbert_dimension) == (5, "0.2", 4096)
    assert [p.name for p in multi.instruction("multiqudit_full").params] == [
        "omega", "delta", "chi", "Jxy", "Jzz"]
    assert (rydberg.num_wires, rydberg.version) == (5, "0.3")
    # qlued published 1e6 shots per experiment; a job here holds the apparatus for at most
    # max_job_shots, so an experiment alone can have no more (the client checks max_shots).
    assert {(s.max_shots, s.max_job_shots) for s in BACKENDS.values()} == {(2000, 2000)}
    assert {s.max_experiments for s in BACKENDS.values()} == {1000}


def test_rydberg_blockade_is_an_alias_of_rydberg_block() -> None:
    rydberg = BACKENDS["rydberg"]
    assert rydberg.instruction("rydberg_blockade") is rydberg.instruction("rydberg_block")
    assert rydberg.instruction("rydberg_block").name == "rydberg_block"


def test_a_lab_adds_a_hardware_backend_by_configuration() -> None:
    mot = lab_backend("mot")
    assert mot.backend_name == "shotline_mot_hardware"
    assert (mot.max_shots, mot.num_wires, mot.simulator) == (100, 1, False)
    registry = BACKENDS.with_specs([mot])
    assert registry.resolve("shotline_mot_hardware") is mot
    assert "mot" not in BACKENDS  # the built-in registry is untouched


def test_loader_accepts_a_plain_list(tmp_path: Path) -> None:
    specs = json.loads(LAB_BACKENDS.read_text())["backends"]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(specs))
    assert [s.display_name for s in load_backend_specs(path)] == ["mot", "nali"]


def test_registry_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="two backends"):
        BACKENDS.with_specs([BACKENDS["fermions"]])


def _mot_dict() -> dict:
    return json.loads(LAB_BACKENDS.read_text())["backends"][0]


@pytest.mark.parametrize("change", [
    {"display_name": "MOT"},                                  # not [a-z0-9]
    {"max_shots": 0},
    {"typo_field": 1},                                        # extra keys are refused
    {"wire_order": "interleaved", "accepted_wire_orders": ["sequential"]},
    {"instructions": [{"name": "load", "min_wires": 2, "max_wires": 1}]},
    {"instructions": [{"name": "g", "min_wires": 1, "max_wires": 1, "coupling_map": [[3]]}]},
    {"instructions": [{"name": "m", "min_wires": 1, "max_wires": 1},
                      {"name": "m", "min_wires": 1, "max_wires": 1}]},
    {"instructions": [{"name": "g", "min_wires": 1, "max_wires": 1,
                       "params": [{"name": "x", "min": 1, "max": 0}]}]},
])
def test_invalid_specs_are_refused(change: dict) -> None:
    with pytest.raises(ValidationError):
        BackendSpec.model_validate({**_mot_dict(), **change})
