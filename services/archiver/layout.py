"""Where a shot lives in the SDS archive: ``<backend>/<yyyy>/<mm>/<dd>/<job_id>/<experiment>/<shot>.h5``."""

from __future__ import annotations

from datetime import date
from pathlib import Path


def shot_name(shot_index: int) -> str:
    # Zero-padded so a folder listing is in shot order for the usual job sizes.
    return f"{shot_index:04d}.h5"


def archive_path(root: Path, backend: str, day: date, job_id: str, experiment: str,
                 shot_index: int) -> Path:
    return (root / backend / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / job_id / experiment
            / shot_name(shot_index))


def find_archived(root: Path, backend: str, job_id: str, experiment: str,
                  shot_index: int) -> Path | None:
    """The archived copy of a shot whatever day it was filed under, or None."""
    pattern = f"{backend}/*/*/*/{job_id}/{experiment}/{shot_name(shot_index)}"
    found = sorted(root.glob(pattern))
    return found[0] if found else None
