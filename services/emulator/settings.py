"""The emulator's settings: the ports it serves and calls, the cycle time, the shot time limit."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class EmulatorSettings(CommonSettings):
    """``SHOTLINE_*`` variables of the emulator, read once at start-up."""

    metrics_port: int = Field(default=9303, ge=0, le=65535,
                              description="Port of /metrics (0: off).")

    blacs_port: int = Field(default=42517, ge=1, le=65535, description="Port it serves, as BLACS.")
    bind_address: str = Field(
        default="tcp://127.0.0.1",
        description="zmq bind address; tcp://* (as BLACS binds) when the spooler runs on another host.",
    )
    lyse_host: str = Field(default="127.0.0.1", description="Where finished shots are submitted.")
    lyse_port: int = Field(default=42519, ge=1, le=65535, description="lyse (shotwatch) port.")
    emulator_cycle_s: float = Field(
        default=0.0, ge=0, description="Wall time one shot takes at least, as on the apparatus.")
    max_shot_seconds: float | None = Field(
        default=None, gt=0, le=3600,
        description="Overrides every backend's max_shot_seconds (get_config's published "
        "per-backend limit, the contract; unset: that limit applies).")
