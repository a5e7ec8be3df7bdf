"""Calibrate contracts.backends.cost against the wall time of the exact simulator on this machine.

Run: `.venv/bin/python tests/bench/bench_cost.py`. For a ladder of multiqudit and singlequdit
circuits it times ``outcome_distribution`` in this process (best of 3 below a second, else one
run) and prints the estimated cost, the seconds and the seconds per 1e9 cost units. Generator
gates get large parameters, which make the simulator take its worst path (a dense eigh of the
joint space; small ones let a Krylov step do it cheaply, shown as the "mild" rows). It then says
what each backend's ``max_simulation_cost`` comes to in seconds at the worst measured rate, next
to its ``max_shot_seconds``, and, as the baseline of the isolation, what the emulator's physics
worker costs: its start, a warm round trip and the SIGKILL at a 0.5 s limit. About a minute.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("READTHEDOCS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from contracts.backends import BACKENDS  # noqa: E402
from contracts.backends.cost import simulation_cost  # noqa: E402
from contracts.job import Instruction  # noqa: E402
from services.emulator.physics import SimulationError, outcome_distribution  # noqa: E402
from services.emulator.simulation import Simulator  # noqa: E402

HARD = [1e4, 1e4, 1e3, 1e4, 1e4]  # multiqudit_full (omega, delta, chi, Jxy, Jzz): dense eigh
MILD = [1.0, 0.5, 0.1, 1.0, 0.3]  # the same gate at small couplings: a Krylov step
RATE_FROM = 10**9  # rows at least this costly set the rate (below it, overheads dominate)


def multi(loads: list[int], gates: list[list], num_wires: int | None = None) -> dict:
    wires = list(range(len(loads)))
    instructions = ([["load", [w], [n]] for w, n in zip(wires, loads)] + gates
                    + [["measure", [w], []] for w in wires])
    return {"backend": "multiqudit", "instructions": instructions,
            "num_wires": num_wires or len(loads)}


def full(wires: list[int], params: list[float], times: int = 1) -> list[list]:
    return [["multiqudit_full", wires, [p * (1 + 0.01 * k) for p in params]]
            for k in range(times)]


def single(atoms: int, gates: list[list]) -> dict:
    return {"backend": "singlequdit", "num_wires": 1,
            "instructions": [["load", [0], [atoms]], *gates, ["measure", [0], []]]}


def ladder() -> list[tuple[str, dict, bool]]:
    """(name, circuit, calibrates): only worst-path rows set a backend's rate."""
    rows = [(f"2 qudits x {n + 1} levels, 1 full gate", multi([n, n], full([0, 1], HARD)),
             True) for n in (7, 15, 23, 31, 39, 45)]
    rows += [(f"3 qudits x {n + 1} levels, 1 full gate",
              multi([n, n, n], full([0, 1, 2], HARD)), True) for n in (7, 11)]
    rows += [("2 qudits x 32 levels, 2 full gates", multi([31, 31], full([0, 1], HARD, 2)), True),
             ("2 qudits x 46 levels, 1 mild full gate", multi([45, 45], full([0, 1], MILD)),
              False),
             ("2 qudits x 64 levels, 1 mild full gate", multi([63, 63], full([0, 1], MILD)),
              False),
             ("2 qudits x 46 levels, 1 rlxly (J=60)",
              multi([45, 45], [["rlxly", [0, 1], [60.0]]]), False),
             ("4 qudits x 8 levels, 200 rlx",
              multi([7] * 4, [["rlx", [k % 4], [1.0 + k / 100]] for k in range(200)]), False)]
    rows += [(f"1 qudit x {n + 1} levels, 20 sq_full", single(
        n, [["sq_full", [0], [1e4 + k, 1e3, 1e2]] for k in range(20)]), n >= 200)
        for n in (50, 200, 500)]
    return rows


def timed(circuit: dict) -> float:
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        outcome_distribution(circuit["backend"], circuit["instructions"], circuit["num_wires"])
        best = min(best, time.perf_counter() - began)
        if best > 1.0:
            break
    return best


def calibrate() -> dict[str, list[float]]:
    """Print the ladder; the seconds per 1e9 units of each backend's calibrating rows."""
    print("| circuit | backend | cost (units) | seconds | s per 1e9 units | calibrates |")
    print("|---|---|---|---|---|---|")
    rates: dict[str, list[float]] = {}
    timed(multi([7, 7], full([0, 1], HARD)))  # scipy's lazy imports and first-call set-up
    for name, circuit, calibrates in ladder():
        instructions = [Instruction.model_validate(ins) for ins in circuit["instructions"]]
        cost = simulation_cost(circuit["num_wires"], instructions)
        backend = circuit["backend"]
        try:
            seconds = timed(circuit)
        except SimulationError as exc:
            print(f"| {name} | {backend} | {cost:.3g} | refused: {exc} | | |")
            continue
        rate = seconds / cost * 1e9
        # Below RATE_FROM units a multiqudit row measures overheads, not the model's term.
        calibrates = calibrates and (backend != "multiqudit" or cost >= RATE_FROM)
        print(f"| {name} | {backend} | {cost:.3g} | {seconds:.3f} | {rate:.3g} | "
              f"{'yes' if calibrates else 'no'} |")
        if calibrates:
            rates.setdefault(backend, []).append(rate)
    return rates


def caps(rates: dict[str, list[float]]) -> None:
    """Each backend's cap in seconds and its time limit in cost units, at the measured rates."""
    print("\n| backend | s per 1e9 units (median / worst) | max_simulation_cost | "
          "cap in seconds (median / worst) | max_shot_seconds | limit in units (median / worst) |")
    print("|---|---|---|---|---|---|")
    for spec in BACKENDS.values():
        measured = rates.get(spec.display_name)
        limit = spec.max_shot_seconds
        cap = spec.max_simulation_cost
        if not measured:
            print(f"| {spec.display_name} | not measured | {cap or 'none'} | - | {limit:g} | - |")
            continue
        typical, worst = statistics.median(measured), max(measured)
        cap_s = f"{cap * typical / 1e9:.1f} / {cap * worst / 1e9:.1f}" if cap else "no cap"
        print(f"| {spec.display_name} | {typical:.3g} / {worst:.3g} | "
              f"{f'{cap:.3g}' if cap else 'none'} | {cap_s} | {limit:g} | "
              f"{limit / typical * 1e9:.3g} / {limit / worst * 1e9:.3g} |")


def isolation() -> None:
    """The baseline: what running the physics in a killable worker costs per shot."""
    small = json.dumps(multi([3, 2], [["rlx", [0], [1.0]]])["instructions"])
    slow = json.dumps(multi([63, 63], full([0, 1], MILD, 40))["instructions"])
    sim = Simulator(override_s=0.5)
    try:
        began = time.perf_counter()
        sim.warm_up()
        start = time.perf_counter() - began
        round_trips = []
        for k in range(20):  # distinct circuits: the per-circuit cache must not answer
            circuit = small.replace("[1.0]", f"[{1.0 + k / 100}]")
            began = time.perf_counter()
            sim.table("multiqudit", circuit, 2)
            round_trips.append(time.perf_counter() - began)
        began = time.perf_counter()
        outcome_distribution("multiqudit", json.loads(small.replace("[1.0]", "[2.0]")), 2)
        direct = time.perf_counter() - began
        began = time.perf_counter()
        try:
            sim.table("multiqudit", slow, 2)
        except SimulationError:
            pass
        killed = time.perf_counter() - began
        began = time.perf_counter()
        sim.table("multiqudit", small.replace("[1.0]", "[3.0]"), 2)  # not cached: a real run
        after = time.perf_counter() - began
    finally:
        sim.close()
    print("\n| physics worker | seconds |\n|---|---|")
    print(f"| start (spawn + physics import) | {start:.3f} |")
    print(f"| small circuit through the worker (median of 20) | "
          f"{statistics.median(round_trips):.4f} |")
    print(f"| the same circuit in-process | {direct:.4f} |")
    print(f"| 40-gate 4096-state circuit at a 0.5 s limit: killed after | {killed:.3f} |")
    print(f"| next circuit, waiting for the replacement worker | {after:.3f} |")


def main() -> None:
    began = time.perf_counter()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine skews the "
          "seconds); cost model: contracts.backends.cost.simulation_cost")
    caps(calibrate())
    isolation()
    print(f"\nbench took {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
