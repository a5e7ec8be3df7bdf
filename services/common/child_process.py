"""A long-lived child process that serves requests over a pipe, with a timeout and a SIGKILL.

The spooler's compiler and the emulator's physics each run in one: their imports are paid once,
when the child starts, and a request that hangs or crashes the interpreter only costs the child.
The child is spawned (never forked: the parent has threads and broker connections) and runs
``serve(conn, env, entry)``: ``entry`` ("module:function") is a factory called once in the
child (it pays the imports) that returns the request handler; every request's reply is what the
handler returns. The child announces itself ready after the factory returned, so a request's
timeout never counts the child's start; ``launch`` lets a replacement boot in the background.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

from services.common.worker_restarts import exit_description

_READY = "ready"


class ChildDied(Exception):
    """The child ended mid-request; ``str`` says how (``SIGKILL``, ``exit code 1``)."""


class ChildTimedOut(Exception):
    """The child did not answer within the request's timeout (it is still running)."""


class ChildUnavailable(RuntimeError):
    """The child could not be started: killed while it booted, or a broken environment (never
    the request's fault: none was sent)."""


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, even mid-request (EOF alone would only be
    noticed between requests). The signal follows the *thread* that started the child: only
    for children started from threads that live as long as the service."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the child still exits at EOF
    if os.getppid() == 1:
        os._exit(0)  # the parent died before prctl took effect


def serve(conn: Connection, env: dict[str, str], entry: str, bound: bool = False) -> None:
    """The child's main loop: build the handler, say ready, answer requests until EOF.
    ``bound``: the child dies with its parent (``die_with_parent``)."""
    if bound:
        die_with_parent()
    os.environ.update(env)
    module, _, factory = entry.partition(":")
    handler = getattr(importlib.import_module(module), factory)()
    try:
        conn.send(_READY)
        while True:
            conn.send(handler(conn.recv()))
    except (EOFError, BrokenPipeError):  # the parent closed its end (even while we booted): stop
        return


class ChildProcess:
    """One child process, started lazily; used by one thread at a time."""

    def __init__(self, name: str, entry: str, env: dict[str, str] | None = None,
                 start_timeout_s: float = 120.0, bound: bool = False) -> None:
        self._name = name
        self._bound = bound
        self._entry = entry
        self._env = dict(env or {})
        self._start_timeout = start_timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._ready = False  # the running child has said ready

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def launch(self) -> None:
        """Start the child unless it runs, without waiting for it: it boots while the caller
        goes on, and the next request (or ``start``) waits for it to be ready."""
        if self._process is not None and self._process.is_alive():
            return
        self.close()
        parent, child = self._ctx.Pipe()
        # daemon: a parent that exits takes its child with it.
        self._process = self._ctx.Process(
            target=serve, args=(child, self._env, self._entry, self._bound), name=self._name,
            daemon=True)
        self._process.start()
        child.close()  # only the child holds its end: its death reads as EOF here
        self._conn = parent
        self._ready = False

    def start(self) -> None:
        """Start the child unless it runs, and wait until its handler is built.

        Raises:
            ChildUnavailable: it died or stayed silent while starting.
        """
        self.launch()
        if self._ready:
            return
        assert self._conn is not None and self._process is not None
        try:
            self._ready = self._conn.poll(self._start_timeout) and self._conn.recv() == _READY
        except (EOFError, OSError):
            self._ready = False
        if not self._ready:
            self._process.join(1)
            how = exit_description(self._process.exitcode)
            self.kill()
            raise ChildUnavailable(f"worker process {self._name} did not start ({how})")

    def request(self, message: Any, timeout_s: float) -> Any:
        """Send one request and return the handler's reply.

        Raises:
            ChildDied: the child ended before it replied (it is reaped; the next request
                starts a fresh one).
            ChildTimedOut: no reply within ``timeout_s``; the child is left running, for the
                caller to kill or close.
            ChildUnavailable: the child cannot be started.
        """
        self.start()
        conn = self._conn
        assert conn is not None
        try:
            conn.send(message)
            if not conn.poll(timeout_s):
                raise ChildTimedOut(f"no reply within {timeout_s:g} s")
            return conn.recv()
        except (EOFError, OSError) as exc:  # BrokenPipeError is an OSError
            raise ChildDied(self._reap()) from exc

    def _reap(self) -> str:
        """How the child ended; waited for, as its pipe can close before the process is gone."""
        process = self._process
        if process is not None:
            process.join(5)
        how = exit_description(process.exitcode if process is not None else None)
        self.close()
        return how

    def kill(self) -> None:
        """SIGKILL the child now (a runaway request: nothing of its state is worth keeping)."""
        process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.kill()
        self._forget(process)

    def close(self) -> None:
        """Stop the child: EOF first (it returns between requests), SIGKILL if it lingers."""
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is not None:
            process.join(2)
            if process.is_alive():
                process.kill()
        self._forget(process)

    def _forget(self, process: Any) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is not None:
            process.join(5)
