"""The spooler's settings: where the executor (BLACS or the emulator) listens and how far ahead to spool."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class SpoolerSettings(CommonSettings):
    """``SHOTLINE_*`` variables of the spooler, read once at start-up."""

    metrics_port: int = Field(default=9302, ge=0, le=65535,
                              description="Port of /metrics (0: off).")

    blacs_host: str = Field(default="127.0.0.1", description="Host of BLACS (or the emulator).")
    blacs_port: int = Field(default=42517, ge=1, le=65535, description="BLACS experiment-server port.")
    blacs_timeout_s: float = Field(default=10.0, gt=0, description="Reply timeout of one hand-over.")
    handover_window: int = Field(
        default=2, ge=1,
        description="Shots handed to the executor and not yet finished, at most. 2 keeps it busy "
        "across the ShotFinished round trip (98.5% duty cycle at a 100 ms cycle, "
        "tests/bench/bench_spooling.py) while a cancelled job stops after the shot running and "
        "at most one already queued: shots beyond the window are dropped on cancel.",
    )
    shot_timeout_s: float = Field(
        default=600.0, gt=0,
        description="A job whose shots in the executor make no progress for this long fails "
        "(stage execution) instead of holding the apparatus forever; longer than a shot cycle.",
    )
    jobs_in_hand: int = Field(
        default=2, ge=1,
        description="Jobs the spooler holds at once: the running one plus the look-ahead. Further "
        "jobs stay ready messages in RabbitMQ.",
    )
    intake_hold_s: float = Field(
        default=1500.0, gt=0,
        description="Longest a waiting job is held unacked while the book is full before it is "
        "handed back and redelivered; must stay below the broker's consumer_timeout (30 min by "
        "default, 6 h in deploy/rabbitmq/rabbitmq.conf).",
    )
    zlock: bool = Field(
        default=False,
        description="Lock shot files through zlock, as BLACS does; on with a real BLACS only.",
    )
    rescan_interval_s: float = Field(
        default=30.0, gt=0,
        description="How often to check handed-over shot files for 'run time' when no ShotFinished "
        "arrived (a fallback for events missed while the spooler was down).",
    )
