"""The result dict (Qiskit `Result.from_dict` shape) and the get_job_result body of a failed job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.backends.spec import BackendSpec
from contracts.job import JobPayload
from contracts.status import NONE_PLACEHOLDER

MAX_MEMORY_ENTRY_LENGTH = 4_096


class ExperimentHeader(BaseModel):
    """Qiskit looks experiments up by `name`; it must be the experiment key."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="The experiment key.", examples=["experiment_0"])


class InstructionRecord(BaseModel):
    """An executed instruction as sqooler (>=0.5) echoes it: an object, not the triple."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Canonical instruction name.", examples=["measure"])
    wires: list[int] = Field(description="Wires.", examples=[[2]])
    params: list[float | int] = Field(description="Parameters.", examples=[[]])


class ExperimentData(BaseModel):
    """Per-experiment data: one memory string per shot."""

    model_config = ConfigDict(frozen=True, extra="allow")

    memory: list[str] = Field(
        description="One string per shot; values of the measured wires, space-separated, in the "
        "order of the measure instructions. Empty when nothing was measured.",
        examples=[["1 1 0 1", "1 0 0 1"]],
    )
    instructions: list[InstructionRecord] | None = Field(
        default=None,
        description="The instructions that were run (sqooler >= 0.5 convention).",
        examples=[[{"name": "measure", "wires": [2], "params": []}]],
    )


class ExperimentResult(BaseModel):
    """One entry of `results`; Qiskit requires shots, success and data."""

    model_config = ConfigDict(frozen=True, extra="allow")

    header: ExperimentHeader = Field(
        description="Carries the experiment key as `name`.", examples=[{"name": "experiment_0"}]
    )
    shots: int = Field(ge=0, description="Shots requested.", examples=[4])
    success: bool = Field(description="The experiment ran.", examples=[True])
    data: ExperimentData = Field(
        description="Memory and the instructions run.", examples=[{"memory": ["1 0", "0 1"]}]
    )


class JobResult(BaseModel):
    """A completed job's result. `status` must be "finished": qiskit-cold-atom polls until then."""

    # Extra keys are kept (qlued 2023 echoed `experiments`); Qiskit keeps them as metadata.
    model_config = ConfigDict(frozen=True, extra="allow")

    backend_name: str = Field(description="Full name.", examples=["shotline_fermions_simulator"])
    backend_version: str = Field(description="Backend version.", examples=["0.1"])
    display_name: str | None = Field(default=None, description="Short name.", examples=["fermions"])
    job_id: str = Field(description="Opaque job id.", examples=["8780f5ec7eb2426686563b56"])
    qobj_id: None = Field(
        default=None, description="Always null; required by Qiskit.", examples=[None]
    )
    success: bool = Field(description="All experiments ran.", examples=[True])
    status: Literal["finished"] = Field(
        default="finished",
        description='Lowercase "finished" is the only value that ends qiskit-cold-atom\'s '
        "result() loop.",
        examples=["finished"],
    )
    header: dict[str, Any] = Field(
        default_factory=dict, description="Empty; required shape.", examples=[{}]
    )
    results: list[ExperimentResult] = Field(
        description="One per experiment, in numeric order of the experiment keys.",
        examples=[[{"header": {"name": "experiment_0"}, "shots": 2, "success": True,
                    "data": {"memory": ["1 0", "0 1"]}}]],
    )


class FailedResult(BaseModel):
    """get_job_result for a failed job: the status dict with lowercase "error" (§1.4 finding 2).

    qiskit-cold-atom raises JobError only on "error"; "ERROR" would keep it polling forever.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(description="Opaque job id.", examples=["8780f5ec7eb2426686563b56"])
    status: Literal["error"] = Field(
        default="error", description="Always lowercase error.", examples=["error"]
    )
    detail: str = Field(
        default=NONE_PLACEHOLDER, description="Progress notes.",
        examples=["Got your json.; Failed json sanity check"],
    )
    error_message: str = Field(
        default=NONE_PLACEHOLDER, description="Why the job failed.",
        examples=["experiment_0: shots 0 ... [shots_limit]"],
    )


def build_result(
    job_id: str,
    spec: BackendSpec,
    memories: Mapping[str, Sequence[str]],
    payload: JobPayload,
) -> dict[str, Any]:
    """Assemble the result dict of a completed job.

    Args:
        job_id: the job's id.
        spec: the backend that ran it (names and version).
        memories: experiment key -> one memory string per shot.
        payload: the validated job, for order, shots and the instructions echo.

    Raises:
        ValueError: `memories` does not have exactly the payload's experiment keys, or an
            entry is not a string or is implausibly long.
    """
    keys = payload.keys()
    if set(memories) != set(keys):
        missing = sorted(set(keys) - set(memories))
        unexpected = sorted(set(memories) - set(keys))
        raise ValueError(f"memories do not match the job: missing {missing}, extra {unexpected}")
    results = []
    for key, experiment in payload.experiments():
        memory = list(memories[key])
        if any(not isinstance(m, str) or len(m) > MAX_MEMORY_ENTRY_LENGTH for m in memory):
            raise ValueError(f"{key}: memory entries must be strings of bounded length")
        records = [
            InstructionRecord(name=ins.name, wires=list(ins.wires), params=list(ins.params))
            for ins in experiment.instructions
        ]
        results.append(ExperimentResult(
            header=ExperimentHeader(name=key),
            shots=experiment.shots,
            success=True,
            data=ExperimentData(memory=memory, instructions=records),
        ))
    result = JobResult(
        backend_name=spec.backend_name,
        backend_version=spec.version,
        display_name=spec.display_name,
        job_id=job_id,
        success=True,
        results=results,
    )
    return result.model_dump(mode="json")


def failed_result(job_id: str, detail: str, error_message: str) -> dict[str, Any]:
    """The get_job_result body for a job whose status is ERROR."""
    return FailedResult(job_id=job_id, detail=detail, error_message=error_message).model_dump()
