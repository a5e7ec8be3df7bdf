"""The job payload clients send: experiments of `[name, [wires], [params]]` instructions."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    RootModel,
    StrictFloat,
    StrictInt,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# Structural bounds that hold for every backend, so that a hostile job is cut off while it is
# parsed, before any per-backend rule runs. A backend may be stricter (BackendSpec), never looser.
MAX_INSTRUCTIONS = 2_000
MAX_NAME_LENGTH = 32
MAX_WIRES_PER_INSTRUCTION = 64
MAX_PARAMS_PER_INSTRUCTION = 16
MAX_SEED = 2**32 - 1  # numpy's np.random.seed range, which the simulators call

# ASCII digits only (`\d` would admit other scripts' digits) and no leading zeros, so every
# index has exactly one key: `experiment_7` and `experiment_07` cannot both sit in one job.
EXPERIMENT_KEY_PATTERN = r"^experiment_(0|[1-9][0-9]{0,8})$"
_EXPERIMENT_KEY = re.compile(EXPERIMENT_KEY_PATTERN)

WireOrder = Literal["interleaved", "sequential"]
Param = StrictInt | StrictFloat


def experiment_index(key: str) -> int:
    """Return n for a key `experiment_<n>`; ValueError for anything else."""
    if not _EXPERIMENT_KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not an experiment key experiment_<n>")
    return int(key.removeprefix("experiment_"))


class Instruction(BaseModel):
    """One instruction. On the wire it is the triple `[name, [wires], [params]]`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, strict=True)] = Field(
        description="Instruction name; must be one of the backend's supported_instructions.",
        examples=["fhop", "load", "measure"],
    )
    wires: tuple[Annotated[StrictInt, Field(ge=0)], ...] = Field(
        max_length=MAX_WIRES_PER_INSTRUCTION,
        description="Wire indices in the backend's wire order; a gate's wires must equal one "
        "coupling-map entry.",
        examples=[[0, 1, 2, 3], [7], []],
    )
    params: tuple[Param, ...] = Field(
        max_length=MAX_PARAMS_PER_INSTRUCTION,
        description="Gate parameters (floats); the atom number (int) for `load` on qudit backends.",
        examples=[[0.785], [50], []],
    )

    @model_validator(mode="before")
    @classmethod
    def _from_wire_form(cls, data: Any) -> Any:
        # The wire form is a positional triple; sqooler (>=0.5) echoes instructions as objects,
        # so both are accepted and the triple is what is dumped.
        if isinstance(data, (list, tuple)):
            if len(data) != 3:
                raise PydanticCustomError(
                    "instruction_shape",
                    "an instruction is [name, [wires], [params]], got {count} item(s)",
                    {"count": len(data)},
                )
            return {"name": data[0], "wires": data[1], "params": data[2]}
        return data

    @field_validator("params")
    @classmethod
    def _finite(cls, params: tuple[int | float, ...]) -> tuple[int | float, ...]:
        # Python's json module parses NaN/Infinity; no simulator or sequence can use them.
        for value in params:
            if isinstance(value, float) and not math.isfinite(value):
                raise PydanticCustomError(
                    "not_finite", "parameter {value} is not a finite number", {"value": value}
                )
        return params

    @model_serializer(mode="plain")
    def _to_wire_form(self) -> list[Any]:
        return [self.name, list(self.wires), list(self.params)]

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Publish the wire form (a triple), not the object the model holds internally.
        return {
            "title": "Instruction",
            "description": cls.__doc__,
            "type": "array",
            "prefixItems": [
                {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "maxItems": MAX_WIRES_PER_INSTRUCTION,
                },
                {
                    "type": "array",
                    "items": {"type": "number"},
                    "maxItems": MAX_PARAMS_PER_INSTRUCTION,
                },
            ],
            "minItems": 3,
            "maxItems": 3,
            "examples": [
                ["fhop", [0, 1, 2, 3], [0.785]], ["load", [0], [50]], ["measure", [2], []]
            ],
        }


class Experiment(BaseModel):
    """One circuit: its instructions and how often to run it. Unknown keys are ignored."""

    # Extra keys are ignored, as sqooler's pydantic experiment models do: clients add their own.
    model_config = ConfigDict(frozen=True, extra="ignore")

    instructions: tuple[Instruction, ...] = Field(
        max_length=MAX_INSTRUCTIONS,
        description="Instructions in execution order.",
        examples=[[["load", [7], []], ["fhop", [0, 1, 2, 3], [0.785]], ["measure", [2], []]]],
    )
    shots: StrictInt = Field(
        ge=1, description="Number of repetitions (shots).", examples=[4, 1000]
    )
    num_wires: StrictInt = Field(
        ge=1,
        description="Circuit width as the client reports it. PennyLane always sends 1, so "
        "wire indices are checked against the backend, not against this value.",
        examples=[8, 1],
    )
    wire_order: WireOrder | None = Field(
        default=None,
        description="Wire convention of `wires`; when omitted (PennyLane multiqudit), the "
        "backend's default.",
        examples=["interleaved", "sequential"],
    )
    seed: Annotated[StrictInt, Field(ge=0, le=MAX_SEED)] | None = Field(
        default=None,
        description="Random seed for simulator backends (sent by raw-API users only).",
        examples=[12345],
    )

    def to_wire(self) -> dict[str, Any]:
        """The experiment as JSON-ready data, without the optional keys that are unset."""
        return self.model_dump(mode="json", exclude_none=True)


ExperimentKey = Annotated[str, Field(pattern=EXPERIMENT_KEY_PATTERN, max_length=20)]


class JobPayload(RootModel[dict[ExperimentKey, Experiment]]):
    """A job: a mapping `experiment_<n>` to Experiment, read in numeric order of n."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "experiment_0": {
                        "instructions": [["load", [7], []], ["measure", [7], []]],
                        "num_wires": 8,
                        "shots": 4,
                        "wire_order": "interleaved",
                    }
                }
            ]
        },
    )

    def experiments(self) -> list[tuple[str, Experiment]]:
        """(key, experiment) pairs in numeric order: experiment_2 before experiment_10."""
        return sorted(self.root.items(), key=lambda item: experiment_index(item[0]))

    def keys(self) -> list[str]:
        """Experiment keys in numeric order."""
        return [key for key, _ in self.experiments()]

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.keys())

    def __getitem__(self, key: str) -> Experiment:
        return self.root[key]

    def __len__(self) -> int:
        return len(self.root)

    def to_wire(self) -> dict[str, Any]:
        """The job as JSON-ready data, experiments in numeric order."""
        return {key: experiment.to_wire() for key, experiment in self.experiments()}
