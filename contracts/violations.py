"""What a rejected job broke: rule codes, located violations, and their bounded collection."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.job import MAX_NAME_LENGTH

MAX_VIOLATIONS = 20


class Rule(StrEnum):
    """Stable codes for the rule a job broke; clients and tests may match on them."""

    MALFORMED = "malformed"  # not the job/experiment/instruction shape at all
    EMPTY_JOB = "empty_job"
    EXPERIMENT_KEY = "experiment_key"
    EXPERIMENT_LIMIT = "experiment_limit"
    TOO_MANY_INSTRUCTIONS = "too_many_instructions"
    SHOTS_LIMIT = "shots_limit"
    NUM_WIRES = "num_wires"
    WIRE_ORDER = "wire_order"
    UNKNOWN_INSTRUCTION = "unknown_instruction"
    WIRE_COUNT = "wire_count"
    WIRE_RANGE = "wire_range"
    COUPLING_MAP = "coupling_map"
    PARAM_COUNT = "param_count"
    PARAM_TYPE = "param_type"
    PARAM_RANGE = "param_range"
    NOT_FINITE = "not_finite"
    HILBERT_DIMENSION = "hilbert_dimension"
    SIMULATION_COST = "simulation_cost"
    JOB_SHOTS = "job_shots"
    RESULT_SIZE = "result_size"


class Violation(BaseModel):
    """One broken rule, located by experiment key and instruction index."""

    model_config = ConfigDict(frozen=True)

    experiment: str | None = Field(
        description="Experiment key, or None for a job-level violation.", examples=["experiment_3"]
    )
    instruction_index: int | None = Field(
        description="0-based index into the experiment's instructions, or None.", examples=[2]
    )
    rule: Rule = Field(description="Stable rule code.", examples=["coupling_map"])
    message: str = Field(
        description="Human-readable; names the experiment, instruction and rule.",
        examples=[
            "experiment_3, instruction 2 (fhop): wires [0, 1, 2, 5] are not in the coupling map "
            "[[0,1,2,3],[2,3,4,5],[4,5,6,7]]"
        ],
    )

    def __str__(self) -> str:
        return f"{self.message} [{self.rule}]"


class JobRejected(Exception):
    """The job breaks at least one rule; `violations` holds the first MAX_VIOLATIONS."""

    def __init__(self, violations: Sequence[Violation], truncated: bool = False) -> None:
        self.violations = tuple(violations)
        self.truncated = truncated
        more = f"; ... (only the first {MAX_VIOLATIONS} shown)" if truncated else ""
        super().__init__("; ".join(str(v) for v in self.violations) + more)


class ViolationCollector:
    """Gathers violations in job order, stopping at MAX_VIOLATIONS."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.truncated = False

    @property
    def full(self) -> bool:
        return len(self.violations) >= MAX_VIOLATIONS

    def add(self, experiment: str | None, index: int | None, rule: Rule, message: str,
            name: str | None = None) -> None:
        if self.full:
            self.truncated = True
            return
        where = _where(experiment, index, name)
        self.violations.append(Violation(
            experiment=experiment, instruction_index=index, rule=rule,
            message=f"{where}: {message}" if where else message,
        ))

    def add_at(self, key: str, index: int, name: str, rule: Rule, message: str) -> None:
        self.add(key, index, rule, message, name)


def _where(experiment: str | None, index: int | None, name: str | None) -> str:
    if experiment is None:
        return ""
    if index is None:
        return experiment
    return f"{experiment}, instruction {index}" + (f" ({name[:MAX_NAME_LENGTH]})" if name else "")
