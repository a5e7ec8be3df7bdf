"""The compile worker: a child process that imports labscript once and compiles on request.

labscript's compiler is a process-wide singleton that writes globals into builtins, so the
spooler keeps it out of its own process. A compile error comes back as ``CompileError`` with
labscript's message. A child that dies mid-compile is replaced and the compile retried
(``services.common.worker_restarts``); one that kills its child on every try is a
``CompileError`` too. A child that does not answer in time is stopped: ``CompileTimedOut``.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from multiprocessing.connection import Connection
from typing import Any

import structlog

from services.common.worker_restarts import (
    MAX_RESTARTS, died_every_time, exit_description, record_restart,
)

log = structlog.get_logger(__name__)


class CompileError(Exception):
    """The experiment did not compile; the message says why in labscript's words."""


class CompileTimedOut(Exception):
    """The compile worker did not answer in time and was stopped."""


class _Died(Exception):
    """The compile worker ended mid-request; ``str`` says how."""


def _readable(exc: BaseException) -> str:
    # The innermost frame inside the sequence or apparatus script locates the problem for a user.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "labscriptlib" in f.filename]
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _serve(conn: Connection, env: dict[str, str]) -> None:
    os.environ.update(env)
    from services.spooler.labscript_env import prepare_labscript

    prepare_labscript()
    import labscript  # noqa: F401 - pay the import once, before the first request
    import runmanager  # noqa: F401

    from services.spooler import compiler

    while True:
        try:
            kind, args = conn.recv()
        except EOFError:
            return
        try:
            result: Any = getattr(compiler, kind)(*args)
            conn.send(("ok", result))
        except Exception as exc:  # every compile failure goes back to the caller
            conn.send(("error", _readable(exc)))


class CompileWorker:
    """A single compile process, started lazily and restarted after a crash."""

    def __init__(self, env: dict[str, str] | None = None, timeout_s: float = 600.0) -> None:
        self._env = dict(env or {})
        self._timeout = timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None

    def _ensure(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            parent, child = self._ctx.Pipe()
            self._process = self._ctx.Process(
                target=_serve, args=(child, self._env), name="spooler-compiler", daemon=True
            )
            self._process.start()
            child.close()
            self._conn = parent
        assert self._conn is not None
        return self._conn

    def call(self, kind: str, *args: Any) -> Any:
        """Run ``services.spooler.compiler.<kind>(*args)`` in the worker.

        Raises:
            CompileError: labscript refused it, or it killed the worker on every try.
            CompileTimedOut: no answer within the timeout.
        """
        for tries_left in range(MAX_RESTARTS, -1, -1):
            try:
                status, result = self._call_once(kind, args)
                break
            except _Died as died:
                how = str(died)
            if tries_left:
                record_restart("compile", how, tries_left)
        else:
            raise CompileError(died_every_time(MAX_RESTARTS + 1, how))
        if status == "error":
            raise CompileError(result)
        return result

    def _call_once(self, kind: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        conn = self._ensure()
        try:
            conn.send((kind, args))
            if not conn.poll(self._timeout):
                self.close()
                raise CompileTimedOut(f"the compile did not finish within {self._timeout:g} s")
            return conn.recv()
        except (EOFError, OSError) as exc:  # BrokenPipeError is an OSError
            raise _Died(self._reap()) from exc

    def _reap(self) -> str:
        """How the child ended; waited for, as its pipe can close before the process is gone."""
        process = self._process
        if process is not None:
            process.join(5)
        how = exit_description(process.exitcode if process is not None else None)
        self.close()
        return how

    def warm_up(self) -> None:
        self._ensure()

    def close(self) -> None:
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()  # the child sees EOF and returns
            self._conn = None
        if process is not None:
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(2)
