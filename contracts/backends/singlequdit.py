"""The `singlequdit` backend: one collective spin of N atoms (sqooler-example singlequdit)."""

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
)

MAX_ATOMS = 500
FULL_RANGE = 5e6 * math.pi

SPEC = BackendSpec(
    display_name="singlequdit",
    version="0.3",
    description="Setup of a cold atomic gas experiment with a single qudit.",
    cold_atom_type="spin",
    num_wires=1,
    wire_order="sequential",
    max_shots=2000,
    max_experiments=1000,
    simulator=True,
    instructions=(
        # The one wire is implied, so `load` and `measure` may leave it out (legacy notebooks).
        load_atoms(MAX_ATOMS, "Load N atoms; the qudit dimension becomes N+1.", optional_wire=True),
        InstructionSpec(
            name="rlx",
            description="Evolution under Lx",
            min_wires=1,
            max_wires=1,
            params=(ParamSpec(name="omega", min=0.0, max=TWO_PI),),
            coupling_map=((0,),),
            qasm_def="gate rlx(omega) {}",
        ),
        InstructionSpec(
            name="rlz",
            description="Evolution under the Z gate",
            min_wires=1,
            max_wires=1,
            params=(ParamSpec(name="delta", min=0.0, max=TWO_PI),),
            coupling_map=((0,),),
            qasm_def="gate rlz(delta) {}",
        ),
        InstructionSpec(
            name="rlz2",
            description="Evolution under lz2",
            min_wires=1,
            max_wires=1,
            params=(ParamSpec(name="chi", min=0.0, max=10 * TWO_PI),),
            coupling_map=((0,),),
            qasm_def="gate rlz2(chi) {}",
        ),
        InstructionSpec(
            name="sq_full",
            description="Apply the full time evolution (Lx, Lz and Lz2 terms) on the qudit.",
            min_wires=1,
            max_wires=1,
            params=(
                ParamSpec(name="omega", min=0.0, max=FULL_RANGE),
                ParamSpec(name="delta", min=0.0, max=FULL_RANGE),
                ParamSpec(name="chi", min=0.0, max=FULL_RANGE),
            ),
            coupling_map=((0,),),
            qasm_def="gate sq_full(omega, delta, chi) {}",
        ),
        measure(1, optional_wire=True),
        barrier(1),
    ),
)
