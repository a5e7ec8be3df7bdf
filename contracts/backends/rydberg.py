"""The `rydberg` backend: a chain of 5 Rydberg-atom qubits (sqooler-example rydberg)."""

from __future__ import annotations

import math

from contracts.backends.spec import (
    TWO_PI,
    BackendSpec,
    InstructionSpec,
    ParamSpec,
    barrier,
    measure,
    single_wire_gate,
)

NUM_WIRES = 5
FULL_RANGE = 5e6 * math.pi
ALL_WIRES = tuple(range(NUM_WIRES))

SPEC = BackendSpec(
    display_name="rydberg",
    version="0.3",
    description="A chain of qubits realized through Rydberg atoms.",
    cold_atom_type="spin",
    num_wires=NUM_WIRES,
    wire_order="sequential",
    max_shots=2000,
    max_experiments=1000,
    simulator=True,
    instructions=(
        single_wire_gate("rlx", "omega", TWO_PI, NUM_WIRES, "Evolution under Rlx"),
        single_wire_gate("rlz", "delta", TWO_PI, NUM_WIRES, "Evolution under the Rlz gate"),
        InstructionSpec(
            name="rydberg_block",
            # qiskit-cold-atom names its RydbergBlockade instruction `rydberg_blockade` (the
            # circuit method is `qc.rydberg_block`); sqooler's simulator calls it `rydberg_block`.
            # Both are accepted; validation hands downstream the canonical `rydberg_block`.
            aliases=("rydberg_blockade",),
            description="Apply the Rydberg blockade over the whole array",
            min_wires=2,
            max_wires=NUM_WIRES,
            params=(ParamSpec(name="phi", min=0.0, max=TWO_PI),),
            coupling_map=(ALL_WIRES,),
            qasm_def="gate rydberg_block(phi) {}",
        ),
        InstructionSpec(
            name="rydberg_full",
            description="Apply the Rydberg and Rabi coupling over the whole array.",
            min_wires=2,
            max_wires=NUM_WIRES,
            params=tuple(
                ParamSpec(name=name, min=0.0, max=FULL_RANGE) for name in ("omega", "delta", "phi")
            ),
            coupling_map=(ALL_WIRES,),
            qasm_def="gate rydberg_full(omega, delta, phi) {}",
        ),
        measure(NUM_WIRES),
        barrier(NUM_WIRES),
    ),
)
