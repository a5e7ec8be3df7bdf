"""``shotline up``: every service as a child process, log lines prefixed, dead children restarted."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: A child that dies sooner than this after its start counts as crash-looping; back off.
MIN_HEALTHY_S = 5.0
MAX_BACKOFF_S = 30.0
COLOURS = ("\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m")


@dataclass
class Child:
    name: str
    colour: str
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = 0.5
    restart_at: float | None = None
    restarts: int = field(default=0)

    def prefix(self, tty: bool) -> str:
        label = f"{self.name:<10}|"
        return f"{self.colour}{label}\033[0m " if tty else f"{label} "


def service_command(name: str) -> list[str]:
    return [sys.executable, "-m", "services.cli.main", name]


def _spawn(child: Child, command: Callable[[str], list[str]]) -> None:
    env = dict(os.environ)
    env.setdefault("READTHEDOCS", "1")  # no zlock daemon for the labscript libraries
    # Children write to our pipe, not a terminal: tell them what the operator is looking at.
    env.setdefault("SHOTLINE_LOG_FORMAT", "console" if sys.stdout.isatty() else "json")
    child.process = subprocess.Popen(
        command(child.name),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, bufsize=0,
        start_new_session=True,  # a Ctrl-C reaches us once; we stop the children ourselves
    )
    child.started_at = time.monotonic()
    child.restart_at = None
    print(f"shotline up: started {child.name} (pid {child.process.pid})", flush=True)


def supervise(names: list[str], command: Callable[[str], list[str]] = service_command) -> int:
    """Run ``names`` until SIGINT/SIGTERM; returns 0 after stopping every child."""
    if not names:
        print("shotline up: no services are installed", file=sys.stderr)
        return 1
    tty = sys.stdout.isatty()
    children = [Child(n, COLOURS[i % len(COLOURS)]) for i, n in enumerate(names)]
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    selector = selectors.DefaultSelector()
    buffers: dict[str, bytes] = {}
    for child in children:
        _spawn(child, command)
        selector.register(child.process.stdout, selectors.EVENT_READ, child)
    while not stopping:
        for key, _ in selector.select(timeout=0.5):
            child = key.data
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                continue
            data = buffers.get(child.name, b"") + chunk
            *lines, buffers[child.name] = data.split(b"\n")
            for line in lines:
                sys.stdout.write(child.prefix(tty) + line.decode(errors="replace") + "\n")
            sys.stdout.flush()
        now = time.monotonic()
        for child in children:
            if child.process is not None and child.process.poll() is not None and child.restart_at is None:
                code = child.process.returncode
                healthy = now - child.started_at >= MIN_HEALTHY_S
                child.backoff = 0.5 if healthy else min(child.backoff * 2, MAX_BACKOFF_S)
                child.restart_at = now + child.backoff
                print(f"{child.prefix(tty)}exited with {code}; restarting in {child.backoff:.1f}s", flush=True)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                _spawn(child, command)
                selector.register(child.process.stdout, selectors.EVENT_READ, child)
    print("shotline up: stopping", flush=True)
    for child in children:
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        rest = child.process.stdout.read() if child.process.stdout else b""
        for line in (buffers.get(child.name, b"") + (rest or b"")).decode(errors="replace").splitlines():
            print(child.prefix(tty) + line)
    print("shotline up: stopped", flush=True)
    return 0
