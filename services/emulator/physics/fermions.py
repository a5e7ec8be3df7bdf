"""Exact simulation of the fermionic tweezer backend: 4 tweezers x 2 spins in a fixed-N sector."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import combinations

import numpy as np

from .circuit import MeasureTracker, Op, param
from .errors import SimulationError
from .sampling import OutcomeTable, table_from_levels

NUM_TWEEZERS = 4
NUM_WIRES = 2 * NUM_TWEEZERS  # interleaved: wire 2k = spin up in tweezer k, 2k+1 = spin down

# Hopping, interaction and phases all conserve the particle number of each spin species, so the
# state never leaves the sector fixed by the `load`s (at most C(4,2)^2 = 36 states).


@lru_cache(maxsize=32)
def sector(n_up: int, n_down: int) -> tuple[np.ndarray, np.ndarray]:
    """Basis of the sector as occupation bitmasks and the occupation table occ[wire, state]."""
    ups = [sum(1 << (2 * k) for k in c) for c in combinations(range(NUM_TWEEZERS), n_up)]
    downs = [sum(1 << (2 * k + 1) for k in c) for c in combinations(range(NUM_TWEEZERS), n_down)]
    masks = np.array(sorted(u | d for u in ups for d in downs), dtype=np.int64)
    occ = (masks[None, :] >> np.arange(NUM_WIRES)[:, None]) & 1
    masks.setflags(write=False)
    occ.setflags(write=False)
    return masks, occ


@lru_cache(maxsize=256)
def hop_eigen(n_up: int, n_down: int, tweezers: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of sum_chain sum_spin (c+_a c_b + h.c.) in the sector (real symmetric).

    The sign of each term follows the Jordan-Wigner string in wire order; outcome probabilities
    do not depend on which mode order is chosen, so this matches qiskit's sequential order.
    """
    masks, _ = sector(n_up, n_down)
    index = {int(m): i for i, m in enumerate(masks)}
    h = np.zeros((len(masks), len(masks)))
    for t, u in zip(tweezers, tweezers[1:]):
        for spin in (0, 1):
            a, b = 2 * t + spin, 2 * u + spin
            lo, hi = min(a, b), max(a, b)
            between = ((1 << hi) - 1) & ~((1 << (lo + 1)) - 1)
            for i, mask in enumerate(int(m) for m in masks):
                if (mask >> b) & 1 and not (mask >> a) & 1:
                    j = index[mask ^ (1 << a) ^ (1 << b)]
                    sign = -1.0 if bin(mask & between).count("1") % 2 else 1.0
                    h[j, i] += sign
                    h[i, j] += sign
    return np.linalg.eigh(h)


def _tweezers(op: Op) -> tuple[int, ...]:
    """Tweezers addressed by a gate whose wires must cover whole tweezers (both spins)."""
    order = tuple(dict.fromkeys(w // 2 for w in op.wires))
    if len(op.wires) != 2 * len(order) or {w // 2 for w in op.wires} != set(order) or len(
        set(op.wires)
    ) != len(op.wires):
        raise SimulationError(
            f"{op.name} must act on both spin wires (2k, 2k+1) of each tweezer, "
            f"got {list(op.wires)}"
        )
    return order


def simulate(ops: Sequence[Op]) -> OutcomeTable:
    loaded: set[int] = set()
    started = False
    for op in ops:
        if op.name == "load":
            if started:
                raise SimulationError(
                    "load after a gate or measurement cannot be simulated; load all fermions first"
                )
            if len(op.wires) != 1 or op.wires[0] in loaded:
                raise SimulationError(
                    "load puts one fermion on one empty wire (Pauli exclusion), got "
                    f"{list(op.wires)} with wires {sorted(loaded)} already loaded"
                )
            loaded.add(op.wires[0])
        elif op.name != "barrier":
            started = True
    n_up = sum(1 for w in loaded if w % 2 == 0)
    masks, occ = sector(n_up, len(loaded) - n_up)
    initial = sum(1 << w for w in loaded)
    psi = (masks == initial).astype(complex)

    tracker = MeasureTracker()
    for op in ops:
        if op.name in ("load", "barrier"):
            continue
        if op.name == "measure":
            for wire in op.wires:
                tracker.measure(wire)
        elif op.name == "fhop":
            (j,) = param(op, 1)
            tweezers = _tweezers(op)
            if len(tweezers) < 2:
                raise SimulationError(f"fhop needs at least two tweezers, got {list(op.wires)}")
            tracker.check_gate(op, op.wires, diagonal=j == 0.0)
            # qiskit-cold-atom's Hop gate: H = -J sum (c+_a c_b + h.c.), U = exp(-i H).
            vals, vecs = hop_eigen(n_up, len(loaded) - n_up, tweezers)
            psi = (vecs * np.exp(1j * j * vals)) @ (vecs.T @ psi)
        elif op.name == "fint":
            (u,) = param(op, 1)
            tweezers = _tweezers(op)
            double = sum(occ[2 * t] * occ[2 * t + 1] for t in tweezers)
            psi = psi * np.exp(-1j * u * double)
        elif op.name == "fphase":
            (mu,) = param(op, 1)
            if len(set(op.wires)) != len(op.wires):
                raise SimulationError(f"fphase needs distinct wires, got {list(op.wires)}")
            count = sum(occ[w] for w in op.wires)
            psi = psi * np.exp(-1j * mu * count)
        else:
            raise SimulationError(f"fermions cannot simulate instruction {op.name!r}")
    return table_from_levels(np.abs(psi) ** 2, occ, tracker.order)
