"""The whole system as separate processes, for end-to-end tests and chaos runs.

Each service runs as ``python -m services.cli.main <service>`` with its own environment: the
test's vhost, a temporary ``SHOTLINE_HOME`` and free ports. A service is ready when it logs
``service_ready`` (JSON lines on stderr, read by a thread per process: a signal, not a poll).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

SERVICES = ("ingest", "spooler", "emulator", "shotwatch", "analysis", "archiver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: the sockets stay bound until all are chosen, because the
    kernel may hand a just-closed port out again (it once gave HTTP and lyse the same one)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _dir_setting(value: str | None, default: Path) -> Path:
    # As services/common/settings.py reads it, so a test looks where the services write.
    return (Path(value) if value else default).expanduser().resolve()


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    log_path: Path
    ready: threading.Event = field(default_factory=threading.Event)
    lines: list[dict[str, Any]] = field(default_factory=list)


class Stack:
    """Start, kill, restart services; submit jobs through the HTTP API like a client would."""

    def __init__(self, home: Path, amqp_url: str, *, cycle_s: float = 0.0,
                 extra_env: dict[str, str] | None = None, metrics: bool = False,
                 service_env: dict[str, dict[str, str]] | None = None) -> None:
        self.home = home
        ports = free_ports(3 + (len(SERVICES) if metrics else 0))
        self.http_port, self.blacs_port, self.lyse_port = ports[:3]
        self.env = {
            **os.environ,
            "READTHEDOCS": "1",
            "SHOTLINE_HOME": str(home),
            "SHOTLINE_AMQP_URL": amqp_url,
            "SHOTLINE_HTTP_PORT": str(self.http_port),
            "SHOTLINE_BLACS_PORT": str(self.blacs_port),
            "SHOTLINE_LYSE_PORT": str(self.lyse_port),
            "SHOTLINE_EMULATOR_CYCLE_S": str(cycle_s),
            "SHOTLINE_LOG_FORMAT": "json",
            "SHOTLINE_METRICS_PORT": "0",
            **(extra_env or {}),
        }
        # /metrics stays off unless asked for: the services' default ports would clash between
        # tests running side by side. Asked for, each service gets its own free port.
        self.metrics_ports = dict(zip(SERVICES, ports[3:]))
        #: Settings of one service only, e.g. its own broker user.
        self.service_env = service_env or {}
        self.procs: dict[str, Proc] = {}
        self.token = ""
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.session = requests.Session()

    @property
    def shots_dir(self) -> Path:
        """Where the services spool shot files: SHOTLINE_SHOTS_ROOT, or HOME/shots."""
        return _dir_setting(self.env.get("SHOTLINE_SHOTS_ROOT"), self.home / "shots")

    @property
    def sds_dir(self) -> Path:
        """Where the archiver files shots: SHOTLINE_SDS_ROOT, or HOME/sds."""
        return _dir_setting(self.env.get("SHOTLINE_SDS_ROOT"), self.home / "sds")

    # -- processes ---------------------------------------------------------------------------
    def start(self, names: Iterable[str] = SERVICES, timeout: float = 90) -> None:
        for name in names:
            self._spawn(name)
        for name in names:
            self.wait_ready(name, timeout)

    def spawn(self, name: str) -> None:
        """Start ``name`` without waiting for it (e.g. while the broker is down); see ``wait_ready``."""
        self._spawn(name)

    def _spawn(self, name: str) -> None:
        log_path = self.home / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**self.env, **self.service_env.get(name, {})}
        if name in self.metrics_ports:
            env = {**env, "SHOTLINE_METRICS_PORT": str(self.metrics_ports[name])}
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", name], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        proc = Proc(name, process, log_path)
        self.procs[name] = proc
        threading.Thread(target=self._read_log, args=(proc,), daemon=True).start()

    @staticmethod
    def _read_log(proc: Proc) -> None:
        with proc.log_path.open("ab") as sink:
            for raw in proc.process.stderr:
                sink.write(raw)
                sink.flush()
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                proc.lines.append(line)
                if line.get("event") == "service_ready":
                    proc.ready.set()

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while not proc.ready.wait(0.5):
            # A service that died (a port taken, a bad setting) will never be ready: say so now.
            if proc.process.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.process.returncode} before it was "
                                     f"ready; log:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not ready after {timeout}s; log:\n{self.log_tail(name)}")

    def metrics(self, name: str) -> str:
        """The text of the service's ``/metrics`` (``Stack(..., metrics=True)``)."""
        reply = self.session.get(f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=10)
        reply.raise_for_status()
        return reply.text

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.procs[name].log_path
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.process.poll() is None:
            os.killpg(proc.process.pid, sig)  # the service and any worker process it started
        proc.process.wait(30)

    def restart(self, name: str, timeout: float = 90) -> None:
        self.kill(name)
        self._spawn(name)
        self.wait_ready(name, timeout)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.process.poll() is None:
                os.killpg(proc.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.process.pid, signal.SIGKILL)
                proc.process.wait(10)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- users and jobs ----------------------------------------------------------------------
    def add_user(self, name: str = "alice") -> str:
        out = subprocess.run([sys.executable, "-m", "services.cli.main", "users", "add", name],
                             env=self.env, capture_output=True, text=True, timeout=60, check=True)
        self.token = out.stdout.strip().splitlines()[-1]
        return self.token

    def post_job(self, backend: str, job: dict[str, Any], token: str | None = None) -> str:
        reply = self.session.post(f"{self.base_url}/api/v2/{backend}/post_job",
                                  json={"job": json.dumps(job), "token": token or self.token}, timeout=30)
        reply.raise_for_status()
        return reply.json()["job_id"]

    def status(self, backend: str, job_id: str, token: str | None = None) -> dict[str, Any]:
        return self.session.get(f"{self.base_url}/api/v2/{backend}/get_job_status",
                                params={"job_id": job_id, "token": token or self.token}, timeout=30).json()

    def result(self, backend: str, job_id: str, token: str | None = None) -> dict[str, Any]:
        return self.session.get(f"{self.base_url}/api/v2/{backend}/get_job_result",
                                params={"job_id": job_id, "token": token or self.token}, timeout=30).json()

    def wait_final(self, backend: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
        """Poll the job's status the way every client does (the HTTP API has no push)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(backend, job_id)
            if status.get("status") in ("DONE", "ERROR", "CANCELLED"):
                return status
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.log_tail(n, 15)}" for n in self.procs)
                raise AssertionError(f"job {job_id} still {status} after {timeout}s\n{logs}")
            time.sleep(0.1)
