"""Settings common to every service, read once from ``SHOTLINE_*`` environment variables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class CommonSettings(BaseSettings):
    """What every service needs: where the broker is and where state lives."""

    model_config = SettingsConfigDict(env_prefix="SHOTLINE_", frozen=True, extra="ignore")

    # A secret: it holds the broker password. repr, logs and tracebacks show asterisks; code
    # that connects asks for get_secret_value().
    amqp_url: SecretStr = Field(
        default=SecretStr(DEFAULT_AMQP_URL),
        description="Broker URL; its vhost (the path, URL-encoded: %2F is '/') is used everywhere.",
    )
    home: Path = Field(default=Path("./var"), description="Root of all state: job store, shots, archive.")
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    declare_topology: Literal["all", "verify"] = Field(
        default="all",
        description="At connect a service declares every queue ('all', development) or only "
        "checks that its own exist ('verify': a broker loaded with "
        "deploy/rabbitmq/definitions.json, whose per-service users may declare nothing).",
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535,
        description="Port of this service's Prometheus /metrics; 0 turns it off. Each service "
        "has its own default (ingest 9301, spooler 9302, emulator 9303, shotwatch 9304, "
        "analysis 9305, archiver 9306), so one host runs them all without clashes.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address /metrics binds to; 0.0.0.0 (or one interface's address) lets a "
        "Prometheus on another host scrape it.",
    )
    management_url: str = Field(
        default="http://127.0.0.1:15672",
        description="RabbitMQ management API, used only by operator tools and tests.",
    )

    @field_validator("amqp_url")
    @classmethod
    def _check_amqp_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ValueError("must look like amqp://user:password@host:5672/vhost")
        return value

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    shots_root: Path | None = Field(
        default=None,
        description="Where executed shot files live (default HOME/shots); analysis and archiver "
        "refuse to touch a file an event names anywhere else.",
    )

    @property
    def shots_dir(self) -> Path:
        return (self.shots_root or self.home / "shots").expanduser().resolve()

    def owns_shot(self, path: str | Path) -> bool:
        """Whether ``path`` lies inside the shot folders (symlinks and ``..`` resolved)."""
        return Path(path).resolve().is_relative_to(self.shots_dir)

    @property
    def vhost(self) -> str:
        path = urlsplit(self.amqp_url.get_secret_value()).path
        return unquote(path[1:]) if len(path) > 1 else "/"


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings or exit with a message naming each invalid ``SHOTLINE_*`` variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        lines = [
            f"  {prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        print("invalid settings:\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
