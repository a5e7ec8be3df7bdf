"""The compile worker: a child process that imports labscript once and compiles on request.

labscript's compiler is a process-wide singleton that writes globals into builtins, so the
spooler keeps it out of its own process. A compile error comes back as ``CompileError`` with
labscript's message; a crashed or hung child is replaced and reported as ``WorkerCrashed``.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from multiprocessing.connection import Connection
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class CompileError(Exception):
    """The experiment did not compile; the message says why in labscript's words."""


class WorkerCrashed(Exception):
    """The compile worker died or did not answer in time."""


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
        """Run ``services.spooler.compiler.<kind>(*args)`` in the worker; CompileError on failure."""
        conn = self._ensure()
        try:
            conn.send((kind, args))
            if not conn.poll(self._timeout):
                raise WorkerCrashed(f"compile worker did not answer within {self._timeout} s")
            status, result = conn.recv()
        except (EOFError, OSError, BrokenPipeError, WorkerCrashed) as exc:
            self.close()
            raise WorkerCrashed(f"compile worker failed: {exc!r}") from exc
        if status == "error":
            raise CompileError(result)
        return result

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
