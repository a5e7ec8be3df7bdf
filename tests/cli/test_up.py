"""``shotline up``: children run with prefixed logs, a dead child is restarted, SIGTERM stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

SUPERVISOR = r"""
import sys
from services.cli.up import supervise
child = [sys.executable, "-u", "-c", "import os, threading; print('alive', os.getpid()); threading.Event().wait()"]
sys.exit(supervise(["alpha", "beta"], command=lambda name: child))
"""
STARTED = re.compile(r"started (\w+) \(pid (\d+)\)")


def read_until(stream, pattern: re.Pattern, seen: list[str]) -> re.Match:
    for line in stream:  # blocks on the supervisor's output: the signal we wait for
        seen.append(line)
        match = pattern.search(line)
        if match:
            return match
    raise AssertionError("supervisor output ended:\n" + "".join(seen))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_restarts_a_dead_child_and_stops_everything_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-u", "-c", SUPERVISOR], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        pids = {}
        while len(pids) < 2:
            name, pid = read_until(proc.stdout, STARTED, seen).groups()
            pids[name] = int(pid)
        # Children's lines come out prefixed with their name
        read_until(proc.stdout, re.compile(r"^(alpha|beta)\s*\| alive"), seen)
        # When a child dies, it is started again under a new pid
        os.kill(pids["alpha"], signal.SIGKILL)
        read_until(proc.stdout, re.compile(r"alpha\s*\|.*exited with -9"), seen)
        name, new_pid = read_until(proc.stdout, STARTED, seen).groups()
        assert name == "alpha" and int(new_pid) != pids["alpha"]
        # SIGTERM stops every child and the supervisor exits cleanly
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not pid_alive(int(new_pid)) and not pid_alive(pids["beta"])
    finally:
        if proc.poll() is None:
            proc.kill()
