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


def test_make_ups_demo_token_never_reaches_redirected_output(tmp_path, amqp_url):
    # The script as `make up` runs it, stdout into a pipe (a log) and no terminal at all.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "SHOTLINE_HOME": str(tmp_path), "SHOTLINE_AMQP_URL": amqp_url,
           "SHOTLINE_METRICS_PORT": "0", "SHOTLINE_HTTP_PORT": "0", "READTHEDOCS": "1"}
    proc = subprocess.Popen(["bash", "scripts/up.sh"], cwd=root, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    seen: list[str] = []
    try:
        read_until(proc.stdout, re.compile(r"RabbitMQ UI"), seen)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    token = (tmp_path / "demo-token").read_text().strip()
    assert len(token) >= 40
    assert oct((tmp_path / "demo-token").stat().st_mode & 0o777) == "0o600"
    output = "".join(seen)
    assert token not in output and "demo-token (mode 0600)" in output, output
