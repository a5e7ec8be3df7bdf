"""The policy for worker processes that die mid-request: restart and retry, and how a death reads.

A worker (lyse routines, the labscript compiler) can die for reasons that are nobody's job's
fault: the OOM killer, an operator, a crash of the interpreter. Such a request is retried in a
fresh worker, at most ``MAX_RESTARTS`` times; only a request that kills its worker on every try
is blamed on what it ran.
"""

from __future__ import annotations

import signal

import structlog

from services.common.metrics import WORKER_RESTARTS

log = structlog.get_logger(__name__)
#: Fresh workers a request gets after its first one died (so at most 1 + MAX_RESTARTS tries).
MAX_RESTARTS = 2


def exit_description(returncode: int | None) -> str:
    """``SIGKILL``, ``exit code 3``: how a worker process ended, for people."""
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def died_every_time(tries: int, last: str) -> str:
    """The reason a request is blamed for: it killed its worker on every try."""
    return f"killed its worker process on {tries} tries (last: {last})"


def record_restart(worker: str, how: str, tries_left: int) -> None:
    """Count and log one worker death that is followed by a retry."""
    WORKER_RESTARTS.labels(worker).inc()
    log.warning("worker_restarted", worker=worker, died_with=how, tries_left=tries_left)
