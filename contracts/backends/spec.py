"""What a backend accepts: BackendSpec / InstructionSpec, and the loader for lab-defined specs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from contracts.job import MAX_INSTRUCTIONS, MAX_NAME_LENGTH, MAX_WIRES_PER_INSTRUCTION, WireOrder

TWO_PI = 2 * math.pi

ColdAtomType = Literal["fermion", "boson", "spin", "mixed"]
_SPEC_CONFIG = ConfigDict(frozen=True, extra="forbid")


class ParamSpec(BaseModel):
    """One gate parameter: its config name and the closed range [min, max] it must lie in."""

    model_config = _SPEC_CONFIG

    name: str = Field(
        description="Parameter name published in get_config `gates[].parameters`.",
        examples=["omega", "j_i"],
    )
    min: float = Field(description="Smallest allowed value (inclusive).", examples=[0.0])
    max: float = Field(description="Largest allowed value (inclusive).", examples=[TWO_PI])

    @model_validator(mode="after")
    def _ordered(self) -> ParamSpec:
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min <= self.max):
            raise ValueError(f"parameter {self.name}: need finite min <= max")
        return self


class InstructionSpec(BaseModel):
    """The rules for one instruction name on one backend."""

    model_config = _SPEC_CONFIG

    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        max_length=MAX_NAME_LENGTH,
        description="Canonical instruction name; downstream services only ever see this one.",
        examples=["fhop", "rydberg_block"],
    )
    aliases: tuple[str, ...] = Field(
        default=(),
        description="Other names accepted for this instruction and normalised to `name`.",
        examples=[["rydberg_blockade"]],
    )
    description: str = Field(
        default="", description="Human-readable meaning.", examples=["hopping of atoms"]
    )
    min_wires: int = Field(ge=0, description="Fewest wires allowed.", examples=[1])
    max_wires: int = Field(
        ge=0, le=MAX_WIRES_PER_INSTRUCTION, description="Most wires allowed.", examples=[1]
    )
    wire_range: tuple[int, int] | None = Field(
        default=None,
        description="Allowed wire indices [lo, hi]; None means all of the backend's wires.",
        examples=[[0, 0]],
    )
    params: tuple[ParamSpec, ...] = Field(
        default=(),
        description="Parameters in order, each with its [min, max]; their count is the maximum.",
        examples=[[{"name": "omega", "min": 0.0, "max": TWO_PI}]],
    )
    min_params: int | None = Field(
        default=None,
        ge=0,
        description="Fewest parameters allowed; None means all of `params` are required.",
        examples=[0],
    )
    integer_params: bool = Field(
        default=False,
        description="Parameters must be integers (atom numbers for `load`).",
        examples=[True],
    )
    coupling_map: tuple[tuple[int, ...], ...] | None = Field(
        default=None,
        description="Set for gates: the wires of a gate must equal one entry exactly.",
        examples=[[[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]],
    )
    qasm_def: str = Field(
        default="{}", description="Published as `gates[].qasm_def`.", examples=["{}"]
    )

    @property
    def is_gate(self) -> bool:
        return self.coupling_map is not None

    @property
    def required_params(self) -> int:
        return len(self.params) if self.min_params is None else self.min_params

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def reachable_couplings(self) -> list[list[int]]:
        """Coupling-map entries the wire-count rule can reach (sqooler lists unreachable ones)."""
        return [
            list(entry)
            for entry in self.coupling_map or ()
            if self.min_wires <= len(entry) <= self.max_wires
        ]

    @model_validator(mode="after")
    def _consistent(self) -> InstructionSpec:
        if self.min_wires > self.max_wires:
            raise ValueError(f"{self.name}: min_wires > max_wires")
        if self.min_params is not None and self.min_params > len(self.params):
            raise ValueError(f"{self.name}: min_params exceeds the number of params")
        if self.wire_range is not None and not 0 <= self.wire_range[0] <= self.wire_range[1]:
            raise ValueError(f"{self.name}: wire_range must be [lo, hi] with 0 <= lo <= hi")
        return self


class BackendSpec(BaseModel):
    """Everything the server knows about one backend: limits, wires and instruction rules."""

    model_config = _SPEC_CONFIG

    display_name: str = Field(
        pattern=r"^[a-z0-9]+$",
        max_length=32,
        description="Short name used in URLs, e.g. /api/v2/fermions/.",
        examples=["fermions"],
    )
    name_prefix: str = Field(
        default="shotline",
        pattern=r"^[a-z0-9]+$",
        description="First part of backend_name `<prefix>_<display>_<simulator|hardware>`.",
        examples=["shotline"],
    )
    version: str = Field(description="Backend version string.", examples=["0.1"])
    description: str = Field(description="Human-readable description.", examples=["MOT"])
    cold_atom_type: ColdAtomType = Field(
        description="qiskit-cold-atom only dispatches `fermion` and `spin`.", examples=["fermion"]
    )
    num_wires: int = Field(ge=1, le=MAX_WIRES_PER_INSTRUCTION, description="Wires.", examples=[8])
    num_species: int = Field(default=1, ge=1, description="Atomic species.", examples=[2])
    wire_order: WireOrder = Field(
        description="Wire convention published in get_config and used when a job omits it.",
        examples=["interleaved"],
    )
    accepted_wire_orders: tuple[WireOrder, ...] = Field(
        default=("interleaved", "sequential"),
        description="wire_order values a job may send.",
        examples=[["interleaved"]],
    )
    max_shots: int = Field(ge=1, description="Most shots per experiment.", examples=[1_000_000])
    max_experiments: int = Field(ge=1, description="Most experiments per job.", examples=[1000])
    max_job_shots: int = Field(
        default=2000,
        ge=1,
        le=10_000_000,
        description="Most shots of one job, all its experiments together: how long one job may "
        "hold the apparatus, and how large its result may grow. The test suite runs a job of "
        "the default size end to end.",
        examples=[2000],
    )
    max_instructions: int = Field(
        default=MAX_INSTRUCTIONS,
        ge=1,
        le=MAX_INSTRUCTIONS,
        description="Most instructions per experiment.",
        examples=[2000],
    )
    max_hilbert_dimension: int | None = Field(
        default=None,
        ge=1,
        description="Qudit backends: cap on the product of the per-wire dimensions.",
        examples=[4096],
    )
    max_simulation_cost: int | None = Field(
        default=None,
        ge=1,
        description="Qudit backends: cap on an experiment's estimated simulation cost "
        "(contracts.backends.cost units).",
        examples=[10**10],
    )
    max_shot_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Wall seconds one shot's simulation may take before the emulator kills it "
        "and fails the shot.",
        examples=[30.0],
    )
    simulator: bool = Field(description="False for real hardware.", examples=[True])
    instructions: tuple[InstructionSpec, ...] = Field(
        min_length=1, description="Supported instructions.", examples=[[]]
    )

    @property
    def backend_name(self) -> str:
        # Derived, never configured: qlued #207 "a device must not be able to set the name".
        kind = "simulator" if self.simulator else "hardware"
        return f"{self.name_prefix}_{self.display_name}_{kind}"

    @property
    def supported_instructions(self) -> list[str]:
        return [name for spec in self.instructions for name in spec.names]

    def instruction(self, name: str) -> InstructionSpec | None:
        """The rules for `name` (an alias resolves to its canonical instruction)."""
        for spec in self.instructions:
            if name in spec.names:
                return spec
        return None

    def wire_range_of(self, spec: InstructionSpec) -> tuple[int, int]:
        return spec.wire_range if spec.wire_range is not None else (0, self.num_wires - 1)

    @model_validator(mode="after")
    def _consistent(self) -> BackendSpec:
        names = self.supported_instructions
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"{self.display_name}: instruction names used twice: {duplicates}")
        if self.wire_order not in self.accepted_wire_orders:
            raise ValueError(f"{self.display_name}: wire_order must be one of the accepted ones")
        for spec in self.instructions:
            lo, hi = self.wire_range_of(spec)
            if hi >= self.num_wires:
                raise ValueError(f"{spec.name}: wire_range exceeds the backend's wires")
            for entry in spec.coupling_map or ():
                if any(not lo <= wire <= hi for wire in entry):
                    raise ValueError(f"{spec.name}: coupling map entry {list(entry)} out of range")
        return self


_SPEC_LIST = TypeAdapter(list[BackendSpec])


def load_backend_specs(path: str | Path) -> list[BackendSpec]:
    """Read lab-defined backends from a JSON file: a list of specs or {"backends": [...]}.

    Raises:
        OSError: the file cannot be read.
        pydantic.ValidationError: a spec is invalid (the message names the field).
        ValueError: the JSON is malformed.
    """
    data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "backends" in data:
        data = data["backends"]
    return _SPEC_LIST.validate_python(data)


# Building blocks shared by the family modules: the non-gate instructions every backend has.
def measure(num_wires: int, *, optional_wire: bool = False) -> InstructionSpec:
    """`measure` on one wire (or none, on single-wire backends where the wire is implied)."""
    return InstructionSpec(
        name="measure",
        description="Measure one wire; its value is appended to the shot's memory string.",
        min_wires=0 if optional_wire else 1,
        max_wires=1,
        wire_range=(0, num_wires - 1),
    )


def load_atoms(max_atoms: int, description: str, *, optional_wire: bool = False) -> InstructionSpec:
    """`load` of N atoms (an integer parameter) onto one wire of a qudit backend."""
    return InstructionSpec(
        name="load",
        description=description,
        min_wires=0 if optional_wire else 1,
        max_wires=1,
        params=(ParamSpec(name="num_atoms", min=1, max=max_atoms),),
        integer_params=True,
    )


def barrier(num_wires: int) -> InstructionSpec:
    """`barrier` over any subset of wires, including none (legacy notebooks send `[]`)."""
    return InstructionSpec(
        name="barrier",
        description="No-op ordering marker.",
        min_wires=0,
        max_wires=num_wires,
    )


def single_wire_gate(
    name: str, param: str, hi: float, num_wires: int, description: str, *, qasm: bool = True
) -> InstructionSpec:
    """A one-wire gate with one parameter in [0, hi] on any of `num_wires` wires."""
    return InstructionSpec(
        name=name,
        description=description,
        min_wires=1,
        max_wires=1,
        params=(ParamSpec(name=param, min=0.0, max=hi),),
        coupling_map=tuple((wire,) for wire in range(num_wires)),
        qasm_def=f"gate {name}({param}) {{}}" if qasm else "{}",
    )
