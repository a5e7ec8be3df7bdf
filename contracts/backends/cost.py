"""Estimated costs of one experiment: simulation work units, and the bytes of its result."""

from __future__ import annotations

import math
from collections.abc import Sequence

from contracts.job import Instruction

# Gates the simulator evolves with a generator on their wires' joint space: a dense eigh of
# that space is the worst case (O(D^3), D the product of the wires' dimensions).
_GENERATOR_GATES = frozenset({"rlxly", "multiqudit_full"})


#: An experiment's share of the result whatever its shots: its header, name and circuit echo.
RESULT_EXPERIMENT_BYTES = 4096


def _dimensions(num_wires: int, instructions: Sequence[Instruction]) -> list[int]:
    """Each wire's dimension: N + 1 after `load` N on it, else 2."""
    used = [wire for ins in instructions for wire in ins.wires]
    dims = [2] * max(num_wires, max(used, default=-1) + 1)
    for ins in instructions:
        if ins.name == "load" and ins.wires and ins.params:
            dims[ins.wires[0]] = int(ins.params[0]) + 1
    return dims


def simulation_cost(num_wires: int, instructions: Sequence[Instruction]) -> int:
    """Upper bound of the work units one evolution of this experiment costs.

    Generator gates cost D^3 (dense eigh of the space of their wires); every other gate costs
    the register size times its wire's dimension (a local rotation of each amplitude).
    """
    dims = _dimensions(num_wires, instructions)
    total = 0
    register = math.prod(dims)
    for ins in instructions:
        if ins.name in _GENERATOR_GATES and ins.wires:
            total += math.prod(dims[w] for w in ins.wires) ** 3
        elif ins.wires and ins.name not in ("load", "measure", "barrier"):
            total += register * dims[ins.wires[0]]
    return total


def result_bytes(num_wires: int, instructions: Sequence[Instruction], shots: int) -> int:
    """Upper bound of the experiment's bytes in the JSON result (the JobDone message).

    Every shot's memory string ("1 0 3") is listed once in ``memory`` and, at worst (all
    outcomes distinct), once more as a key of ``counts``.
    """
    dims = _dimensions(num_wires, instructions)
    memory = len(dims) * (len(str(max(dims) - 1)) + 1)  # each level's digits and a separator
    return RESULT_EXPERIMENT_BYTES + shots * (2 * (memory + 4) + 8)  # quotes, commas, a count
