"""Property: any valid job, generated from a backend's own spec, survives validation unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.backends import BACKENDS, BackendSpec, InstructionSpec
from contracts.job import JobPayload
from contracts.validation import validate_job
from tests.contracts.helpers import lab_backend

SPECS = [*BACKENDS.values(), lab_backend("mot"), lab_backend("nali")]


def _param(spec: BackendSpec, rules: InstructionSpec, index: int) -> st.SearchStrategy[Any]:
    bounds = rules.params[index]
    if rules.integer_params:
        # Keep qudit loads small so that the Hilbert-space limit is not what is being tested.
        hi = min(int(bounds.max), 3) if spec.max_hilbert_dimension else int(bounds.max)
        return st.integers(int(bounds.min), hi)
    return st.floats(bounds.min, bounds.max, allow_nan=False, allow_infinity=False)


@st.composite
def instructions(draw: st.DrawFn, spec: BackendSpec) -> list[Any]:
    rules = draw(st.sampled_from(spec.instructions))
    if rules.is_gate:
        wires = draw(st.sampled_from(rules.reachable_couplings()))
    else:
        lo, hi = spec.wire_range_of(rules)
        wires = draw(st.lists(st.integers(lo, hi), min_size=rules.min_wires,
                              max_size=rules.max_wires))
    count = draw(st.integers(rules.required_params, len(rules.params)))
    params = [draw(_param(spec, rules, i)) for i in range(count)]
    return [rules.name, wires, params]


@st.composite
def jobs(draw: st.DrawFn, spec: BackendSpec) -> dict[str, Any]:
    indices = draw(st.sets(st.integers(0, min(spec.max_experiments - 1, 40)), min_size=1,
                           max_size=min(spec.max_experiments, 4)))
    job = {}
    for index in indices:
        body: dict[str, Any] = {
            "instructions": draw(st.lists(instructions(spec), max_size=8)),
            # At most 4 experiments: each within max_shots, the job within max_job_shots.
            "shots": draw(st.integers(1, min(spec.max_shots, spec.max_job_shots // 4))),
            "num_wires": draw(st.integers(1, spec.num_wires)),
            "wire_order": draw(st.sampled_from(spec.accepted_wire_orders)),
        }
        if draw(st.booleans()):
            body["seed"] = draw(st.integers(0, 2**32 - 1))
        job[f"experiment_{index}"] = body
    return job


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, allow_nan=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_jobs_round_trip_through_the_wire_form(data: st.DataObject) -> None:
    spec = data.draw(st.sampled_from(SPECS), label="backend")
    raw = data.draw(jobs(spec), label="job")
    wire = json.loads(json.dumps(raw))  # what the HTTP body decodes to

    assert _canonical(JobPayload.model_validate(wire).to_wire()) == _canonical(raw)
    assert _canonical(validate_job(spec, wire).to_wire()) == _canonical(raw)
