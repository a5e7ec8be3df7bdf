"""Job payload contract: the wire form, numeric experiment order and structural bounds."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from contracts.job import MAX_INSTRUCTIONS, Experiment, Instruction, JobPayload, experiment_index
from tests.contracts.helpers import fixture


def test_instruction_parses_and_dumps_the_wire_triple() -> None:
    ins = Instruction.model_validate(["fhop", [0, 1, 2, 3], [0.785]])
    assert (ins.name, ins.wires, ins.params) == ("fhop", (0, 1, 2, 3), (0.785,))
    assert ins.model_dump() == ["fhop", [0, 1, 2, 3], [0.785]]
    assert json.loads(ins.model_dump_json()) == ["fhop", [0, 1, 2, 3], [0.785]]


def test_instruction_accepts_the_sqooler_object_form() -> None:
    ins = Instruction.model_validate({"name": "measure", "wires": [2], "params": []})
    assert ins.model_dump() == ["measure", [2], []]


def test_instruction_keeps_integer_params_as_ints() -> None:
    assert Instruction.model_validate(["load", [0], [50]]).model_dump() == ["load", [0], [50]]


@pytest.mark.parametrize("bad", [
    ["fhop", [0]],                      # two items
    ["fhop", [0], [0.1], "extra"],      # four items
    [3, [0], []],                       # name not a string
    ["fhop", [True], []],               # bool is not a wire
    ["fhop", [0], ["0.1"]],             # string param
    ["fhop", [0], [True]],              # bool param
    ["x" * 33, [0], []],                # name too long
])
def test_instruction_rejects_malformed_triples(bad: list) -> None:
    with pytest.raises(ValidationError):
        Instruction.model_validate(bad)


def test_instruction_rejects_nan_and_infinity() -> None:
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValidationError, match="not a finite number"):
            Instruction.model_validate(["rlx", [0], [value]])


def test_experiment_ignores_extra_keys_and_defaults_optional_ones() -> None:
    exp = Experiment.model_validate(
        {"instructions": [], "shots": 1, "num_wires": 1, "color": "blue"}
    )
    assert exp.wire_order is None and exp.seed is None
    assert exp.to_wire() == {"instructions": [], "shots": 1, "num_wires": 1}


def test_experiment_bounds_the_instruction_count() -> None:
    body = {"instructions": [["measure", [0], []]] * (MAX_INSTRUCTIONS + 1),
            "shots": 1, "num_wires": 1}
    with pytest.raises(ValidationError, match="at most 2000"):
        Experiment.model_validate(body)


def test_payload_orders_experiments_numerically() -> None:
    body = {"instructions": [], "shots": 1, "num_wires": 1}
    payload = JobPayload.model_validate({f"experiment_{n}": body for n in (10, 2, 1, 0)})
    assert payload.keys() == ["experiment_0", "experiment_1", "experiment_2", "experiment_10"]
    assert list(payload) == payload.keys()
    assert list(payload.to_wire()) == payload.keys()


def test_eleven_experiment_fixture_keeps_numeric_order() -> None:
    raw = fixture("qlued_v2_fermions_showcase.job_hop_11_experiments.json")
    payload = JobPayload.model_validate(raw)
    assert payload.keys() == [f"experiment_{n}" for n in range(11)]
    assert payload.to_wire() == raw


@pytest.mark.parametrize("key", ["experiment_", "experiment_01", "experiment_-1", "exp_0",
                                 "experiment_٣", "experiment_1 "])
def test_payload_rejects_bad_keys(key: str) -> None:
    with pytest.raises(ValidationError):
        JobPayload.model_validate({key: {"instructions": [], "shots": 1, "num_wires": 1}})
    with pytest.raises(ValueError):
        experiment_index(key)


def test_payload_schema_publishes_the_wire_triple() -> None:
    schema = JobPayload.model_json_schema()
    instruction = schema["$defs"]["Instruction"]
    assert instruction["type"] == "array" and len(instruction["prefixItems"]) == 3
