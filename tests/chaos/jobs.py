"""Reproducible random chaos jobs on the four simulator backends (experiments, shots, seeds)."""

from __future__ import annotations

import random
from typing import Any

BACKENDS = ("fermions", "singlequdit", "multiqudit", "rydberg")


def _fermions(rng: random.Random) -> dict[str, Any]:
    sites = rng.sample(range(8), rng.randint(1, 4))
    instructions = [["load", [s], []] for s in sorted(sites)]
    if rng.random() < 0.5:
        instructions.append(["fhop", [0, 1, 2, 3], [round(rng.uniform(0, 3.14), 3)]])
    instructions += [["measure", [w], []] for w in range(8)]
    return {"instructions": instructions, "num_wires": 8, "wire_order": "interleaved"}


def _singlequdit(rng: random.Random) -> dict[str, Any]:
    return {"instructions": [["load", [0], [rng.randint(5, 60)]],
                             ["rlx", [0], [round(rng.uniform(0, 3.14), 3)]],
                             ["rlz2", [0], [round(rng.uniform(0, 1), 3)]],
                             ["measure", [0], []]], "num_wires": 1}


def _multiqudit(rng: random.Random) -> dict[str, Any]:
    return {"instructions": [["load", [0], [rng.randint(1, 4)]], ["load", [1], [rng.randint(1, 4)]],
                             ["rlx", [0], [round(rng.uniform(0, 3.14), 3)]],
                             ["rlxly", [0, 1], [round(rng.uniform(0, 2), 3)]],
                             ["measure", [0], []], ["measure", [1], []]], "num_wires": 2}


def _rydberg(rng: random.Random) -> dict[str, Any]:
    return {"instructions": [["rlx", [0], [round(rng.uniform(0, 3.14), 3)]],
                             ["rlx", [1], [round(rng.uniform(0, 3.14), 3)]],
                             ["rydberg_blockade", [0, 1, 2, 3, 4], [round(rng.uniform(0.5, 3), 3)]],
                             ["measure", [0], []], ["measure", [1], []], ["measure", [4], []]],
            "num_wires": 5}


_MAKERS = {"fermions": _fermions, "singlequdit": _singlequdit, "multiqudit": _multiqudit,
           "rydberg": _rydberg}


def make_jobs(count: int, seed: int, max_experiments: int = 3,
              shots: tuple[int, int] = (2, 12)) -> list[tuple[str, dict[str, Any]]]:
    """``count`` (backend, job) pairs, backends in rotation; about half the experiments seeded."""
    rng = random.Random(seed)
    jobs = []
    for n in range(count):
        backend = BACKENDS[n % len(BACKENDS)]
        job = {}
        for e in range(rng.randint(1, max_experiments)):
            experiment = {**_MAKERS[backend](rng), "shots": rng.randint(*shots)}
            if rng.random() < 0.5:
                experiment["seed"] = rng.randint(0, 2**32 - 1)
            job[f"experiment_{e}"] = experiment
        jobs.append((backend, job))
    return jobs
