"""Time services.emulator.physics against qiskit-cold-atom on the compat tests' random circuits.

Run: `.venv/bin/python tests/bench/bench_physics.py [circuits per family]`. Both sides simulate
each circuit once with 1,000 shots; qiskit-cold-atom is timed inside its compat subprocess
around `backend.run(...).result()` only, so its import time is excluded. Our side is timed in
this process on the same circuits in the same order (operator caches start cold).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "physics"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import physics_circuits as pc  # noqa: E402

from services.emulator.physics import outcome_distribution, simulate  # noqa: E402

SHOTS = 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rows = []
    for family, generate in pc.GENERATORS.items():
        circuits = generate(count)
        ref = pc.reference(family, circuits, shots=SHOTS, seed=1)
        ours_ms = []
        for k, circuit in enumerate(circuits):
            start = time.perf_counter()
            simulate(family, circuit["instructions"], SHOTS, seed=k, num_wires=circuit["num_wires"])
            ours_ms.append((time.perf_counter() - start) * 1000)
        worst = max(
            pc.total_variation(outcome_distribution(family, c["instructions"], c["num_wires"]), d)
            for c, d in zip(circuits, ref["distributions"])
        )
        ours, theirs = statistics.mean(ours_ms), statistics.mean(ref["run_ms"])
        rows.append((family, len(circuits), ours, theirs, theirs / ours, worst))
    print(f"qiskit-cold-atom {ref['qiskit_cold_atom']}, {SHOTS} shots/circuit, mean over circuits")
    header = ("family", "circuits", "ours ms/circuit", "qiskit-cold-atom ms/circuit", "speed-up",
              "max TVD")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for family, n, ours, theirs, ratio, worst in rows:
        print(f"| {family} | {n} | {ours:.2f} | {theirs:.1f} | {ratio:.0f}x | {worst:.1e} |")


if __name__ == "__main__":
    main()
