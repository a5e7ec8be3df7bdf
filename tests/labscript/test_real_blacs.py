"""The spooler's shots run in a real, headless BLACS and arrive at shotwatch.

BLACS takes its ports (42517, lyse 42519, zlock 7339, zlog 7340) and its settings from the one
global labscript profile, so this test holds an exclusive lock file for its whole run; a second
concurrent run of the suite waits here. Everything it starts (zlock, zlog, BLACS and its device
workers in BLACS's own session, the services) is stopped by pid / process group at the end.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from contracts.events import ShotFinished
from services.spooler.labscript_env import prepare_labscript
from tests.conftest import wait_until
from tests.spooler.harness import REPO, Tap, declare_topology, job_event, of, publish, services

pytestmark = [pytest.mark.rabbit, pytest.mark.labscript, pytest.mark.e2e]
LOCK = Path(tempfile.gettempdir()) / "shotline-real-blacs.lock"
JOB = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]], "num_wires": 8,
                        "shots": 2, "wire_order": "interleaved"}}


def labconfig_paths() -> dict[str, str]:
    import configparser

    from services.common.labscript_profile import profile_root

    profile = prepare_labscript()
    parser = configparser.ConfigParser(defaults={"labscript_suite": str(profile_root())})
    parser.read(profile.labconfig)
    return {"ct_py": parser.get("paths", "connection_table_py"),
            "ct_h5": parser.get("paths", "connection_table_h5"),
            "saved": parser.get("DEFAULT", "app_saved_configs")}


def compile_connection_table(paths: dict[str, str]) -> None:
    """The fermions connection table, compiled where BLACS looks for it."""
    source = prepare_labscript().labscriptlib / "connection_table_fermions.py"
    Path(paths["ct_py"]).write_text(source.read_text())
    Path(paths["ct_h5"]).parent.mkdir(parents=True, exist_ok=True)
    code = ("from services.spooler.labscript_env import prepare_labscript; prepare_labscript(); "
            "import runmanager, sys; from services.spooler.compiler import compile_run_file; "
            "runmanager.new_globals_file(sys.argv[2]); compile_run_file(sys.argv[1], sys.argv[2])")
    Path(paths["ct_h5"]).unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", code, paths["ct_py"], paths["ct_h5"]], cwd=REPO,
                   check=True, env={**os.environ, "READTHEDOCS": "1"})


def enable_analysis_submission(paths: dict[str, str]) -> None:
    """BLACS's saved settings with 'send to lyse at localhost' switched on (off by default)."""
    settings = Path(paths["saved"]) / "blacs" / f"{socket.gethostname()}_BLACS.h5"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_bytes(Path(paths["ct_h5"]).read_bytes())  # holds the 'connection table'
    with h5py.File(settings, "r+") as f:
        dtype = [("tab_name", "S256"), ("notebook", "S256"), ("page", int), ("visible", bool),
                 ("data", "S256")]
        dataset = f.require_group("front_panel").create_dataset("_notebook_data", (0,), dtype=dtype)
        dataset.attrs["analysis_data"] = repr({"server": "localhost", "send_to_server": True})


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_session(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the process group the child leads (its workers included)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            # BLACS's device workers are in its group too; make sure none outlives it.
            os.killpg(proc.pid, signal.SIGKILL)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
        return


def test_spooled_shots_run_in_real_blacs_and_reach_shotwatch(tmp_path, amqp_url):
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one real BLACS per machine at a time
        env = {k: v for k, v in os.environ.items() if k != "READTHEDOCS"}
        started: list[subprocess.Popen[bytes]] = []
        try:
            paths = labconfig_paths()
            compile_connection_table(paths)
            enable_analysis_submission(paths)
            # zlock and zlog started here, in the foreground, so we know their pids; BLACS and
            # the services find them running instead of spawning detached daemons.
            for module, port in (("labscript_utils.zlock", 7339), ("labscript_utils.zlog", 7340)):
                if not listening(port):
                    started.append(start_session([sys.executable, "-m", module], tmp_path / f"{module}.log", env))
                    wait_until(lambda: listening(port), timeout=20, what=f"{module} on {port}")
            blacs_log = tmp_path / "blacs.log"
            started.append(start_session([sys.executable, "-m", "blacs"], blacs_log,
                                         {**env, "QT_QPA_PLATFORM": "offscreen"}))
            wait_until(lambda: "BLACS instantiated" in blacs_log.read_text(errors="replace"),
                       timeout=60, what="BLACS to start")
            declare_topology(amqp_url)
            tap = Tap(amqp_url, "shot.finished.*")
            with services(tmp_path, amqp_url, SHOTLINE_ZLOCK="true", SHOTLINE_LYSE_PORT="42519",
                          SHOTLINE_BLACS_PORT="42517") as running:
                running.env.pop("READTHEDOCS")
                running.start("shotwatch", READTHEDOCS="")
                running.start("spooler", READTHEDOCS="")
                publish(amqp_url, job_event("job-blacs", JOB))
                events = tap.collect(lambda seen: len(of(seen, ShotFinished)) == 2, timeout=90)
            tap.close()
        finally:
            for proc in reversed(started):
                stop_session(proc)
            print((tmp_path / "blacs.log").read_text(errors="replace")[-3000:] if (tmp_path / "blacs.log").exists() else "")
    assert sorted(e.shot_index for e in events) == [0, 1]
    for event in events:
        with h5py.File(event.path, "r") as f:
            assert "run time" in f.attrs and "front_panel" in f  # written by BLACS itself
            assert f["images/top/fluorescence/atoms"].dtype == np.uint16  # the mock camera's frame
