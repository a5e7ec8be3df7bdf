"""get_config: the v2 shape, Qiskit's required keys, and parity with the qlued 2023 fixture."""

from __future__ import annotations

import pytest

from contracts.backends import BACKENDS, BackendSpec
from contracts.configuration import BackendConfiguration, backend_configuration
from tests.contracts.helpers import fixture, lab_backend

QISKIT_REQUIRED = {"backend_name", "backend_version", "n_qubits", "basis_gates", "gates", "local",
                   "simulator", "conditional", "open_pulse", "memory", "max_shots", "coupling_map"}
GATE_KEYS = {"coupling_map", "description", "name", "parameters", "qasm_def"}
SPECS = [*BACKENDS.values(), lab_backend("mot")]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.display_name)
def test_config_has_the_keys_qiskit_and_qiskit_cold_atom_read(spec: BackendSpec) -> None:
    config = backend_configuration(spec, "https://lab.example.org")
    assert QISKIT_REQUIRED <= set(config)
    assert {"cold_atom_type", "supported_instructions", "num_species", "wire_order",
            "max_experiments", "url", "display_name", "description"} <= set(config)
    assert all(set(gate) == GATE_KEYS for gate in config["gates"])
    assert config["basis_gates"] == [gate["name"] for gate in config["gates"]]
    assert set(config["basis_gates"]) <= set(config["supported_instructions"])
    assert config["cold_atom_type"] in {"fermion", "spin"}
    assert config["n_qubits"] == spec.num_wires
    assert BackendConfiguration.model_validate(config).model_dump(mode="json") == config


def test_url_is_the_v2_url_of_the_full_backend_name() -> None:
    for base in ("https://lab.example.org", "https://lab.example.org/"):
        config = backend_configuration(BACKENDS["fermions"], base)
        assert config["url"] == "https://lab.example.org/api/v2/shotline_fermions_simulator/"


def test_fermion_config_matches_the_qlued_v2_fixture_shape() -> None:
    real = fixture("qlued_v2_fermions_showcase.get_config.response.json")
    ours = backend_configuration(BACKENDS["fermions"], "https://qlued.alqor.io")
    # Exactly the fixture's keys plus shotline's own published limits (clients ignore extra keys).
    assert set(ours) == set(real) | {"max_simulation_cost", "max_job_shots", "max_shot_seconds"}
    assert ours["gates"] == real["gates"]
    same = ("basis_gates", "cold_atom_type", "num_species", "wire_order", "n_qubits",
            "max_experiments", "coupling_map", "description", "display_name")
    assert {k: ours[k] for k in same} == {k: real[k] for k in same}
    assert sorted(ours["supported_instructions"]) == sorted(real["supported_instructions"])


def test_rydberg_config_lists_both_blockade_names_as_gates() -> None:
    config = backend_configuration(BACKENDS["rydberg"], "https://lab.example.org")
    gates = {gate["name"]: gate for gate in config["gates"]}
    assert gates["rydberg_blockade"]["coupling_map"] == gates["rydberg_block"]["coupling_map"]
    assert {"rydberg_block", "rydberg_blockade"} <= set(config["supported_instructions"])


def test_mot_config_is_hardware() -> None:
    config = backend_configuration(lab_backend("mot"), "https://lab.example.org")
    assert (config["backend_name"], config["simulator"], config["gates"]) == (
        "shotline_mot_hardware", False, [])
    assert config["max_shots"] == 100


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.display_name)
def test_shot_time_limit_is_published_per_backend(spec: BackendSpec) -> None:
    config = backend_configuration(spec, "https://lab.example.org")
    assert config["max_shot_seconds"] == spec.max_shot_seconds == 30.0


@pytest.mark.parametrize("seconds", [0, -1.0, 3600.5])
def test_shot_time_limit_must_be_positive_and_at_most_an_hour(seconds: float) -> None:
    from pydantic import ValidationError

    spec = BACKENDS["multiqudit"]
    with pytest.raises(ValidationError, match="max_shot_seconds"):
        BackendSpec.model_validate({**spec.model_dump(), "max_shot_seconds": seconds})
