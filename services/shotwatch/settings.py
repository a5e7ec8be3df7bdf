"""Shotwatch's settings: the lyse port it serves in lyse's place."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class ShotwatchSettings(CommonSettings):
    """``SHOTLINE_*`` variables of shotwatch, read once at start-up."""

    metrics_port: int = Field(default=9304, ge=0, le=65535,
                              description="Port of /metrics (0: off).")

    lyse_port: int = Field(default=42519, ge=1, le=65535, description="Port it serves, as lyse.")
    bind_address: str = Field(
        default="tcp://127.0.0.1",
        description="zmq bind address; tcp://* (as lyse binds) when BLACS or the emulator runs on another host.",
    )
    zlock: bool = Field(
        default=False, description="Lock shot files through zlock, as BLACS does; on with a real BLACS.")
