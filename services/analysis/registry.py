"""Which lyse routines analyse which backend, and which routine's ``memory`` is the shot's outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

#: The routine files shipped with shotline; synced into the profile's analysislib at start-up.
ROUTINES_SOURCE = Path(__file__).with_name("routines")


@dataclass(frozen=True)
class BackendAnalysis:
    """The routines of one backend, as file names in the analysislib."""

    single_shot: tuple[str, ...]
    #: Single-shot routine whose ``/results/<stem>/memory`` is the shot's memory string.
    memory_routine: str
    multi_shot: tuple[str, ...] = ()

    @property
    def memory_group(self) -> str:
        return Path(self.memory_routine).stem


# The four simulators image every measured wire the same way (services.common.imaging): one
# routine reads atoms per site, which is the occupation or the level index of each wire.
_SIMULATOR = BackendAnalysis(
    single_shot=("occupation.py",),
    memory_routine="occupation.py",
    multi_shot=("outcome_histogram.py",),
)

ANALYSES: Mapping[str, BackendAnalysis] = {
    "fermions": _SIMULATOR,
    "singlequdit": _SIMULATOR,
    "multiqudit": _SIMULATOR,
    "rydberg": _SIMULATOR,
}


def analyses_with_extras(extra: Mapping[str, Sequence[str]],
                         base: Mapping[str, BackendAnalysis] = ANALYSES) -> dict[str, BackendAnalysis]:
    """``base`` with a lab's routines appended to the single-shot routines of their backends."""
    unknown = sorted(set(extra) - set(base))
    if unknown:
        raise ValueError(f"extra routines for unknown backends {unknown}; known: {sorted(base)}")
    return {
        name: replace(analysis, single_shot=analysis.single_shot + tuple(extra.get(name, ())))
        for name, analysis in base.items()
    }


def routine_files() -> dict[str, str]:
    """File name -> text of every shipped routine, for ``ensure_profile(analysis_sync=...)``."""
    return {p.name: p.read_text() for p in sorted(ROUTINES_SOURCE.glob("*.py"))
            if not p.name.startswith("_")}
