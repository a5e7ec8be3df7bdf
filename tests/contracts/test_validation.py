"""validate_job: real fixtures, one case per rule code, and the quirks of the real clients."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.backends import BACKENDS, BackendSpec
from contracts.validation import MAX_VIOLATIONS, JobRejected, Rule, validate_job
from tests.contracts.helpers import fixture, lab_backend

FERMIONS, SINGLEQUDIT, MULTIQUDIT, RYDBERG = (BACKENDS[n] for n in BACKENDS)


#: A lab backend whose bounds let a job's result outgrow one message.
WIDE = BACKENDS["fermions"].model_copy(
    update={"num_wires": 64, "max_shots": 10**6, "max_job_shots": 10**6})


def experiment(instructions: list, **extra: Any) -> dict[str, Any]:
    return {"instructions": instructions, "shots": 3, "num_wires": 8, **extra}


def rejected(spec: BackendSpec, raw: Any) -> JobRejected:
    with pytest.raises(JobRejected) as info:
        validate_job(spec, raw)
    return info.value


# --- real fixtures -------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "qlued_v2_fermions_showcase.job_load_measure.json",
    "qlued_v2_fermions_showcase.job_hop_11_experiments.json",
])
def test_qlued_fermion_jobs_validate_unchanged(name: str) -> None:
    raw = fixture(name)
    assert validate_job(FERMIONS, raw).to_wire() == raw


def test_eleven_experiments_come_back_in_numeric_order() -> None:
    raw = fixture("qlued_v2_fermions_showcase.job_hop_11_experiments.json")
    payload = validate_job(FERMIONS, raw)
    keys = payload.keys()
    assert keys.index("experiment_2") < keys.index("experiment_10") == 10


def test_capitalised_legacy_names_are_rejected_on_singlequdit_with_a_hint() -> None:
    # Decision: names are case-sensitive. `rLx` is the 2021 qsimsim spelling; pennylane-ls
    # and qiskit-cold-atom send `rlx`. A clear hint beats silently aliasing history.
    error = rejected(SINGLEQUDIT, fixture("qlue_legacy_singlequdit_showcase.job_with_seed.json"))
    assert [(v.rule, v.experiment, v.instruction_index) for v in error.violations] == [
        (Rule.UNKNOWN_INSTRUCTION, "experiment_0", 0)]
    assert "did you mean 'rlx'" in error.violations[0].message


def test_lowercased_legacy_job_validates_on_singlequdit_and_keeps_its_seed() -> None:
    raw = fixture("qlue_legacy_singlequdit_showcase.job_with_seed.json")
    raw["experiment_0"]["instructions"][0][0] = "rlx"
    experiment_0 = validate_job(SINGLEQUDIT, raw)["experiment_0"]
    assert experiment_0.seed == 12345 and experiment_0.wire_order == "sequential"


def test_django_labscript_job_is_rejected_by_singlequdit_for_each_reason() -> None:
    error = rejected(SINGLEQUDIT, fixture("labscript_qc_django.job_rLx_two_experiments.json"))
    assert {v.rule for v in error.violations} == {
        Rule.UNKNOWN_INSTRUCTION, Rule.WIRE_RANGE, Rule.NUM_WIRES}
    assert {v.experiment for v in error.violations} == {"experiment_0", "experiment_1"}


@pytest.mark.parametrize("name", [
    "labscript_qc_django.job_rLx_two_experiments.json",
    "qlue_legacy_singlequdit_showcase.job_with_seed.json",
    "eggerdj_backends_design.job_example_NaLi.json",
])
def test_historical_nali_jobs_validate_against_a_configured_nali_backend(name: str) -> None:
    raw = fixture(name)
    assert validate_job(lab_backend("nali"), raw).to_wire() == {
        key: {**body, "wire_order": "sequential"} for key, body in raw.items()}


def test_nali_design_job_is_not_runnable_on_the_simulators() -> None:
    raw = fixture("eggerdj_backends_design.job_example_NaLi.json")
    for spec in BACKENDS.values():
        rules = {(v.rule, v.instruction_index) for v in rejected(spec, raw).violations}
        assert (Rule.UNKNOWN_INSTRUCTION, 0) in rules and (Rule.UNKNOWN_INSTRUCTION, 1) in rules


# --- one case per rule -----------------------------------------------------------------------

FHOP = ["fhop", [0, 1, 2, 3], [0.5]]
CASES: list[tuple[Rule, BackendSpec, Any, str | None, int | None, str]] = [
    (Rule.MALFORMED, FERMIONS, {"experiment_0": experiment([FHOP], shots="many")},
     "experiment_0", None, "experiment_0: shots"),
    (Rule.MALFORMED, FERMIONS, {"experiment_0": experiment([["fhop", [0, 1]]])},
     "experiment_0", 0, "experiment_0, instruction 0 (fhop): an instruction is [name, [wires], "
     "[params]]"),
    (Rule.EMPTY_JOB, FERMIONS, {}, None, None, "the job has no experiments"),
    (Rule.EXPERIMENT_KEY, FERMIONS, {"circuit_0": experiment([])}, None, None, "'circuit_0'"),
    (Rule.EXPERIMENT_LIMIT, lab_backend("nali"),
     {f"experiment_{n}": experiment([], num_wires=1) for n in range(4)},
     None, None, "4 experiments exceed the limit of 3"),
    (Rule.EXPERIMENT_LIMIT, FERMIONS, {"experiment_1001": experiment([])},
     "experiment_1001", None, "experiment_1001: experiment index 1001 exceeds"),
    (Rule.TOO_MANY_INSTRUCTIONS, FERMIONS, {"experiment_0": experiment([FHOP] * 2001)},
     "experiment_0", None, "experiment_0: instructions"),
    (Rule.SHOTS_LIMIT, FERMIONS, {"experiment_0": experiment([], shots=2001)},
     "experiment_0", None, "experiment_0: shots 2001 exceed the limit of 2000"),
    (Rule.NUM_WIRES, FERMIONS, {"experiment_0": experiment([], num_wires=9)},
     "experiment_0", None, "experiment_0: num_wires 9 exceeds the backend's 8 wires"),
    (Rule.WIRE_ORDER, FERMIONS, {"experiment_0": experiment([], wire_order="sequential")},
     "experiment_0", None, "experiment_0: wire_order 'sequential' is not supported: fermions "
     "wires are interleaved"),
    (Rule.UNKNOWN_INSTRUCTION, FERMIONS, {"experiment_0": experiment([FHOP, ["rlx", [0], [1.0]]])},
     "experiment_0", 1, "experiment_0, instruction 1 (rlx): unknown instruction 'rlx' for "
     "fermions"),
    (Rule.WIRE_COUNT, FERMIONS, {"experiment_0": experiment([["measure", [0, 1], []]])},
     "experiment_0", 0, "experiment_0, instruction 0 (measure): takes 1 wire(s), got 2: [0, 1]; "
     "send one instruction per wire"),
    (Rule.WIRE_RANGE, FERMIONS, {"experiment_0": experiment([["measure", [8], []]])},
     "experiment_0", 0, "experiment_0, instruction 0 (measure): wires [8] are outside 0..7"),
    (Rule.COUPLING_MAP, FERMIONS,
     {"experiment_3": experiment([["load", [0], []], FHOP, ["fhop", [0, 1, 2, 5], [0.1]]])},
     "experiment_3", 2, "experiment_3, instruction 2 (fhop): wires [0, 1, 2, 5] are not in the "
     "coupling map [[0,1,2,3],[2,3,4,5],[4,5,6,7]]"),
    (Rule.PARAM_COUNT, FERMIONS, {"experiment_0": experiment([["fhop", [0, 1, 2, 3], [0.1, 0.2]]])},
     "experiment_0", 0, "experiment_0, instruction 0 (fhop): takes 0..1 parameter(s), got 2"),
    (Rule.PARAM_TYPE, MULTIQUDIT, {"experiment_0": experiment([["load", [0], [2.5]]], num_wires=1)},
     "experiment_0", 0, "experiment_0, instruction 0 (load): parameter num_atoms = 2.5 must be an "
     "integer"),
    (Rule.PARAM_RANGE, RYDBERG, {"experiment_0": experiment([["rlx", [0], [7.0]]], num_wires=5)},
     "experiment_0", 0, "experiment_0, instruction 0 (rlx): parameter 0 (omega) = 7.0 is outside "
     "[0, 6.28319]"),
    (Rule.NOT_FINITE, RYDBERG,
     {"experiment_0": experiment([["rlx", [0], [float("nan")]]], num_wires=5)},
     "experiment_0", 0, "experiment_0, instruction 0 (rlx): params: parameter nan is not a finite"),
    (Rule.HILBERT_DIMENSION, MULTIQUDIT,
     {"experiment_0": experiment([["load", [w], [500]] for w in range(2)], num_wires=2)},
     "experiment_0", None,
     "experiment_0: Hilbert-space dimension 251001 exceeds the limit of 4096"),
    (Rule.SIMULATION_COST, MULTIQUDIT,
     {"experiment_0": experiment([["load", [0], [63]], ["load", [1], [63]],
                                  ["multiqudit_full", [0, 1], [1.0] * 5]], num_wires=2)},
     "experiment_0", None,
     "experiment_0: estimated simulation cost 6.87e+10 exceeds the limit of 1e+10"),
    (Rule.JOB_SHOTS, FERMIONS, {f"experiment_{i}": experiment([], shots=1000) for i in range(3)},
     None, None, "3000 shots in all exceed the limit of 2000 per job for fermions "
     "(max_job_shots in get_config)"),
    (Rule.RESULT_SIZE, WIDE, {f"experiment_{i}": experiment([], shots=100_000, num_wires=64)
                              for i in range(3)},
     None, None, "the result of this job could reach 81612288 bytes, over the limit of 4128768"),
]


@pytest.mark.parametrize(("rule", "spec", "raw", "where", "index", "message"), CASES,
                         ids=[f"{case[0]}-{n}" for n, case in enumerate(CASES)])
def test_each_rule_is_reported_with_its_code_and_location(
    rule: Rule, spec: BackendSpec, raw: Any, where: str | None, index: int | None, message: str
) -> None:
    error = rejected(spec, raw)
    violation = next(v for v in error.violations if v.rule == rule)
    assert (violation.experiment, violation.instruction_index) == (where, index)
    assert message in violation.message
    assert f"[{rule}]" in str(error)


def test_every_rule_code_has_a_case() -> None:
    assert {case[0] for case in CASES} == set(Rule)


def test_coupling_message_matches_the_documented_example_exactly() -> None:
    raw = {"experiment_3": experiment([["load", [0], []], FHOP, ["fhop", [0, 1, 2, 5], [0.1]]])}
    [violation] = rejected(FERMIONS, raw).violations
    assert violation.message == ("experiment_3, instruction 2 (fhop): wires [0, 1, 2, 5] are not "
                                 "in the coupling map [[0,1,2,3],[2,3,4,5],[4,5,6,7]]")


def test_non_object_job_is_malformed() -> None:
    assert rejected(FERMIONS, [1, 2]).violations[0].rule == Rule.MALFORMED


def test_several_violations_are_collected_and_bounded() -> None:
    bad = ["fhop", [0, 1, 2, 5], [0.1]]
    error = rejected(FERMIONS, {"experiment_0": experiment([bad] * 50)})
    assert len(error.violations) == MAX_VIOLATIONS and error.truncated
    assert [v.instruction_index for v in error.violations] == list(range(MAX_VIOLATIONS))


def test_hilbert_limit_counts_unloaded_wires_as_two() -> None:
    # Two wires of 31 atoms: 32 * 32 = 1024 fits. Declared as 5 wires, the 3 unloaded ones
    # count 2 each (sqooler's rule): 1024 * 2**3 = 8192 > 4096.
    ok = [["load", [0], [31]], ["load", [1], [31]]]
    assert validate_job(MULTIQUDIT, {"experiment_0": experiment(ok, num_wires=2)})
    error = rejected(MULTIQUDIT, {"experiment_0": experiment(ok, num_wires=5)})
    assert error.violations[0].rule == Rule.HILBERT_DIMENSION


# --- normalisation and client quirks ---------------------------------------------------------

def test_rydberg_blockade_is_normalised_to_rydberg_block() -> None:
    raw = {"experiment_0": experiment([["rydberg_blockade", [0, 1, 2, 3, 4], [0.5]]], num_wires=5)}
    payload = validate_job(RYDBERG, raw)
    assert payload["experiment_0"].instructions[0].name == "rydberg_block"


def test_qiskit_float_atom_numbers_become_ints() -> None:
    raw = {"experiment_0": experiment([["load", [0], [50.0]], ["rlx", [0], [0.5]]], num_wires=1)}
    assert validate_job(SINGLEQUDIT, raw)["experiment_0"].instructions[0].params == (50,)


def test_qiskit_measure_all_shape_is_accepted() -> None:
    # measure_all(): a barrier over every wire, then one measure per wire.
    instructions = [["load", [0], []], FHOP, ["barrier", list(range(8)), []],
                    *[["measure", [w], []] for w in range(8)]]
    raw = {"experiment_0": experiment(instructions, wire_order="interleaved")}
    assert validate_job(FERMIONS, raw).to_wire() == raw


def test_pennylane_fermion_job_with_num_wires_one_is_accepted() -> None:
    # pennylane-ls sends num_wires 1 whatever wires it uses, and barriers without wires.
    instructions = [["load", [0], []], ["load", [7], []], ["fhop", [4, 5, 6, 7], [1.2]],
                    ["barrier", [], []], *[["measure", [w], []] for w in range(8)]]
    raw = {"experiment_0": experiment(instructions, num_wires=1, wire_order="interleaved")}
    assert validate_job(FERMIONS, raw).to_wire() == raw


def test_pennylane_multiqudit_job_without_wire_order_gets_the_default() -> None:
    instructions = [["load", [0], [10]], ["load", [1], [10]], ["rlzlz", [0, 1], [0.3]],
                    ["measure", [0], []], ["measure", [1], []]]
    payload = validate_job(MULTIQUDIT, {"experiment_0": experiment(instructions, num_wires=2)})
    assert payload["experiment_0"].wire_order == MULTIQUDIT.wire_order == "sequential"


def test_pennylane_singlequdit_job_is_accepted() -> None:
    instructions = [["load", [0], [50]], ["rlx", [0], [3.14]], ["rlz2", [0], [0.4]],
                    ["measure", [0], []]]
    raw = {"experiment_0": experiment(instructions, num_wires=1, wire_order="interleaved")}
    assert validate_job(SINGLEQUDIT, raw).to_wire() == raw


def test_fermion_job_without_wire_order_defaults_to_interleaved() -> None:
    payload = validate_job(FERMIONS, {"experiment_0": experiment([FHOP])})
    assert payload["experiment_0"].wire_order == "interleaved"


def test_mot_hardware_limits_shots_to_one_hundred() -> None:
    mot = lab_backend("mot")
    ok = {"experiment_0": experiment([["load", [0], [100]], ["measure", [0], []]], num_wires=1,
                                     shots=100)}
    assert validate_job(mot, ok)
    ok["experiment_0"]["shots"] = 101
    assert rejected(mot, ok).violations[0].rule == Rule.SHOTS_LIMIT


def test_a_load_on_several_wires_becomes_one_load_per_wire():
    # qiskit-cold-atom's qc.fload([0, 4]) sends a single load on both wires.
    job = validate_job(FERMIONS, {"experiment_0": experiment(
        [["load", [0, 4], []], ["measure", [0], []], ["measure", [4], []]])})
    assert [list(i.wires) for i in job["experiment_0"].instructions if i.name == "load"] == [[0], [4]]
