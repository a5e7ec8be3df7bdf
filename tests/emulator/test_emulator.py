"""The emulator speaks BLACS's protocol, runs shots in order and submits them as BLACS does."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import h5py
import pytest
from labscript_utils.ls_zprocess import ZMQServer, zmq_get

from services.common.imaging import read_fluorescence
from services.emulator.blacs_server import ADDED, NOT_ACCESSIBLE
from services.emulator.service import Emulator
from services.emulator.settings import EmulatorSettings
from tests.conftest import free_port
from tests.support.shots import compiled_shots

pytestmark = pytest.mark.labscript
CIRCUIT = [["load", [0], []], ["load", [2], []], ["measure", [2], []], ["measure", [1], []],
           ["measure", [0], []]]


class FakeLyse(ZMQServer):
    """lyse's side of the submission: records the shots it is given."""

    def __init__(self, port: int) -> None:
        self.received: queue.Queue[str] = queue.Queue()
        super().__init__(port, bind_address="tcp://127.0.0.1")

    def handler(self, request):
        if request == "hello":
            return "hello"
        self.received.put(request["filepath"])
        return "added successfully"


def shots(tmp_path, n: int) -> list[str]:
    return compiled_shots(tmp_path, "job-e", CIRCUIT, n, 5)


@pytest.fixture
def emulator(tmp_path):
    settings = EmulatorSettings(home=tmp_path / "home", blacs_port=free_port(), lyse_port=free_port(),
                                bind_address="tcp://127.0.0.1")
    emu = Emulator(settings)
    thread = threading.Thread(target=emu.run, daemon=True)
    thread.start()
    yield emu, settings
    emu.stop()
    thread.join(15)


def test_blacs_framing_order_durable_outbox_and_repeats(tmp_path, emulator):
    emu, settings = emulator
    paths = shots(tmp_path, 3)
    # BLACS has no 'hello': it takes it for a file name, as the real one does
    assert zmq_get(settings.blacs_port, "127.0.0.1", "hello", timeout=10) == NOT_ACCESSIBLE
    for path in paths:
        assert zmq_get(settings.blacs_port, "127.0.0.1", path, timeout=10) == ADDED
    # lyse comes up only now: nothing was lost, and shots arrive in order
    lyse = FakeLyse(settings.lyse_port)
    try:
        assert [lyse.received.get(timeout=30) for _ in paths] == paths
        with h5py.File(paths[0], "r") as f:
            run_time = f.attrs["run time"]
        # A repeated hand-over (spooler restart) re-sends the result instead of running again
        assert "added successfully" in zmq_get(settings.blacs_port, "127.0.0.1", paths[0], timeout=10)
        assert lyse.received.get(timeout=30) == paths[0]
    finally:
        lyse.shutdown()
    with h5py.File(paths[0], "r") as f:
        assert f.attrs["run time"] == run_time
    for path in paths:
        with h5py.File(path, "r") as f:
            assert f["data/emulator"].attrs["memory"] == "1 0 1"
            image = f["images/top/fluorescence/atoms"]
            assert read_fluorescence(image[()]) == [1, 0, 1]
            assert {"CLASS", "IMAGE_VERSION", "IMAGE_SUBCLASS", "IMAGE_WHITE_IS_ZERO"} <= set(image.attrs)
            assert f["images/top"].attrs["camera"] == "camera"
    assert len(emu.queue) == 0


def test_a_shot_is_written_on_a_copy_and_replaced_in_one_rename(tmp_path, monkeypatch, simulator):
    from services.emulator import execute

    # Given a compiled shot, and an emulator killed while it writes the results
    shot = Path(shots(tmp_path, 1)[0])
    before = shot.read_bytes()

    def killed(path, started, simulator, now):
        raise KeyboardInterrupt("stands in for SIGKILL: the process dies mid-write")

    monkeypatch.setattr(execute, "_write_results", killed)
    with pytest.raises(KeyboardInterrupt):
        execute.execute_shot(str(shot), 0.0, simulator)
    # Then the shot is untouched, and running it again completes it and leaves no working copy
    assert shot.read_bytes() == before
    monkeypatch.undo()
    memory = execute.execute_shot(str(shot), 0.0, simulator)
    with h5py.File(shot, "r") as f:
        assert "run time" in f.attrs and f["data/emulator"].attrs["memory"] == memory
    assert not list(shot.parent.glob(".*.running"))
