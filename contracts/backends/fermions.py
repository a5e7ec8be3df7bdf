"""The `fermions` backend: 4 tweezers x 2 spin states, interleaved wires (sqooler-example)."""

from __future__ import annotations

from contracts.backends.spec import (
    TWO_PI,
    BackendSpec,
    InstructionSpec,
    ParamSpec,
    barrier,
    measure,
)

NUM_WIRES = 8
ALL_WIRES = tuple(range(NUM_WIRES))


def _gate(
    name: str, param: str, min_wires: int, max_wires: int, coupling: tuple[tuple[int, ...], ...],
    description: str,
) -> InstructionSpec:
    # Fermion gates take their one parameter optionally (sqooler: `max_length=1`, no minimum).
    return InstructionSpec(
        name=name,
        description=description,
        min_wires=min_wires,
        max_wires=max_wires,
        params=(ParamSpec(name=param, min=0.0, max=TWO_PI),),
        min_params=0,
        coupling_map=coupling,
    )


SPEC = BackendSpec(
    display_name="fermions",
    version="0.1",
    description=(
        "simulator of a fermionic tweezer hardware. The even wires denote the occupations of "
        "the spin-up fermions and the odd wires denote the spin-down fermions"
    ),
    cold_atom_type="fermion",
    num_wires=NUM_WIRES,
    num_species=2,
    # Wires 2k / 2k+1 are the two spin states of tweezer k; a sequential job would silently
    # address the wrong modes, so it is refused rather than reinterpreted.
    wire_order="interleaved",
    accepted_wire_orders=("interleaved",),
    max_shots=2000,
    max_experiments=1000,
    simulator=True,
    instructions=(
        InstructionSpec(
            name="load", description="Load one fermion onto the wire.", min_wires=1, max_wires=1
        ),
        barrier(NUM_WIRES),
        # sqooler lists the full array [0..7] too, but the 4-wire rule can never reach it.
        _gate(
            "fhop", "j_i", 4, 4,
            ((0, 1, 2, 3), (2, 3, 4, 5), (4, 5, 6, 7), ALL_WIRES),
            "hopping of atoms to neighboring tweezers",
        ),
        _gate(
            "fint", "u", 2, NUM_WIRES, (ALL_WIRES,),
            "on-site interaction of atoms of opposite spin state",
        ),
        _gate(
            "fphase", "mu_i", 2, 2,
            ((0, 1), (2, 3), (4, 5), (6, 7), ALL_WIRES),
            "Applying a local phase to tweezers through an external potential",
        ),
        measure(NUM_WIRES),
    ),
)
