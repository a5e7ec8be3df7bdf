"""The `multiqudit` backend: a chain of 5 collective spins (sqooler-example multiqudit)."""

from __future__ import annotations

import math

from contracts.backends.spec import (
    TWO_PI,
    BackendSpec,
    InstructionSpec,
    ParamSpec,
    barrier,
    load_atoms,
    measure,
    single_wire_gate,
)

NUM_WIRES = 5
MAX_ATOMS = 500
FULL_RANGE = 5e6 * math.pi
ALL_WIRES = tuple(range(NUM_WIRES))
# Neighbouring pairs or the whole chain.
PAIR_COUPLINGS = ((0, 1), (1, 2), (2, 3), (3, 4), ALL_WIRES)


def _pair_gate(name: str, description: str) -> InstructionSpec:
    return InstructionSpec(
        name=name,
        description=description,
        min_wires=2,
        max_wires=NUM_WIRES,
        params=(ParamSpec(name="J", min=0.0, max=10 * TWO_PI),),
        coupling_map=PAIR_COUPLINGS,
        qasm_def=f"gate {name}(J) {{}}",
    )


SPEC = BackendSpec(
    display_name="multiqudit",
    version="0.2",
    description="Setup of a cold atomic gas experiment with a multiple qudits.",
    cold_atom_type="spin",
    num_wires=NUM_WIRES,
    wire_order="sequential",
    max_shots=2000,
    max_experiments=1000,
    # The simulator holds the full state vector: Π over wires of (N+1), 2 for an unloaded wire.
    max_hilbert_dimension=2**12,
    # One dense eigh of a 4096-state space (a 64x64 generator gate) is 6.9e10 units, 84.5 s.
    max_simulation_cost=10**10,
    simulator=True,
    instructions=(
        single_wire_gate("rlx", "omega", TWO_PI, NUM_WIRES, "Evolution under Lx"),
        single_wire_gate("rlz", "delta", TWO_PI, NUM_WIRES, "Evolution under the Z gate"),
        single_wire_gate("rlz2", "chi", 10 * TWO_PI, NUM_WIRES, "Evolution under lz2"),
        _pair_gate("rlxly", "Entanglement between neighboring gates with an xy interaction"),
        _pair_gate("rlzlz", "Entanglement between neighboring gates with a zz interaction"),
        InstructionSpec(
            name="multiqudit_full",
            description="Apply the full time evolution (Lx, Lz, Lz2, flip-flop, zz) on the chain.",
            min_wires=2,
            max_wires=NUM_WIRES,
            params=tuple(
                ParamSpec(name=name, min=0.0, max=FULL_RANGE)
                for name in ("omega", "delta", "chi", "Jxy", "Jzz")
            ),
            # sqooler publishes [0] as well; the 2-wire minimum makes it unreachable.
            coupling_map=((0,), (0, 1), (0, 1, 2), (0, 1, 2, 3), ALL_WIRES),
            qasm_def="gate multiqudit_full(omega, delta, chi, Jxy, Jzz) {}",
        ),
        load_atoms(MAX_ATOMS, "Load N atoms onto the wire; its dimension becomes N+1."),
        measure(NUM_WIRES),
        barrier(NUM_WIRES),
    ),
)
