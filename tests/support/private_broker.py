"""A private RabbitMQ node on free ports, for tests that stop and restart the broker itself.

Restarting the machine's shared broker would disturb every other test (and a second suite run
on the same machine), so chaos tests start their own node: its own node name, data folder and
ports, owned by the ``rabbitmq`` user the Debian package runs brokers as.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateBroker:
    """``start()``, ``stop()``, ``restart()``; ``amqp_url`` and ``management_url`` stay valid."""

    def __init__(self) -> None:
        self.node = f"shotline-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port, self.mgmt_port = _free_port(), _free_port(), _free_port()
        self.base = Path(tempfile.mkdtemp(prefix="shotline-broker-"))
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"management.tcp.port = {self.mgmt_port}\nmanagement.tcp.ip = 127.0.0.1\n"
            "loopback_users.guest = true\n")
        (self.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        shutil.chown(self.base, "rabbitmq", "rabbitmq")
        for item in self.base.iterdir():
            shutil.chown(item, "rabbitmq", "rabbitmq")
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self.management_url = f"http://127.0.0.1:{self.mgmt_port}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.base / "log"), "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(self.base / "pid")}

    def start(self, timeout: float = 90) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self._env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # `rabbitmqctl wait` blocks until the node has booted: a signal, not a sleep.
        subprocess.run(["rabbitmqctl", "-n", self.node, "wait", str(self.base / "pid"),
                        "--timeout", str(int(timeout))], env=self._env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout + 10)
        deadline = time.monotonic() + timeout
        while not (_reachable(self.port) and _reachable(self.mgmt_port)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"private broker {self.node} did not open its ports")
            time.sleep(0.1)  # listeners open a moment after boot completes; nothing to wait on

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.node, "stop", str(self.base / "pid")],
                       env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "PrivateBroker":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
