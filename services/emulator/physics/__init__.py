"""Exact physics simulators for the fermions, singlequdit, multiqudit and rydberg backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import fermions, rydberg, spins
from .circuit import infer_num_wires, parse
from .errors import SimulationError
from .sampling import OutcomeTable, make_rng, sample

__all__ = ["BACKENDS", "Outcome", "SimulationError", "outcome_distribution", "simulate"]

BACKENDS: frozenset[str] = frozenset({"fermions", "singlequdit", "multiqudit", "rydberg"})

# Register size each backend assumes when the job does not state num_wires.
_DEFAULT_WIRES = {"fermions": fermions.NUM_WIRES, "singlequdit": 1, "multiqudit": 1, "rydberg": 5}
_MAX_WIRES = {"fermions": fermions.NUM_WIRES, "singlequdit": 1, "multiqudit": 5, "rydberg": 5}


@dataclass(frozen=True)
class Outcome:
    """Measurement record of one experiment: one memory string per shot (empty if unmeasured)."""

    memory: list[str]


def _table(backend: str, instructions: Sequence[Sequence], num_wires: int | None) -> OutcomeTable:
    if backend not in BACKENDS:
        raise SimulationError(f"no simulator for backend {backend!r}; known: {sorted(BACKENDS)}")
    if num_wires is None:
        num_wires = infer_num_wires(instructions, _DEFAULT_WIRES[backend])
    if not 1 <= num_wires <= _MAX_WIRES[backend]:
        raise SimulationError(
            f"{backend} has 1..{_MAX_WIRES[backend]} wires, the experiment asks for {num_wires}"
        )
    ops = parse(instructions, num_wires)
    if backend == "fermions":
        return fermions.simulate(ops)
    if backend == "singlequdit":
        return spins.simulate_single(ops)
    if backend == "multiqudit":
        return spins.simulate_multi(ops, num_wires)
    return rydberg.simulate(ops, num_wires)


def outcome_distribution(
    backend: str, instructions: Sequence[Sequence], num_wires: int | None = None
) -> dict[str, float]:
    """Exact probability of every memory string with non-negligible weight ({} without measure)."""
    return _table(backend, instructions, num_wires).as_dict()


def simulate(
    backend: str,
    instructions: Sequence[Sequence],
    shots: int,
    seed: int | None,
    num_wires: int | None = None,
) -> Outcome:
    """Evolve the state once, then draw all shots from it with a seeded generator."""
    if shots < 0:
        raise SimulationError(f"shots must be non-negative, got {shots}")
    table = _table(backend, instructions, num_wires)
    return Outcome(memory=sample(table, shots, make_rng(seed)))
