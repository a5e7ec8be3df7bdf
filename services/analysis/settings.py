"""Settings of the analysis service (single-shot routines and the multi-shot results consumer)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings


class AnalysisSettings(CommonSettings):
    """Read once at start-up from ``SHOTLINE_*`` variables; passed down explicitly."""

    metrics_port: int = Field(default=9305, ge=0, le=65535,
                              description="Port of /metrics (0: off).")

    analysis_routine_timeout_s: float = Field(
        default=30.0, gt=0,
        description="Longest a shot's single-shot routines may take before the shot fails.",
    )
    analysis_multishot_timeout_s: float = Field(
        default=600.0, gt=0,
        description="Longest one experiment's DataFrame, CSV and multi-shot routines may take.",
    )
    analysis_extra_routines: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="A lab's own single-shot routines, per backend, run after shotline's: file "
        "names in the profile's analysislib, as JSON, e.g. {\"fermions\": [\"check_loading.py\"]}.",
    )
    analysis_prefetch: int = Field(default=4, ge=1, description="Unacked shots held per process.")
    analysis_state_db: Path | None = Field(
        default=None, description="SQLite file of the per-job bookkeeping; default HOME/analysis/jobs.sqlite3.",
    )
    sds_root: Path | None = Field(
        default=None, description="The archive, where already archived shots are looked up; default HOME/sds.",
    )

    @property
    def state_db(self) -> Path:
        return self.analysis_state_db or self.home / "analysis" / "jobs.sqlite3"

    @property
    def lock_dir(self) -> Path:
        return self.home / "analysis" / "locks"

    @property
    def archive_root(self) -> Path:
        return self.sds_root or self.home / "sds"
