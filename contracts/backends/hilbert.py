"""Hilbert-space size of a qudit experiment, as the multiqudit simulator allocates it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from contracts.job import Instruction


def hilbert_dimension(num_wires: int, instructions: Sequence[Instruction]) -> int:
    """State-space size the qudit simulator allocates for one experiment.

    As sqooler-example multiqudit: every wire of the register starts as a spin 1/2 (dimension
    2) and `load` N on a wire makes it dimension N+1 (the last load wins). The register is
    the job's num_wires, widened to the highest wire used because PennyLane under-reports it.
    """
    used = [wire for ins in instructions for wire in ins.wires]
    dims = [2] * max(num_wires, max(used, default=-1) + 1)
    for ins in instructions:
        if ins.name == "load" and ins.wires and ins.params:
            dims[ins.wires[0]] = int(ins.params[0]) + 1
    return math.prod(dims)
