"""Per-backend job validation: raw JSON in, a normalised JobPayload or JobRejected out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from contracts.backends.cost import result_bytes, simulation_cost
from contracts.backends.hilbert import hilbert_dimension
from contracts.backends.spec import BackendSpec, InstructionSpec
from contracts.events import MAX_MESSAGE_BYTES
from contracts.job import Experiment, Instruction, JobPayload, experiment_index
from contracts.violations import MAX_VIOLATIONS, JobRejected, Rule, Violation, ViolationCollector

__all__ = ["MAX_VIOLATIONS", "JobRejected", "Rule", "Violation", "validate_job"]
#: What a result may take of one message; the rest is the event's envelope and header.
RESULT_BUDGET_BYTES = MAX_MESSAGE_BYTES - 64 * 1024


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def validate_job(spec: BackendSpec, raw: Any) -> JobPayload:
    """Check a decoded job against a backend and return it normalised for downstream.

    Normalisation: a missing wire_order gets the backend default, aliases become the canonical
    instruction name (`rydberg_blockade` -> `rydberg_block`), integer params become ints.

    Raises:
        JobRejected: with up to MAX_VIOLATIONS violations, in job order.
    """
    out = ViolationCollector()
    if not isinstance(raw, Mapping):
        out.add(None, None, Rule.MALFORMED, "a job must be a JSON object of experiment_<n> keys")
        raise JobRejected(out.violations)
    if not raw:
        out.add(None, None, Rule.EMPTY_JOB, "the job has no experiments")
        raise JobRejected(out.violations)
    if len(raw) > spec.max_experiments:
        # Checked before any parsing so that a huge job costs nothing more.
        out.add(None, None, Rule.EXPERIMENT_LIMIT,
                f"{len(raw)} experiments exceed the limit of {spec.max_experiments} "
                f"for {spec.display_name}")
        raise JobRejected(out.violations)

    experiments: dict[str, Experiment] = {}
    for key, body in raw.items():
        if out.full:
            out.truncated = True
            break
        if not _check_key(spec, key, out):
            continue
        experiment = _parse_experiment(key, body, out)
        if experiment is not None:
            checked = _check_experiment(spec, key, experiment, out)
            if checked is not None:
                experiments[key] = checked
    if not out.violations:
        _check_job_totals(spec, experiments, out)
    if out.violations:
        raise JobRejected(out.violations, out.truncated)
    return JobPayload(experiments)


def _check_job_totals(spec: BackendSpec, experiments: Mapping[str, Experiment],
                      out: ViolationCollector) -> None:
    """Bounds on the job as a whole: its shots, and the result message they make."""
    shots = sum(e.shots for e in experiments.values())
    if shots > spec.max_job_shots:
        out.add(None, None, Rule.JOB_SHOTS,
                f"{shots} shots in all exceed the limit of {spec.max_job_shots} per job for "
                f"{spec.display_name} (max_job_shots in get_config); split it into several jobs")
        return
    size = sum(result_bytes(e.num_wires, e.instructions, e.shots) for e in experiments.values())
    if size > RESULT_BUDGET_BYTES:
        out.add(None, None, Rule.RESULT_SIZE,
                f"the result of this job could reach {size} bytes, over the limit of "
                f"{RESULT_BUDGET_BYTES} for one result message; send fewer shots or wires per job")


def _check_key(spec: BackendSpec, key: Any, out: ViolationCollector) -> bool:
    if not isinstance(key, str):
        out.add(None, None, Rule.EXPERIMENT_KEY, f"experiment key {key!r} is not a string")
        return False
    try:
        index = experiment_index(key)
    except ValueError:
        out.add(None, None, Rule.EXPERIMENT_KEY,
                f"experiment key {key[:40]!r} is not experiment_<n> (n a decimal integer "
                f"without leading zeros)")
        return False
    if index > spec.max_experiments:
        out.add(key, None, Rule.EXPERIMENT_LIMIT,
                f"experiment index {index} exceeds the limit of {spec.max_experiments}")
        return False
    return True


def _parse_experiment(key: str, body: Any, out: ViolationCollector) -> Experiment | None:
    if not isinstance(body, Mapping):
        out.add(key, None, Rule.MALFORMED, "an experiment must be a JSON object")
        return None
    try:
        experiment = Experiment.model_validate(body)
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            _add_schema_error(key, body, detail, out)
        return None
    return _split_multi_wire_loads(experiment)


def _split_multi_wire_loads(experiment: Experiment) -> Experiment:
    """qiskit-cold-atom's `qc.fload([0, 4])` sends ONE `load` on two wires (the instruction is
    appended with the wire list as a single argument), and its client-side checks let it pass.
    It means one load per wire, so it becomes exactly that; downstream sees single-wire loads."""
    if not any(ins.name == "load" and len(ins.wires) > 1 for ins in experiment.instructions):
        return experiment
    split = [
        part
        for ins in experiment.instructions
        for part in (
            [ins.model_copy(update={"wires": (wire,)}) for wire in dict.fromkeys(ins.wires)]
            if ins.name == "load" and len(ins.wires) > 1 else [ins]
        )
    ]
    return experiment.model_copy(update={"instructions": split})


def _add_schema_error(key: str, body: Mapping[str, Any], detail: Any, out: ViolationCollector) -> None:
    loc: tuple[Any, ...] = detail["loc"]
    kind: str = detail["type"]
    field = ".".join(str(part) for part in loc)
    message = f"{field}: {detail['msg']}"
    if loc[:1] == ("instructions",) and len(loc) >= 2 and isinstance(loc[1], int):
        index: int = loc[1]
        rest = loc[2:3]
        rule = Rule.MALFORMED
        if kind == "not_finite":
            rule = Rule.NOT_FINITE
        elif rest == ("wires",):
            rule = Rule.WIRE_COUNT if kind == "too_long" else (
                Rule.WIRE_RANGE if kind == "greater_than_equal" else Rule.MALFORMED)
        elif rest == ("params",) and kind == "too_long":
            rule = Rule.PARAM_COUNT
        inner = ".".join(str(part) for part in loc[2:])
        text = f"{inner}: {detail['msg']}" if inner else detail["msg"]
        out.add_at(key, index, _raw_name(body, index), rule, text)
        return
    rule = {
        ("instructions", "too_long"): Rule.TOO_MANY_INSTRUCTIONS,
        ("shots", "greater_than_equal"): Rule.SHOTS_LIMIT,
        ("num_wires", "greater_than_equal"): Rule.NUM_WIRES,
        ("wire_order", "literal_error"): Rule.WIRE_ORDER,
    }.get((field, kind), Rule.MALFORMED)
    out.add(key, None, rule, message)


def _raw_name(body: Mapping[str, Any], index: int) -> str:
    try:
        name = body["instructions"][index][0]
    except (KeyError, IndexError, TypeError):
        return "?"
    return name if isinstance(name, str) else "?"


def _check_experiment(
    spec: BackendSpec, key: str, experiment: Experiment, out: ViolationCollector
) -> Experiment | None:
    before = len(out.violations)
    if experiment.shots > spec.max_shots:
        out.add(key, None, Rule.SHOTS_LIMIT,
                f"shots {experiment.shots} exceed the limit of {spec.max_shots}")
    # PennyLane sends num_wires 1 whatever wires it uses, so only the upper bound is checked.
    if experiment.num_wires > spec.num_wires:
        out.add(key, None, Rule.NUM_WIRES,
                f"num_wires {experiment.num_wires} exceeds the backend's {spec.num_wires} wires")
    wire_order = experiment.wire_order or spec.wire_order
    if wire_order not in spec.accepted_wire_orders:
        out.add(key, None, Rule.WIRE_ORDER,
                f"wire_order {wire_order!r} is not supported: {spec.display_name} wires are "
                f"{spec.wire_order} ({spec.description}); send wire_order "
                f"{spec.wire_order!r} with wires in that order")
    if len(experiment.instructions) > spec.max_instructions:
        out.add(key, None, Rule.TOO_MANY_INSTRUCTIONS,
                f"{len(experiment.instructions)} instructions exceed the limit of "
                f"{spec.max_instructions}")
        return None
    normalised = [
        _check_instruction(spec, key, index, instruction, out)
        for index, instruction in enumerate(experiment.instructions)
    ]
    if len(out.violations) > before:
        return None
    instructions = [ins for ins in normalised if ins is not None]
    limit = spec.max_hilbert_dimension
    dimension = hilbert_dimension(experiment.num_wires, instructions) if limit else 0
    if limit and dimension > limit:
        out.add(key, None, Rule.HILBERT_DIMENSION,
                f"Hilbert-space dimension {dimension} exceeds the limit of {limit} "
                f"(each wire counts N+1 for `load` N, 2 if not loaded)")
    cost_limit = spec.max_simulation_cost
    cost = simulation_cost(experiment.num_wires, instructions) if cost_limit else 0
    if cost_limit and cost > cost_limit:
        out.add(key, None, Rule.SIMULATION_COST,
                f"estimated simulation cost {cost:.3g} exceeds the limit of {cost_limit:.3g} "
                f"(max_simulation_cost in get_config)")
    return experiment.model_copy(
        update={"instructions": tuple(instructions), "wire_order": wire_order}
    )


def _check_instruction(
    spec: BackendSpec, key: str, index: int, ins: Instruction, out: ViolationCollector
) -> Instruction | None:
    rules = spec.instruction(ins.name)
    if rules is None:
        out.add_at(key, index, ins.name, Rule.UNKNOWN_INSTRUCTION, _unknown(spec, ins.name))
        return None
    before = len(out.violations)
    _check_wires(spec, rules, key, index, ins, out)
    params = _check_params(rules, key, index, ins, out)
    if len(out.violations) > before or params is None:
        return None
    return Instruction(name=rules.name, wires=ins.wires, params=params)


def _unknown(spec: BackendSpec, name: str) -> str:
    supported = spec.supported_instructions
    hint = next((s for s in supported if s.lower() == name.lower()), None)
    did_you_mean = f"names are case-sensitive, did you mean {hint!r}? " if hint else ""
    return (f"unknown instruction {name!r} for {spec.display_name}; {did_you_mean}"
            f"supported: {', '.join(supported)}")


def _check_wires(
    spec: BackendSpec, rules: InstructionSpec, key: str, index: int, ins: Instruction,
    out: ViolationCollector,
) -> None:
    wires = list(ins.wires)
    if not rules.min_wires <= len(wires) <= rules.max_wires:
        expected = (str(rules.min_wires) if rules.min_wires == rules.max_wires
                    else f"{rules.min_wires}..{rules.max_wires}")
        # qiskit's broadcasting turns `qc.fload([0, 4])` into one load on two wires.
        hint = "; send one instruction per wire" if rules.max_wires == 1 and wires else ""
        out.add_at(key, index, ins.name, Rule.WIRE_COUNT,
                   f"takes {expected} wire(s), got {len(wires)}: {wires}{hint}")
        return
    lo, hi = spec.wire_range_of(rules)
    outside = [wire for wire in wires if not lo <= wire <= hi]
    if outside:
        out.add_at(key, index, ins.name, Rule.WIRE_RANGE,
                   f"wires {outside} are outside {lo}..{hi} of {spec.display_name}")
        return
    if rules.is_gate and wires not in [list(entry) for entry in rules.coupling_map or ()]:
        out.add_at(key, index, ins.name, Rule.COUPLING_MAP,
                   f"wires {wires} are not in the coupling map "
                   f"{_compact(rules.reachable_couplings())}")


def _check_params(
    rules: InstructionSpec, key: str, index: int, ins: Instruction, out: ViolationCollector
) -> tuple[int | float, ...] | None:
    params = list(ins.params)
    if not rules.required_params <= len(params) <= len(rules.params):
        expected = (str(len(rules.params)) if rules.required_params == len(rules.params)
                    else f"{rules.required_params}..{len(rules.params)}")
        out.add_at(key, index, ins.name, Rule.PARAM_COUNT,
                   f"takes {expected} parameter(s), got {len(params)}")
        return None
    normalised: list[int | float] = []
    for position, (value, bounds) in enumerate(zip(params, rules.params)):
        if rules.integer_params:
            # qiskit-cold-atom sends every parameter through float(), so 50.0 means 50.
            if value != int(value):
                out.add_at(key, index, ins.name, Rule.PARAM_TYPE,
                           f"parameter {bounds.name} = {value} must be an integer")
                continue
            value = int(value)
        if not bounds.min <= value <= bounds.max:
            out.add_at(key, index, ins.name, Rule.PARAM_RANGE,
                       f"parameter {position} ({bounds.name}) = {value} is outside "
                       f"[{bounds.min:g}, {bounds.max:g}]")
            continue
        normalised.append(value)
    return tuple(normalised) if len(normalised) == len(params) else None

