"""Circuit -> runmanager globals: validated values written as ``repr()``, names checked, seeds derived.

runmanager stores every global twice: the raw expression in ``/globals/<group>`` (it ``eval``s
those, so they are only ever ``repr()`` of validated values, never user text) and the evaluated
value in ``/globals``. labscript injects the evaluated ones into builtins, which is why a name may
not shadow anything in labscript's namespace (``reserved_names``).
"""

from __future__ import annotations

import builtins
import json
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

GROUP = "shotline"
#: Sequence globals (same for every shot of an experiment), then the per-shot ones.
SEQUENCE_GLOBAL_NAMES = (
    "job_id", "backend", "experiment_name", "experiment_index", "circuit_json", "num_wires",
    "wire_order", "n_shots", "experiment_seed", "shot_index",
)
PER_SHOT_GLOBALS = ("shot_index", "shot_seed")
#: Largest experiment seed stored (HDF5 attributes hold 64-bit integers).
MAX_ENTROPY = 2**63 - 1


class GlobalNameError(ValueError):
    """A global name labscript would refuse (shadows Python, labscript or pylab, or invalid)."""


@dataclass(frozen=True)
class ExperimentGlobals:
    """Everything runmanager needs for one experiment's run files."""

    sequence_globals: dict[str, dict[str, tuple[str, str, str]]]
    values: dict[str, Any]  # evaluated sequence globals, shot_index excluded
    n_shots: int
    experiment_seed: int
    experiment_index: int

    def shot_globals(self, shot_index: int) -> dict[str, Any]:
        """The evaluated globals of one shot (what lands in ``/globals`` attributes)."""
        return {**self.values, "shot_index": shot_index,
                "shot_seed": shot_seed(self.experiment_seed, self.experiment_index, shot_index)}


def reserved_names(namespace: Iterable[str]) -> frozenset[str]:
    """Names labscript refuses for globals, given labscript's module namespace."""
    return frozenset(namespace) | frozenset(dir(builtins)) | frozenset(keyword.kwlist)


def check_global_names(names: Iterable[str], reserved: frozenset[str]) -> None:
    bad = sorted(n for n in names if n in reserved or not n.isidentifier())
    if bad:
        raise GlobalNameError(f"global names clash with labscript's namespace or are invalid: {bad}")


def shot_seed(experiment_seed: int, experiment_index: int, shot_index: int) -> int:
    """A 32-bit seed per shot, deterministic in (experiment seed, experiment, shot)."""
    sequence = np.random.SeedSequence(experiment_seed, spawn_key=(experiment_index, shot_index))
    return int(sequence.generate_state(1, np.uint32)[0])


def fresh_entropy() -> int:
    """Entropy for an experiment without a seed; drawn once per job and persisted with it."""
    return int(np.random.SeedSequence().generate_state(2, np.uint64)[0] & MAX_ENTROPY)


def _instruction(raw: Any) -> list[Any]:
    name, wires, params = raw
    return [str(name), [int(w) for w in wires],
            [p if isinstance(p, int) and not isinstance(p, bool) else float(p) for p in params]]


def experiment_globals(job_id: str, backend: str, name: str, index: int,
                       experiment: Mapping[str, Any], entropy: int) -> ExperimentGlobals:
    """Globals of one experiment of a validated job (wire form)."""
    seed = experiment.get("seed")
    experiment_seed = int(seed) if seed is not None else int(entropy)
    values: dict[str, Any] = {
        "job_id": str(job_id),
        "backend": str(backend),
        "experiment_name": str(name),
        "experiment_index": int(index),
        # A string global parsed by the sequence script: runmanager evaluates only its repr().
        "circuit_json": json.dumps([_instruction(i) for i in experiment["instructions"]],
                                   separators=(",", ":")),
        "num_wires": int(experiment["num_wires"]),
        "wire_order": str(experiment.get("wire_order") or ""),
        "n_shots": int(experiment["shots"]),
        "experiment_seed": experiment_seed,
    }
    raw = {k: (repr(v), "", "") for k, v in values.items()}
    # shot_index is runmanager's scan variable: one shot per value ('outer' expansion).
    raw["shot_index"] = (f"arange({values['n_shots']})", "", "outer")
    return ExperimentGlobals({GROUP: raw}, values, values["n_shots"], experiment_seed, int(index))


def sequence_attrs(script_basename: str, job_id: str, experiment: str, index: int,
                   now: datetime) -> dict[str, Any]:
    """Root attributes of runmanager's ``new_sequence_details``, minus its zlock-guarded counter.

    ``sequence_id`` must start with a timestamp (lyse parses it); the job and experiment make it
    unique without a shared counter.
    """
    return {
        "script_basename": script_basename,
        "sequence_date": now.strftime("%Y-%m-%d"),
        "sequence_index": int(index),
        "sequence_id": f"{now:%Y%m%dT%H%M%S}_{script_basename}_{job_id}_{experiment}",
    }
