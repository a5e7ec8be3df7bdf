"""Runs ``shotline ingest`` as a subprocess on a test vhost, with a user, for black-box tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def service_env(home: Path, amqp_url: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SHOTLINE_HOME=str(home), SHOTLINE_AMQP_URL=amqp_url, SHOTLINE_HTTP_PORT=str(port),
               SHOTLINE_LOG_FORMAT="json", READTHEDOCS="1")
    return env


def users(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli.main", "users", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@dataclass
class IngestProcess:
    process: subprocess.Popen[str]
    base_url: str
    env: dict[str, str]

    def add_user(self, name: str) -> str:
        done = users(self.env, "add", name)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err


def start_ingest(home: Path, amqp_url: str, port: int, timeout: float = 30) -> IngestProcess:
    env = service_env(home, amqp_url, port)
    process = subprocess.Popen([sys.executable, "-m", "services.cli.main", "ingest"], env=env,
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"ingest exited: {process.communicate()[1][-3000:]}")
        try:
            return requests.get(f"{base}/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    # The process offers no readiness signal other than this endpoint.
    wait_until(ready, timeout=timeout, what="ingest /readyz")
    return IngestProcess(process, base, env)
