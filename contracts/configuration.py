"""get_config: a BackendSpec rendered as the v2 (sqooler BackendConfigSchemaOut) configuration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.backends.spec import BackendSpec, ColdAtomType, InstructionSpec
from contracts.job import WireOrder


class GateConfig(BaseModel):
    """One `gates[]` entry. Qiskit's GateConfig(**entry) raises TypeError on any other key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coupling_map: list[list[int]] = Field(
        description="Allowed wire tuples; qiskit-cold-atom checks circuits against it.",
        examples=[[[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]]],
    )
    description: str = Field(description="What the gate does.", examples=["hopping of atoms"])
    name: str = Field(description="Instruction name.", examples=["fhop"])
    parameters: list[str] = Field(description="Parameter names, in order.", examples=[["j_i"]])
    qasm_def: str = Field(description="Placeholder QASM definition.", examples=["{}"])


class BackendConfiguration(BaseModel):
    """The get_config response, loadable by qiskit `BackendConfiguration.from_dict`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend_name: str = Field(description="Full name.", examples=["shotline_fermions_simulator"])
    display_name: str = Field(description="Short name used in URLs.", examples=["fermions"])
    backend_version: str = Field(description="Backend version.", examples=["0.1"])
    n_qubits: int = Field(description="Number of wires (qiskit: max circuit width).", examples=[8])
    basis_gates: list[str] = Field(description="Names of `gates`.", examples=[["fhop", "fint"]])
    gates: list[GateConfig] = Field(
        description="Gates with their coupling maps.",
        examples=[[{"coupling_map": [[0, 1]], "description": "phase", "name": "fphase",
                    "parameters": ["mu_i"], "qasm_def": "{}"}]],
    )
    supported_instructions: list[str] = Field(
        description="Every accepted name, including load/measure/barrier.",
        examples=[["load", "barrier", "fhop", "fint", "fphase", "measure"]],
    )
    cold_atom_type: ColdAtomType = Field(
        description="qiskit-cold-atom's provider dispatch: fermion or spin.", examples=["fermion"]
    )
    num_species: int = Field(description="Atomic species.", examples=[2])
    wire_order: WireOrder = Field(description="Wire convention.", examples=["interleaved"])
    max_shots: int = Field(description="Most shots per experiment.", examples=[1_000_000])
    max_experiments: int = Field(description="Most experiments per job.", examples=[1000])
    max_job_shots: int = Field(description="Most shots per job, all experiments together.",
                               examples=[2000])
    max_simulation_cost: int | None = Field(
        default=None,
        description="Cap on an experiment's estimated simulation cost; None: no cap.",
        examples=[10**10],
    )
    max_shot_seconds: float = Field(
        description="Wall seconds one shot's simulation may take; a longer one fails the shot.",
        examples=[30.0],
    )
    simulator: bool = Field(description="False for real hardware.", examples=[True])
    description: str = Field(description="Human-readable description.", examples=["simulator"])
    conditional: Literal[False] = Field(default=False, description="Constant.", examples=[False])
    local: Literal[False] = Field(default=False, description="Constant.", examples=[False])
    open_pulse: Literal[False] = Field(default=False, description="Constant.", examples=[False])
    dynamic_reprate_enabled: Literal[False] = Field(
        default=False, description="Constant.", examples=[False]
    )
    memory: Literal[True] = Field(
        default=True, description="Constant: results carry memory.", examples=[True]
    )
    coupling_map: Literal["linear"] = Field(
        default="linear",
        description="Constant string, as in qlued; Qiskit does not check it.",
        examples=["linear"],
    )
    url: str = Field(
        description="`<base>/api/v2/<backend_name>/`.",
        examples=["https://shotline.example.org/api/v2/shotline_fermions_simulator/"],
    )


def _gate_configs(spec: InstructionSpec) -> list[GateConfig]:
    # An alias is published as a gate of its own with the same coupling map. qiskit-cold-atom
    # 0.2.1 CircuitTools.validate_circuits first requires the circuit's instruction name in
    # `supported_instructions`, then checks the coupling map only for names found in `gates`.
    # Its RydbergBlockade is named `rydberg_blockade`, so listing that name in both places
    # lets such circuits through *and* keeps the client-side coupling check; `rydberg_block`
    # stays listed for sqooler-style clients and for the canonical name.
    params = [param.name for param in spec.params]
    couplings = [list(entry) for entry in spec.coupling_map or ()]
    return [
        GateConfig(
            coupling_map=couplings,
            description=spec.description if name == spec.name
            else f"{spec.description} (alias of {spec.name})",
            name=name,
            parameters=params,
            qasm_def=spec.qasm_def,
        )
        for name in spec.names
    ]


def backend_configuration(spec: BackendSpec, base_url: str) -> dict[str, Any]:
    """The get_config dict for `spec`, with `url` built on `base_url` (scheme + host [+ path])."""
    gates = [gate for ins in spec.instructions if ins.is_gate for gate in _gate_configs(ins)]
    config = BackendConfiguration(
        backend_name=spec.backend_name,
        display_name=spec.display_name,
        backend_version=spec.version,
        n_qubits=spec.num_wires,
        basis_gates=[gate.name for gate in gates],
        gates=gates,
        supported_instructions=spec.supported_instructions,
        cold_atom_type=spec.cold_atom_type,
        num_species=spec.num_species,
        wire_order=spec.wire_order,
        max_shots=spec.max_shots,
        max_experiments=spec.max_experiments,
        max_job_shots=spec.max_job_shots,
        max_simulation_cost=spec.max_simulation_cost,
        max_shot_seconds=spec.max_shot_seconds,
        simulator=spec.simulator,
        description=spec.description,
        url=f"{base_url.rstrip('/')}/api/v2/{spec.backend_name}/",
    )
    return config.model_dump(mode="json")
