"""Log lines carry no frame locals and no URL passwords, whatever field or traceback holds them."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r'''
import structlog
from services.common.logging import configure_logging
configure_logging("probe", fmt="json")
def crash(token, amqp_url):
    raise RuntimeError(f"cannot reach {amqp_url}")
try:
    crash("tok-s3cr3t-value", "amqp://shotline:hunter2pass@broker:5672/lab")
except RuntimeError:
    structlog.get_logger().exception("request_crashed", url="postgresql://u:pw0rd42@db/x")
'''


def test_a_logged_traceback_has_no_locals_and_no_url_password():
    line = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60, check=True).stderr.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["event"] == "request_crashed" and event["exception"]
    assert "tok-s3cr3t-value" not in line  # a local of the crashed frame
    assert "hunter2pass" not in line and "pw0rd42" not in line
    assert "amqp://shotline:***@broker" in line and "postgresql://u:***@db" in line
