"""Fixtures of the analysis tests: shot builder import order, routine folders, a shared worker."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.analysis.shotfiles  # noqa: F401 - h5_lock before h5py, before anything else here
from services.analysis.registry import BackendAnalysis, routine_files
from services.analysis.routine_worker import RoutineWorker
from services.analysis.service import prepare_routines
from services.analysis.settings import AnalysisSettings
from tests.analysis.fakes import RecordingPublisher

BROKEN = '''"""A routine that fails the way real ones do: deep inside, with a message."""
from lyse import Run, path

def calibrate(counts):
    raise ValueError(f"no atoms in {len(counts)} sites")

run = Run(path)
calibrate([1, 2, 3])
'''
HANGS = '''"""A routine that never finishes."""
import time
while True:
    time.sleep(1)
'''
FORGETS_MEMORY = '''"""A routine that saves no memory."""
from lyse import Run, path
Run(path).save_result("something", 1)
'''


@pytest.fixture(scope="session")
def analysislib() -> Path:
    """The profile's analysislib with shotline's routines synced into it, as the service does."""
    return prepare_routines()


@pytest.fixture
def routines_dir(tmp_path: Path, analysislib: Path) -> Path:
    """A routine folder with the shipped routines plus misbehaving ones."""
    folder = tmp_path / "routines"
    folder.mkdir()
    for name in routine_files():
        shutil.copy(analysislib / name, folder / name)
    (folder / "broken.py").write_text(BROKEN)
    (folder / "hangs.py").write_text(HANGS)
    (folder / "forgets_memory.py").write_text(FORGETS_MEMORY)
    return folder


@pytest.fixture(scope="module")
def worker() -> Iterator[RoutineWorker]:
    """One worker per module: starting one imports lyse (~0.5 s)."""
    w = RoutineWorker("test")
    w.start()
    yield w
    w.stop()


@pytest.fixture
def settings(tmp_path: Path) -> AnalysisSettings:
    # Shots are built anywhere under tmp_path: that is this test's shot folder.
    return AnalysisSettings(home=tmp_path / "home", shots_root=tmp_path, analysis_routine_timeout_s=10.0)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


def analyses_with(routine: str) -> dict[str, BackendAnalysis]:
    """Every backend analysed by ``routine`` (then occupation, whose memory counts)."""
    spec = BackendAnalysis(single_shot=(routine, "occupation.py"), memory_routine="occupation.py")
    return {b: spec for b in ("fermions", "singlequdit", "multiqudit", "rydberg")}
