"""Parsing of `[name, wires, params]` instructions and the ordering rules all simulators share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SimulationError


@dataclass(frozen=True)
class Op:
    """One instruction, normalised: wires as ints, params as floats."""

    name: str
    wires: tuple[int, ...]
    params: tuple[float, ...]


def parse(instructions: Sequence[Sequence], num_wires: int) -> list[Op]:
    """Normalise instructions and reject wires outside the register."""
    ops: list[Op] = []
    for position, raw in enumerate(instructions):
        try:
            name, wires, params = raw
            op = Op(str(name), tuple(int(w) for w in wires), tuple(float(p) for p in params))
        except (TypeError, ValueError) as exc:
            raise SimulationError(
                f"instruction {position} ({raw!r}) is not of the form [name, wires, params]"
            ) from exc
        bad = [w for w in op.wires if not 0 <= w < num_wires]
        if bad:
            raise SimulationError(
                f"instruction {position} ({op.name}) uses wires {bad} outside 0..{num_wires - 1}"
            )
        ops.append(op)
    return ops


def infer_num_wires(instructions: Sequence[Sequence], default: int) -> int:
    """Register size when the caller gives none: enough for every wire used, at least `default`."""
    highest = -1
    for raw in instructions:
        try:
            highest = max([highest, *(int(w) for w in raw[1])])
        except (TypeError, ValueError, IndexError) as exc:
            raise SimulationError(f"instruction {raw!r} has no valid wire list") from exc
    return max(default, highest + 1)


def param(op: Op, count: int) -> tuple[float, ...]:
    """The op's parameters, checked for the count the simulator needs."""
    if len(op.params) != count:
        raise SimulationError(f"{op.name} needs {count} parameter(s), got {len(op.params)}")
    return op.params


class MeasureTracker:
    """Measurements are deferred to the end of the circuit (as the reference servers do).

    That is exact only while no gate that changes populations touches a wire after it was
    measured; diagonal gates commute with the measurement and stay allowed.
    """

    def __init__(self) -> None:
        self.order: list[int] = []

    def measure(self, wire: int) -> None:
        # Repeated measurements of one wire are reported repeatedly, as the servers do.
        self.order.append(wire)

    def check_gate(self, op: Op, wires: Sequence[int], diagonal: bool) -> None:
        if diagonal:
            return
        measured = sorted(set(wires) & set(self.order))
        if measured:
            raise SimulationError(
                f"{op.name} acts on wires {measured} after they were measured; mid-circuit "
                "measurement followed by population-changing gates cannot be simulated"
            )
