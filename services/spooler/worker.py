"""The compile worker: a child process that imports labscript once and compiles on request.

labscript's compiler is a process-wide singleton that writes globals into builtins, so the
spooler keeps it out of its own process. A compile error comes back as ``CompileError`` with
labscript's message. A child that dies mid-compile is replaced and the compile retried
(``services.common.worker_restarts``); one that kills its child on every try is a
``CompileError`` too. A child that does not answer in time is stopped: ``CompileTimedOut``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any

import structlog

from services.common.child_process import (
    ChildDied, ChildProcess, ChildTimedOut, ChildUnavailable,
)
from services.common.worker_restarts import MAX_RESTARTS, died_every_time, record_restart

log = structlog.get_logger(__name__)


class CompileError(Exception):
    """The experiment did not compile; the message says why in labscript's words."""


class CompileTimedOut(Exception):
    """The compile worker did not answer in time and was stopped."""


def _readable(exc: BaseException) -> str:
    # The innermost frame inside the sequence or apparatus script locates the problem for a user.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "labscriptlib" in f.filename]
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def compile_handler() -> Callable[[tuple[str, tuple[Any, ...]]], tuple[str, Any]]:
    """In the child: import labscript once; the handler runs ``compiler.<kind>(*args)``."""
    from services.spooler.labscript_env import prepare_labscript

    prepare_labscript()
    import labscript  # noqa: F401 - pay the import once, before the first request
    import runmanager  # noqa: F401

    from services.spooler import compiler

    def handle(request: tuple[str, tuple[Any, ...]]) -> tuple[str, Any]:
        kind, args = request
        try:
            return "ok", getattr(compiler, kind)(*args)
        except Exception as exc:  # every compile failure goes back to the caller
            return "error", _readable(exc)

    return handle


class CompileWorker:
    """A single compile process, started lazily and restarted after a crash."""

    def __init__(self, env: dict[str, str] | None = None, timeout_s: float = 600.0) -> None:
        self._timeout = timeout_s
        self._child = ChildProcess("spooler-compiler", f"{__name__}:compile_handler", env,
                                   start_timeout_s=timeout_s)

    def call(self, kind: str, *args: Any) -> Any:
        """Run ``services.spooler.compiler.<kind>(*args)`` in the worker.

        Raises:
            CompileError: labscript refused it, or it killed the worker on every try.
            CompileTimedOut: no answer within the timeout.
        """
        for tries_left in range(MAX_RESTARTS, -1, -1):
            try:
                status, result = self._child.request((kind, args), self._timeout)
                break
            except (ChildDied, ChildUnavailable) as died:  # a start can be killed too
                how = str(died)
            except ChildTimedOut:
                self._child.close()
                raise CompileTimedOut(
                    f"the compile did not finish within {self._timeout:g} s") from None
            if tries_left:
                record_restart("compile", how, tries_left)
        else:
            raise CompileError(died_every_time(MAX_RESTARTS + 1, how))
        if status == "error":
            raise CompileError(result)
        return result

    def warm_up(self) -> None:
        """Start the worker and import labscript now; a failure shows at the first compile."""
        try:
            self._child.start()
        except ChildUnavailable as exc:
            log.error("compile_worker_unavailable", error=str(exc))

    def close(self) -> None:
        self._child.close()
