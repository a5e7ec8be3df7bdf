"""SHOTLINE_SHOTS_ROOT outside SHOTLINE_HOME: every service spools, runs, watches, analyses and
archives shots there, and the job comes back DONE with the emulator's ground truth."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.e2e.test_pipeline import EventTap, archived_shots, ground_truth, sha256
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
JOB = {"experiment_0": {"instructions": [["load", [0], []], ["load", [3], []],
                                         ["measure", [0], []], ["measure", [3], []]],
                        "num_wires": 8, "shots": 4},
       "experiment_1": {"instructions": [["load", [1], []], ["measure", [1], []]],
                        "num_wires": 8, "shots": 2}}


class SpoolWatch:
    """Records every shot file seen in a folder while the job runs: the spool is emptied by the
    archiver, so a look afterwards could not tell "written there" from "never written"."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.seen = folder, set[Path]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.seen.update(self.folder.rglob("[0-9]*.h5"))

    def __enter__(self) -> "SpoolWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_a_job_runs_end_to_end_with_the_shots_root_outside_home(tmp_path: Path, amqp_url: str):
    # Given every service started with its shot folder outside SHOTLINE_HOME
    home, shots_root = tmp_path / "home", tmp_path / "spool-disk" / "shots"
    # A slow cycle keeps each shot in the spool long enough for the watch to see it.
    with Stack(home, amqp_url, cycle_s=0.2,
               extra_env={"SHOTLINE_SHOTS_ROOT": str(shots_root)}) as stack:
        assert stack.shots_dir == shots_root.resolve() and not stack.shots_dir.is_relative_to(home)
        stack.start()
        stack.add_user("alice")
        tap = EventTap(amqp_url, "shot.*.fermions")
        try:
            # When a two-experiment job is posted through the HTTP API
            with SpoolWatch(shots_root) as watch:
                job_id = stack.post_job("fermions", JOB)
                status = stack.wait_final("fermions", job_id, timeout=120)
            events = tap.drain()
        finally:
            tap.close()
        # Then it is DONE, one memory per shot, each what the emulator sampled into the file
        assert status["status"] == "DONE", status
        result = stack.result("fermions", job_id)
        assert result["status"] == "finished" and result["success"] is True
        archived = archived_shots(stack.sds_dir, "fermions", job_id)
        assert [r["header"]["name"] for r in result["results"]] == ["experiment_0", "experiment_1"]
        for entry in result["results"]:
            name = entry["header"]["name"]
            assert len(archived[name]) == JOB[name]["shots"] == entry["shots"]
            assert entry["data"]["memory"] == [ground_truth(p) for p in archived[name]]
    # ... every shot was written, executed, watched and analysed under the shots root
    spool = shots_root.resolve() / "fermions" / job_id
    expected = {spool / name / f"{k:04d}.h5"
                for name, spec in JOB.items() for k in range(spec["shots"])}
    assert expected <= watch.seen
    by = {producer: [e for e in events if e["producer"] == producer]
          for producer in ("shotwatch", "analysis", "archiver")}
    for producer in ("shotwatch", "analysis"):  # ShotFinished, ShotAnalysed
        assert {Path(e["path"]) for e in by[producer]} == expected, producer
    # ... and archived from there, checksums as announced, nothing left in the spool
    announced = {e["path"]: e["sha256"] for e in by["archiver"]}
    assert sorted(announced) == sorted(str(p) for ps in archived.values() for p in ps)
    assert all(sha256(Path(p)) == digest for p, digest in announced.items())
    assert not list(spool.rglob("*.h5"))
    # ... while HOME/shots was never made, let alone written to
    assert not (home / "shots").exists()
