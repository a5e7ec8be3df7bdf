"""Whether a handed-over shot has run, read off its file (events missed while away)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pika
import structlog

from contracts.events import ShotFinished, UndecodableEvent, decode_event
from contracts.topology import EXCHANGE, RoutingKey, any_backend
from services.common.bus.connection import close_quietly, connection_parameters, keep_connected
from services.common.bus.declare import declare_exchanges

log = structlog.get_logger(__name__)


def shot_executed(path: str) -> bool:
    """Whether the executor ran the shot (BLACS writes ``run time`` when it saves the shot)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "run time" in f.attrs
    except (OSError, KeyError):
        return False  # missing, or still being written by the executor
