"""Exact simulation of the Rydberg tweezer chain: two-level atoms with 1/r^6 blockade."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import scipy.sparse as sp

from . import qudits
from .circuit import MeasureTracker, Op, param
from .errors import SimulationError
from .sampling import OutcomeTable, table_from_levels

NUM_WIRES = 5
MAX_WIRES = 5
BLOCKADE_NAMES = frozenset({"rydberg_block", "rydberg_blockade"})

# Level 0 is the ground state (Lz = +1/2), level 1 the Rydberg state (Lz = -1/2), so the
# Rydberg occupation n = 1/2 - Lz is simply the level index.
_OCCUPATION = np.array([0.0, 1.0])
_LZ = qudits.magnetisation(1)


def simulate(ops: Sequence[Op], num_wires: int) -> OutcomeTable:
    if num_wires > MAX_WIRES:
        raise SimulationError(f"rydberg has at most {MAX_WIRES} wires, got {num_wires}")
    reg = qudits.Register([2] * num_wires)
    tracker = MeasureTracker()
    for op in ops:
        if op.name == "barrier":
            continue
        if op.name == "measure":
            for wire in op.wires:
                tracker.measure(wire)
        elif op.name in ("rlx", "rlz"):
            if len(op.wires) != 1:
                raise SimulationError(f"{op.name} acts on one wire, got {list(op.wires)}")
            (angle,) = param(op, 1)
            (wire,) = op.wires
            tracker.check_gate(op, op.wires, diagonal=op.name == "rlz" or angle == 0.0)
            if op.name == "rlz":
                reg.apply_energies(reg.along(wire, angle * _LZ))
            else:
                reg.apply_local(wire, qudits.local_eigen(1, angle, 0.0, 0.0))
        elif op.name in BLOCKADE_NAMES:
            (phi,) = param(op, 1)
            tracker.check_gate(op, op.wires, diagonal=True)
            reg.apply_energies(_blockade(reg, op.wires, phi))
        elif op.name == "rydberg_full":
            omega, delta, phi = param(op, 3)
            tracker.check_gate(op, op.wires, diagonal=omega == 0.0)
            energies = _blockade(reg, op.wires, phi)
            for wire in op.wires:
                energies = energies + reg.along(wire, delta * _LZ)
            if omega == 0.0:
                reg.apply_energies(energies)
                continue
            # Only 2^5 = 32 states: build the full generator and exponentiate it densely.
            h = sp.diags(np.broadcast_to(energies, reg.dims).ravel(), format="csr")
            for wire in op.wires:
                h = h + omega * qudits.embedded("lx", (1,) * num_wires, wire)
            reg.apply_generator(range(num_wires), h)
        else:
            raise SimulationError(f"rydberg cannot simulate instruction {op.name!r}")
    return table_from_levels(reg.probabilities(), reg.levels(), tracker.order)


def _blockade(reg: qudits.Register, wires: Sequence[int], phi: float) -> np.ndarray | float:
    """phi * sum_{i<j} n_i n_j / |i - j|^6 over the listed wires, positions = wire indices."""
    if len(set(wires)) != len(wires):
        raise SimulationError(f"Rydberg interaction needs distinct wires, got {list(wires)}")
    energies: np.ndarray | float = 0.0
    for a, b in combinations(wires, 2):
        strength = phi / abs(a - b) ** 6
        energies = energies + strength * reg.along(a, _OCCUPATION) * reg.along(b, _OCCUPATION)
    return energies
