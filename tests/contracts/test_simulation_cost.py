"""The simulation cost model and its enforcement at validation."""

from __future__ import annotations

import pytest

from contracts.backends.cost import simulation_cost
from contracts.backends.registry import get_backend
from contracts.configuration import backend_configuration
from contracts.job import Instruction
from contracts.validation import JobRejected, Rule, validate_job

FULL = 5e6 * 3.141592653589793


def _loads(*atoms: int) -> list[Instruction]:
    return [Instruction(name="load", wires=(w,), params=(n,)) for w, n in enumerate(atoms)]


def test_generator_gate_costs_the_cube_of_its_wires_dimension() -> None:
    gate = Instruction(name="multiqudit_full", wires=(0, 1), params=(1.0,) * 5)
    assert simulation_cost(2, [*_loads(63, 63), gate]) == 4096**3
    assert simulation_cost(2, [*_loads(63, 63), gate, gate]) == 2 * 4096**3


def test_local_gate_costs_register_times_wire_dimension() -> None:
    gate = Instruction(name="rlx", wires=(0,), params=(1.0,))
    assert simulation_cost(2, [*_loads(9, 3), gate]) == 40 * 10


def _job(instructions: list[list]) -> dict:
    return {"experiment_0": {"instructions": instructions, "shots": 1, "num_wires": 2}}


def test_over_cost_experiment_is_rejected_naming_the_bound() -> None:
    spec = get_backend("multiqudit")
    gate = ["multiqudit_full", [0, 1], [FULL] * 5]
    raw = _job([["load", [0], [63]], ["load", [1], [63]], *[gate] * 1990,
                ["measure", [0], []]])
    with pytest.raises(JobRejected) as caught:
        validate_job(spec, raw)
    (violation,) = caught.value.violations
    assert violation.rule == Rule.SIMULATION_COST
    assert violation.experiment == "experiment_0"
    assert f"{spec.max_simulation_cost:.3g}" in violation.message


def test_normal_multiqudit_job_is_under_the_bound() -> None:
    spec = get_backend("multiqudit")
    raw = _job([["load", [0], [20]], ["load", [1], [20]],
                ["multiqudit_full", [0, 1], [1.0] * 5], ["measure", [0], []]])
    assert validate_job(spec, raw)


def test_bound_is_published_in_get_config() -> None:
    spec = get_backend("multiqudit")
    config = backend_configuration(spec, "http://x")
    assert config["max_simulation_cost"] == spec.max_simulation_cost == 10**10
