"""Estimated simulation cost of one qudit experiment, in the exact simulator's work units."""

from __future__ import annotations

import math
from collections.abc import Sequence

from contracts.job import Instruction

# Gates the simulator evolves with a generator on their wires' joint space: a dense eigh of
# that space is the worst case (O(D^3), D the product of the wires' dimensions).
_GENERATOR_GATES = frozenset({"rlxly", "multiqudit_full"})


def simulation_cost(num_wires: int, instructions: Sequence[Instruction]) -> int:
    """Upper bound of the work units one evolution of this experiment costs.

    Generator gates cost D^3 (dense eigh of the space of their wires); every other gate costs
    the register size times its wire's dimension (a local rotation of each amplitude).
    """
    used = [wire for ins in instructions for wire in ins.wires]
    dims = [2] * max(num_wires, max(used, default=-1) + 1)
    total = 0
    for ins in instructions:
        if ins.name == "load" and ins.wires and ins.params:
            dims[ins.wires[0]] = int(ins.params[0]) + 1
    register = math.prod(dims)
    for ins in instructions:
        if ins.name in _GENERATOR_GATES and ins.wires:
            total += math.prod(dims[w] for w in ins.wires) ** 3
        elif ins.wires and ins.name not in ("load", "measure", "barrier"):
            total += register * dims[ins.wires[0]]
    return total
