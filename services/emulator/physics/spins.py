"""Exact simulation of the singlequdit and multiqudit collective-spin backends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from . import qudits
from .circuit import MeasureTracker, Op, param
from .errors import SimulationError
from .sampling import OutcomeTable, table_from_levels

MAX_ATOMS_SINGLE = 500
MAX_DIMENSION_MULTI = 4096
MAX_WIRES_MULTI = 5
# sqooler gives a wire without `load` spin 1/2, i.e. the dimension of one atom.
UNLOADED_ATOMS = 1

_SINGLE_GATES = frozenset({"rlx", "rlz", "rlz2", "sq_full"})
_MULTI_GATES = frozenset({"rlx", "rlz", "rlz2", "rlxly", "rlzlz", "multiqudit_full"})


def atoms_per_wire(ops: Sequence[Op], num_wires: int) -> list[int]:
    """Atom number per wire from the `load` instructions, which must precede use of their wire."""
    atoms: list[int | None] = [None] * num_wires
    used: set[int] = set()
    for op in ops:
        if op.name != "load":
            if op.name != "barrier":
                used.update(op.wires)
            continue
        if len(op.wires) != 1:
            raise SimulationError(f"load acts on exactly one wire, got {list(op.wires)}")
        (wire,) = op.wires
        (count,) = param(op, 1)
        if count < 0 or count != int(count):
            raise SimulationError(f"load needs a non-negative integer atom number, got {count}")
        if atoms[wire] is not None:
            raise SimulationError(f"wire {wire} is loaded twice; load each qudit once")
        if wire in used:
            raise SimulationError(
                f"wire {wire} is loaded after a gate or measurement acted on it; "
                "load must come first"
            )
        atoms[wire] = int(count)
    return [UNLOADED_ATOMS if a is None else a for a in atoms]


def simulate_single(ops: Sequence[Op]) -> OutcomeTable:
    """One collective spin of N <= 500 atoms."""
    (n_atoms,) = atoms_per_wire(ops, 1)
    if n_atoms > MAX_ATOMS_SINGLE:
        raise SimulationError(
            f"singlequdit supports at most {MAX_ATOMS_SINGLE} atoms, {n_atoms} were loaded"
        )
    return _run(ops, [n_atoms], _SINGLE_GATES, "singlequdit")


def simulate_multi(ops: Sequence[Op], num_wires: int) -> OutcomeTable:
    """Up to five collective spins; the product of the wire dimensions is capped at 4096."""
    if num_wires > MAX_WIRES_MULTI:
        raise SimulationError(f"multiqudit has at most {MAX_WIRES_MULTI} wires, got {num_wires}")
    atoms = atoms_per_wire(ops, num_wires)
    dimension = int(np.prod([n + 1 for n in atoms], dtype=object))
    if dimension > MAX_DIMENSION_MULTI:
        raise SimulationError(
            f"Hilbert space dimension {dimension} (atoms per wire {atoms}, unloaded wires count "
            f"as spin 1/2) exceeds the multiqudit limit of {MAX_DIMENSION_MULTI}"
        )
    return _run(ops, atoms, _MULTI_GATES, "multiqudit")


def _run(
    ops: Sequence[Op], atoms: list[int], gates: frozenset[str], backend: str
) -> OutcomeTable:
    reg = qudits.Register([n + 1 for n in atoms])
    tracker = MeasureTracker()
    for op in ops:
        if op.name in ("load", "barrier"):
            continue
        if op.name == "measure":
            for wire in op.wires:
                tracker.measure(wire)
            continue
        if op.name not in gates:
            raise SimulationError(f"{backend} cannot simulate instruction {op.name!r}")
        _apply_gate(reg, op, atoms, tracker)
    return table_from_levels(reg.probabilities(), reg.levels(), tracker.order)


def _single_wire(op: Op) -> int:
    if len(op.wires) != 1:
        raise SimulationError(f"{op.name} acts on one wire, got {list(op.wires)}")
    return op.wires[0]


def _chain(op: Op) -> list[tuple[int, int]]:
    """Nearest-neighbour pairs along the listed wires (a pair for two wires, a chain for more)."""
    wires = list(op.wires)
    if len(wires) < 2 or len(set(wires)) != len(wires):
        raise SimulationError(f"{op.name} needs two or more distinct wires, got {wires}")
    return list(zip(wires, wires[1:]))


def _apply_gate(reg: qudits.Register, op: Op, atoms: list[int], tracker: MeasureTracker) -> None:
    name = op.name
    if name in ("rlx", "rlz", "rlz2", "sq_full"):
        wire = _single_wire(op)
        if name == "sq_full":
            omega, delta, chi = param(op, 3)
        else:
            (angle,) = param(op, 1)
            omega, delta, chi = {"rlx": (angle, 0.0, 0.0), "rlz": (0.0, angle, 0.0)}.get(
                name, (0.0, 0.0, angle)
            )
        tracker.check_gate(op, op.wires, diagonal=omega == 0.0)
        m = qudits.magnetisation(atoms[wire])
        if omega == 0.0:
            reg.apply_energies(reg.along(wire, delta * m + chi * m * m))
        else:
            reg.apply_local(wire, qudits.local_eigen(atoms[wire], omega, delta, chi))
    elif name == "rlzlz":
        (j_zz,) = param(op, 1)
        tracker.check_gate(op, op.wires, diagonal=True)
        reg.apply_energies(_zz_energies(reg, _chain(op), atoms, j_zz))
    elif name == "rlxly":
        (j_xy,) = param(op, 1)
        pairs = _chain(op)
        tracker.check_gate(op, op.wires, diagonal=False)
        reg.apply_generator(op.wires, j_xy * _flip_flop(op.wires, pairs, atoms))
    elif name == "multiqudit_full":
        omega, delta, chi, j_xy, j_zz = param(op, 5)
        pairs = _chain(op)
        diagonal = omega == 0.0 and j_xy == 0.0
        tracker.check_gate(op, op.wires, diagonal=diagonal)
        energies = _zz_energies(reg, pairs, atoms, j_zz)
        for wire in op.wires:
            m = qudits.magnetisation(atoms[wire])
            energies = energies + reg.along(wire, delta * m + chi * m * m)
        if diagonal:
            reg.apply_energies(energies)
            return
        h = _flip_flop(op.wires, pairs, atoms) * j_xy + _diagonal_on(op.wires, reg, energies)
        local_atoms = tuple(atoms[w] for w in op.wires)
        for pos in range(len(op.wires)):
            h = h + omega * qudits.embedded("lx", local_atoms, pos)
        reg.apply_generator(op.wires, h)


def _zz_energies(
    reg: qudits.Register, pairs: list[tuple[int, int]], atoms: list[int], j_zz: float
) -> np.ndarray | float:
    energies: np.ndarray | float = 0.0
    for a, b in pairs:
        energies = energies + j_zz * reg.along(a, qudits.magnetisation(atoms[a])) * reg.along(
            b, qudits.magnetisation(atoms[b])
        )
    return energies


def _flip_flop(
    wires: Sequence[int], pairs: list[tuple[int, int]], atoms: list[int]
) -> sp.csr_matrix:
    """Sum of Lx Lx + Ly Ly over the chain, on the space of `wires` in that order."""
    local_atoms = tuple(atoms[w] for w in wires)
    pos = {w: k for k, w in enumerate(wires)}
    h = sp.csr_matrix((int(np.prod([n + 1 for n in local_atoms])),) * 2)
    for a, b in pairs:
        flip = qudits.embedded("raise", local_atoms, pos[a]) @ qudits.embedded(
            "raise", local_atoms, pos[b]
        ).T
        h = h + (flip + flip.T) / 2
    return h.tocsr()


def _diagonal_on(
    wires: Sequence[int], reg: qudits.Register, energies: np.ndarray | float
) -> sp.csr_matrix:
    """Restrict register-shaped diagonal energies (which only vary along `wires`) to those wires."""
    full = np.broadcast_to(energies, reg.dims)
    index = tuple(slice(None) if w in wires else 0 for w in range(len(reg.dims)))
    local = np.moveaxis(full[index], np.argsort(np.argsort(list(wires))), range(len(wires)))
    return sp.diags(np.ascontiguousarray(local).ravel(), format="csr")
