"""Settings of the archiver service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings


class ArchiverSettings(CommonSettings):
    """Read once at start-up from ``SHOTLINE_*`` variables; passed down explicitly."""

    metrics_port: int = Field(default=9306, ge=0, le=65535,
                              description="Port of /metrics (0: off).")

    sds_root: Path | None = Field(
        default=None,
        description="Root of the SDS archive (a mount point; it must exist, it is never created). "
                    "Default HOME/sds, created on start when it is the default.",
    )
    archiver_min_free_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0,
        description="Free space the archive must keep after a copy; below it, archiving waits.",
    )
    archiver_prefetch: int = Field(default=8, ge=1, description="Unacked shots held per process.")

    @property
    def archive_root(self) -> Path:
        return self.sds_root or self.home / "sds"
