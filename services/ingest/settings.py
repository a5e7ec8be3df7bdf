"""Ingest settings: HTTP bind, public URL, request bounds, per-user limits, store and backends."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from contracts.backends import BACKENDS, BackendRegistry, load_backend_specs
from services.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    """Read from ``SHOTLINE_*`` variables once at startup; tests build it with keyword overrides."""

    metrics_port: int = Field(default=9301, ge=0, le=65535,
                              description="Port of /metrics (0: off).")

    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API binds to.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="Port of the HTTP API.")
    public_url: str = Field(
        default="",
        description="Base URL users reach the API at (used in get_config `url`); "
        "empty means http://<http_host>:<http_port>.",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest request body; larger answers 413."
    )
    http_head_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Longest wait for a request's line and headers (from the connection or its "
        "first byte); then 408 and the connection closes.",
    )
    http_body_timeout_s: float = Field(
        default=60.0, gt=0, le=3600,
        description="Longest wait for a request body once its head arrived; then 408.",
    )
    http_idle_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Idle keep-alive connections close after this."
    )
    http_max_head_bytes: int = Field(
        default=32768, ge=8192, le=1048576,
        description="Largest request head (request line and all headers); larger answers 431. "
        "Each line or field is limited to 8190 bytes on top of that.",
    )
    http_max_connections_per_address: int = Field(
        default=64, ge=1, le=65536,
        description="Open connections one client address may hold; beyond that 429.",
    )
    submit_rate: float = Field(
        default=2.0, gt=0, description="Sustained job submissions per second per user."
    )
    submit_burst: int = Field(
        default=20, ge=1, description="Submissions a user may make at once before the rate applies."
    )
    max_unfinished_jobs: int = Field(
        default=50, ge=1, description="Jobs per user that may be waiting or running at once."
    )
    unfinished_retry_after_s: int = Field(
        default=30, ge=1, description="Retry-After sent when the unfinished-job limit is hit."
    )
    validate_workers: int = Field(
        default=2, ge=1, le=32, description="Jobs validated at once, off the event loop."
    )
    validate_queue: int = Field(
        default=4, ge=0, le=256,
        description="Jobs that may wait for a validation slot; beyond that a submission "
        "answers 503 with Retry-After instead of queueing unbounded work.",
    )
    store_path: Path | None = Field(
        default=None, description="SQLite job store; default <home>/ingest/jobs.sqlite3."
    )
    backends: list[str] = Field(
        default_factory=lambda: list(BACKENDS),
        description="Display names of the backends this ingest serves.",
    )
    backend_specs_file: Path | None = Field(
        default=None, description="JSON file of lab-defined backends added to the built-in ones."
    )
    shots_backend: str | None = Field(
        default=None,
        description="Backend served by the single-backend L0 API at /shots/<op>/ (off when unset).",
    )
    publish_threads: int = Field(
        default=8, ge=1, le=64,
        description="Confirmed publishers (one connection each); each waits for its confirm, "
        "so this caps the publishes in flight (bench: 4 -> 534 jobs/s, 8 -> 677 jobs/s).",
    )

    @model_validator(mode="after")
    def _default_store(self) -> IngestSettings:
        if self.store_path is None:
            object.__setattr__(self, "store_path", self.home / "ingest" / "jobs.sqlite3")
        self.registry()  # fail at startup, naming the variable, not on the first request
        if self.shots_backend is not None and self.shots_backend not in self.registry():
            raise ValueError(f"shots_backend {self.shots_backend!r} is not a served backend")
        return self

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.http_host}:{self.http_port}"

    @property
    def database(self) -> Path:
        assert self.store_path is not None  # set by the validator
        return self.store_path

    def registry(self) -> BackendRegistry:
        """The served backends: built-in ones named in ``backends`` plus lab-defined ones.

        Raises:
            ValueError: a configured name is not a known backend.
        """
        every = BACKENDS
        if self.backend_specs_file is not None:
            every = every.with_specs(load_backend_specs(self.backend_specs_file))
        wanted = set(self.backends)
        if self.backend_specs_file is not None:
            # Lab-defined backends are served because the operator listed them in the file.
            wanted |= {name for name in every if name not in BACKENDS}
        unknown = sorted(wanted - set(every))
        if unknown:
            raise ValueError(f"unknown backends configured: {unknown}; known: {sorted(every)}")
        return BackendRegistry([every[name] for name in every if name in wanted])
