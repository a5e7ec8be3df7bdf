"""What a running stack exposes by default: every listening port is on 127.0.0.1 (metrics, the
BLACS and lyse zmq ports, the HTTP API), and the store, bookkeeping and labscript secret are
readable by their owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.common.labscript_profile import profile_root
from services.common.private_files import private_file, write_private_once
from tests.support.stack import Stack

LISTEN = "0A"
#: 127.0.0.1 in /proc's byte order, as IPv4 and IPv4-mapped IPv6 (zmq listens on the latter);
#: 0.0.0.0 or :: would be all zeros.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the host's sockets listening on ``port``, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.rabbit
@pytest.mark.e2e
def test_a_default_stack_listens_on_loopback_only_and_keeps_its_files_private(tmp_path, amqp_url):
    with Stack(tmp_path / "home", amqp_url, metrics=True) as running:
        running.start()
        running.add_user("alice")
        ports = {"http": running.http_port, "blacs (emulator)": running.blacs_port,
                 "lyse (shotwatch)": running.lyse_port,
                 **{f"metrics of {n}": p for n, p in running.metrics_ports.items()}}
        for what, port in ports.items():
            bound = listening_addresses(port)
            assert bound and bound <= LOOPBACK, (what, bound)
        home = running.home
        for path in (home / "ingest" / "jobs.sqlite3", home / "analysis" / "jobs.sqlite3",
                     profile_root() / "labconfig" / "zpsecret.key"):
            assert mode(path) == 0o600, (path, oct(mode(path)))
        for journal in (home / "ingest").glob("jobs.sqlite3-*"):
            assert mode(journal) == 0o600, (journal, oct(mode(journal)))


def test_private_files_are_created_0600_and_old_ones_fixed(tmp_path):
    old = tmp_path / "old.sqlite3"
    old.write_text("")
    (tmp_path / "old.sqlite3-wal").write_text("")
    os.chmod(old, 0o644)
    os.chmod(tmp_path / "old.sqlite3-wal", 0o644)
    private_file(old)
    assert mode(old) == mode(tmp_path / "old.sqlite3-wal") == 0o600
    fresh = private_file(tmp_path / "sub" / "new.sqlite3")
    assert mode(fresh) == 0o600 and fresh.read_text() == ""

    secret = tmp_path / "secret.key"
    assert write_private_once(secret, "s1\n") and mode(secret) == 0o600
    os.chmod(secret, 0o644)
    assert not write_private_once(secret, "s2\n")
    assert secret.read_text() == "s1\n" and mode(secret) == 0o600
