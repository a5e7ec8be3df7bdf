"""The service side of a routine worker process: start it, send a request, enforce the timeout.

A worker is long-lived because importing lyse costs about a second: a process per shot would
cost more than the whole per-shot budget. Isolation per shot still holds where it matters:
every routine runs in a fresh ``__main__`` namespace (as in lyse), and a routine that hangs or
crashes the interpreter only costs the worker, which is killed and started afresh. A worker
that dies mid-request is restarted and the request retried (``services.common.worker_restarts``).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from services.common.worker_restarts import (
    MAX_RESTARTS, died_every_time, exit_description, record_restart,
)

log = structlog.get_logger(__name__)


class _Died(Exception):
    """The worker process ended mid-request; ``str`` says how (``SIGKILL``)."""


@dataclass(frozen=True)
class WorkerReply:
    ok: bool
    error: str | None
    body: dict[str, Any]


class WorkerUnavailable(RuntimeError):
    """The worker process could not be started (environment broken, not the routine's fault)."""


_EOF = object()


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
        # Its name in the command line tells operators (and ps) which worker it is.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "services.analysis.worker", self._name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )
        reply = self._read(self._start_timeout)
        if not isinstance(reply, dict) or not reply.get("ready"):
            self.stop()
            raise WorkerUnavailable(f"routine worker {self._name} did not start")
        log.info("routine_worker_started", worker=self._name, pid=self._proc.pid)

    def request(self, payload: dict[str, Any], timeout_s: float,
                before_retry: Callable[[], None] | None = None) -> WorkerReply:
        """Send one request. A worker that dies mid-request is restarted and the request sent
        again (``before_retry`` first restores its inputs); a timeout stops the worker.

        Raises:
            WorkerUnavailable: the worker cannot be started at all.
        """
        for tries_left in range(MAX_RESTARTS, -1, -1):
            try:
                return self._request_once(payload, timeout_s)
            except _Died as died:
                how = str(died)
            if tries_left:
                record_restart(f"routine-{self._name}", how, tries_left)
                if before_retry is not None:
                    before_retry()
        return WorkerReply(False, died_every_time(MAX_RESTARTS + 1, how), {})

    def _request_once(self, payload: dict[str, Any], timeout_s: float) -> WorkerReply:
        self.start()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise _Died(self._reap()) from None
        reply = self._read(timeout_s)
        if reply is _EOF:
            raise _Died(self._reap())
        if reply is None:
            self.stop()  # a hung routine is killed with its worker; the next request restarts it
            return WorkerReply(False, f"did not finish within {timeout_s:g} s and was stopped", {})
        return WorkerReply(bool(reply.get("ok")), reply.get("error"), reply)

    def _reap(self) -> str:
        """Wait for a worker whose pipe closed and say how it ended (EOF can come before the
        process is gone, so its exit status is waited for, not polled)."""
        proc = self._proc
        assert proc is not None
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            pass  # closed its pipes but lingers: stop() kills it
        how = exit_description(proc.returncode)
        self.stop()
        return how

    def _read(self, timeout_s: float) -> dict[str, Any] | None | object:
        """The next reply; ``None`` after ``timeout_s``; ``_EOF`` if the worker's stdout closed."""
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
                    return _EOF
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
                try:
                    stream.close()
                except OSError:  # closing flushes a request a dead worker never read: EPIPE
                    pass
