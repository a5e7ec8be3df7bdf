"""The service side of a routine worker process: start it, send a request, enforce the timeout.

A worker is long-lived because importing lyse costs about a second: a process per shot would
cost more than the whole per-shot budget. Isolation per shot still holds where it matters:
every routine runs in a fresh ``__main__`` namespace (as in lyse), and a routine that hangs or
crashes the interpreter only costs the worker, which is killed and started afresh.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WorkerReply:
    ok: bool
    error: str | None
    body: dict[str, Any]


class WorkerUnavailable(RuntimeError):
    """The worker process could not be started (environment broken, not the routine's fault)."""


class RoutineWorker:
    """One worker process, used by one thread at a time."""

    def __init__(self, name: str, start_timeout_s: float = 60.0) -> None:
        self._name = name
        self._start_timeout = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker now (otherwise the first request does), and wait until lyse is in."""
        if self._proc is not None and self._proc.poll() is None:
            return
        env = {**os.environ, "READTHEDOCS": os.environ.get("READTHEDOCS", "1")}
        # Own session: a Ctrl-C meant for the service must not kill the routine in hand (and
        # fail a user's job); the service stops its worker itself, and the worker dies with it.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "services.analysis.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )
        reply = self._read(self._start_timeout)
        if reply is None or not reply.get("ready"):
            self.stop()
            raise WorkerUnavailable(f"routine worker {self._name} did not start")
        log.info("routine_worker_started", worker=self._name, pid=self._proc.pid)

    def request(self, payload: dict[str, Any], timeout_s: float) -> WorkerReply:
        """Send one request; a timeout or a dead worker is a failed reply and a fresh worker.

        Raises:
            WorkerUnavailable: the worker cannot be started at all.
        """
        self.start()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return WorkerReply(False, "routine worker died before the request", {})
        reply = self._read(timeout_s)
        if reply is None:
            alive = self._proc.poll() is None
            self.stop()  # a hung routine is killed with its worker; the next request restarts it
            what = (f"did not finish within {timeout_s:g} s and was stopped" if alive
                    else "crashed the routine worker process")
            return WorkerReply(False, what, {})
        return WorkerReply(bool(reply.get("ok")), reply.get("error"), reply)

    def _read(self, timeout_s: float) -> dict[str, Any] | None:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        stdout = self._proc.stdout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([stdout], [], [], remaining)
            if ready:
                line = stdout.readline()  # the worker writes whole lines in one write
                if not line:
                    return None  # EOF: the worker died
                return json.loads(line)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
