"""Shotwatch answers lyse's protocol and announces executed shots with a confirmed ShotFinished."""

from __future__ import annotations

import shutil
import threading

import pytest
from labscript_utils.ls_zprocess import zmq_get

from contracts.events import ShotFinished
from services.common.shot_storage import sha256_of
from services.emulator.execute import execute_shot
from services.shotwatch.service import Shotwatch
from services.shotwatch.settings import ShotwatchSettings
from tests.conftest import free_port
from tests.support.shots import compiled_shots
from tests.spooler.harness import Tap, declare_topology, of

pytestmark = [pytest.mark.rabbit, pytest.mark.labscript]


def executed_shots(home, simulator, n: int, run: bool = True) -> list[str]:
    folder = home / "shots" / "fermions" / "job-s" / "experiment_0"
    folder.mkdir(parents=True)
    paths = compiled_shots(folder, "job-s", [["load", [1], []], ["measure", [1], []]], n, 3)
    for path in paths if run else ():
        execute_shot(path, 0.0, simulator)
    return paths


def start(settings: ShotwatchSettings):
    watch = Shotwatch(settings)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    return watch, thread


def test_lyse_framing_and_confirmed_announcement(tmp_path, amqp_url, simulator):
    declare_topology(amqp_url)
    tap = Tap(amqp_url, "shot.finished.*")
    home = tmp_path / "home"
    announced_before, fresh = executed_shots(home, simulator, 2)
    settings = ShotwatchSettings(home=home, amqp_url=amqp_url, lyse_port=free_port(),
                                 bind_address="tcp://127.0.0.1")
    (home / "shotwatch").mkdir(parents=True)
    (home / "shotwatch" / "announced.log").write_text(f"{announced_before} {sha256_of(announced_before)[0]}\n")
    watch, thread = start(settings)
    try:
        # On start it announces the executed shot it never announced, and only that one
        (rescanned,) = tap.collect(lambda seen: len(seen) == 1, timeout=20)
        assert rescanned.path == fresh
        port = settings.lyse_port
        assert zmq_get(port, "127.0.0.1", "hello", timeout=10) == "hello"
        assert zmq_get(port, "127.0.0.1", {"filepath": announced_before}, timeout=10) == "added successfully"
        (event,) = tap.collect(lambda seen: len(seen) == 1, timeout=20)
        assert isinstance(event, ShotFinished)
        assert (event.job_id, event.backend, event.experiment, event.shot_index) == ("job-s", "fermions", "experiment_0", 0)
        assert (event.sha256, event.size) == sha256_of(announced_before)
        # Anything else is refused with a reason, as lyse refuses unknown requests
        stray = tmp_path / "stray.h5"
        shutil.copy(fresh, stray)
        assert zmq_get(port, "127.0.0.1", {"filepath": str(stray)}, timeout=10).startswith("error:")
        assert zmq_get(port, "127.0.0.1", "get dataframe", timeout=10).startswith("error:")
    finally:
        watch.stop()
        thread.join(15)
        tap.close()
    assert not of(list(tap.events.queue), ShotFinished)


def test_unexecuted_shot_is_not_announced(tmp_path, amqp_url):
    declare_topology(amqp_url)
    home = tmp_path / "home"
    (path,) = executed_shots(home, None, 1, run=False)
    settings = ShotwatchSettings(home=home, amqp_url=amqp_url, lyse_port=free_port())
    watch = Shotwatch(settings)
    reply = watch.handle({"filepath": path})
    assert reply.startswith("error:") and "has not been run" in reply


def test_started_while_the_broker_is_down_it_waits_then_announces(tmp_path, monkeypatch, simulator):
    # Found by the chaos run: the start-up rescan's PublishFailed ended the process.
    from services.shotwatch import service
    from tests.support.private_broker import PrivateBroker

    home = tmp_path / "home"
    (shot,) = executed_shots(home, simulator, 1)
    attempts: list[int] = []
    retried = threading.Event()
    real_rescan = service.rescan

    def counting_rescan(*args, **kwargs):
        attempts.append(1)
        if len(attempts) >= 2:
            retried.set()  # a second attempt: the first failure did not end the service
        return real_rescan(*args, **kwargs)

    monkeypatch.setattr(service, "rescan", counting_rescan)
    broker = PrivateBroker()
    settings = ShotwatchSettings(home=home, amqp_url=broker.amqp_url, lyse_port=free_port(),
                                 bind_address="tcp://127.0.0.1")
    # Given shotwatch started while its broker is down, with an executed shot to announce
    watch, thread = start(settings)
    tap = None
    try:
        assert retried.wait(30), "the rescan was not retried"
        assert thread.is_alive()
        # When the broker comes up (the tap is the only route, so nothing is announced before it)
        broker.start()
        tap = Tap(broker.amqp_url, "shot.finished.*")
        # Then the shot is announced
        (event,) = tap.collect(lambda seen: len(seen) == 1, timeout=60)
        assert event.path == shot
    finally:
        watch.stop()
        thread.join(15)
        if tap is not None:
            tap.close()
        broker.destroy()
    assert not thread.is_alive()
