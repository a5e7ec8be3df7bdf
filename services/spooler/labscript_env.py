"""The spooler's labscript apparatus: sequence scripts and connection tables shipped in
``labscriptlib/``, synced into the profile's labscriptlib by ``prepare_labscript``."""

from __future__ import annotations

from pathlib import Path

from services.common import labscript_env
from services.common.labscript_profile import LabscriptProfile

LABSCRIPTLIB_SOURCE = Path(__file__).with_name("labscriptlib")


def labscriptlib_files() -> dict[str, str]:
    """The sequence scripts, connection tables and apparatus module shipped in the repo."""
    return {p.name: p.read_text() for p in sorted(LABSCRIPTLIB_SOURCE.glob("*.py"))}


def prepare_labscript(*, zlock: bool = False) -> LabscriptProfile:
    """``services.common.labscript_env.prepare_labscript`` with the apparatus synced."""
    return labscript_env.prepare_labscript(labscriptlib_files(), zlock=zlock)
