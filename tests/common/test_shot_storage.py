"""Shot storage: the spool and archive layout round trip, the one checksum, the executed check,
and an atomic replace that leaves either the old file or the new one, never a mix."""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import h5py
import pytest

from services.common import shot_storage as storage


def test_spool_layout_round_trips_through_spool_place(tmp_path: Path):
    shots_dir = tmp_path / "shots"
    folder = storage.experiment_folder(shots_dir, "fermions", "job-1", "experiment_3")
    path = storage.shot_path(folder, 7)
    # The on-disk layout every shot file of a job has always had
    assert path == shots_dir / "fermions" / "job-1" / "experiment_3" / "0007.h5"
    assert storage.template_path(folder) == folder / "template.h5"
    assert storage.job_folder(shots_dir, "fermions", "job-1") == folder.parent
    assert storage.spool_place(path, shots_dir) == storage.SpoolPlace(
        path, "fermions", "job-1", "experiment_3", "0007.h5")
    # A path spelt another way is the same place, named by its real path
    assert storage.spool_place(folder / ".." / "experiment_3" / "0007.h5", shots_dir).path == path
    rerun = folder / "0007_rep00001.h5"  # what a real BLACS names a re-run
    assert storage.spool_place(rerun, shots_dir).name == "0007_rep00001.h5"


@pytest.mark.parametrize("relative", ["fermions/job-1/0000.h5", "fermions/job-1/e/x/0000.h5",
                                      "fermions/job-1/e/template.h5", "fermions/job-1/e/0000.txt"])
def test_a_path_not_shaped_like_a_shot_is_refused(tmp_path: Path, relative: str):
    with pytest.raises(storage.NotInSpool, match="is not <backend>/<job>/<experiment>/<shot>.h5"):
        storage.spool_place(tmp_path / relative, tmp_path)


def test_a_path_outside_the_spool_or_escaping_it_through_a_symlink_is_refused(tmp_path: Path):
    shots_dir = tmp_path / "shots"
    outside = tmp_path / "elsewhere" / "fermions" / "job" / "e"
    outside.mkdir(parents=True)
    (shots_dir / "fermions").mkdir(parents=True)
    (shots_dir / "fermions" / "job").symlink_to(outside.parent)
    for path in (outside / "0000.h5", shots_dir / "fermions" / "job" / "e" / "0000.h5",
                 shots_dir / ".." / "elsewhere" / "fermions" / "job" / "e" / "0000.h5"):
        with pytest.raises(storage.NotInSpool, match="is not under the shot folder"):
            storage.spool_place(path, shots_dir)


def test_spooled_shot_files_lists_shots_only(tmp_path: Path):
    folder = storage.experiment_folder(tmp_path, "rydberg", "job", "experiment_0")
    folder.mkdir(parents=True)
    for name in ("0001.h5", "0000.h5", "0000_rep00002.h5", "template.h5", ".0002.h5.running"):
        (folder / name).write_bytes(b"")
    assert storage.spooled_shot_files(tmp_path) == [
        str(folder / n) for n in ("0000.h5", "0000_rep00002.h5", "0001.h5")]


def test_archive_layout_files_by_day_and_is_found_whatever_the_day(tmp_path: Path):
    path = storage.archive_path(tmp_path, "multiqudit", date(2026, 3, 9), "job-9", "experiment_1",
                                12)
    assert path == tmp_path / "multiqudit/2026/03/09/job-9/experiment_1/0012.h5"
    assert storage.find_archived(tmp_path, "multiqudit", "job-9", "experiment_1", 12) is None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"shot")
    assert storage.find_archived(tmp_path, "multiqudit", "job-9", "experiment_1", 12) == path
    assert storage.find_archived(tmp_path, "multiqudit", "job-9", "experiment_1", 1) is None


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (3 << 20) + 5])
def test_sha256_of_matches_hashlib_across_chunk_boundaries(tmp_path: Path, size: int):
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert storage.sha256_of(tmp_path / "f") == (hashlib.sha256(data).hexdigest(), size)
    assert storage.sha256_of(str(tmp_path / "f")) == (hashlib.sha256(data).hexdigest(), size)


def test_is_executed_only_with_the_run_time_attribute(tmp_path: Path):
    shot = tmp_path / "0000.h5"
    assert not storage.is_executed(shot)  # missing
    with h5py.File(shot, "w") as f:
        f.attrs["run number"] = 0
    assert not storage.is_executed(shot)  # compiled, not run
    with h5py.File(shot, "r+") as f:
        f.attrs[storage.RUN_TIME_ATTR] = "20260101T000000.000000"
    assert storage.RUN_TIME_ATTR == "run time"  # the name BLACS writes
    assert storage.is_executed(shot)
    (tmp_path / "half.h5").write_bytes(b"\x89HDF\r\n")  # still being written
    assert not storage.is_executed(tmp_path / "half.h5")


def test_replacing_puts_the_new_content_in_place_and_leaves_no_working_file(tmp_path: Path):
    target = tmp_path / "book.json"
    target.write_text("old")
    with storage.replacing(target) as work:
        assert work.parent == tmp_path and work.name.startswith(".book.json.")
        work.write_text("new")
        assert target.read_text() == "old"  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.json"]


def test_replacing_a_missing_target_creates_it(tmp_path: Path):
    with storage.replacing(tmp_path / "new.h5") as work:
        work.write_bytes(b"x")
    assert (tmp_path / "new.h5").read_bytes() == b"x"


def test_a_failed_replace_leaves_the_target_untouched_and_removes_the_working_file(tmp_path: Path):
    target = tmp_path / "0000.h5"
    target.write_bytes(b"executed shot")
    work = tmp_path / ".0000.h5.running"
    with pytest.raises(KeyboardInterrupt):  # BaseException too: stands in for a kill mid-write
        with storage.replacing(target, work=work) as tmp:
            assert tmp == work
            tmp.write_bytes(b"half written")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"executed shot"
    assert not work.exists()


def test_a_fixed_working_name_overwrites_a_leftover_of_a_killed_attempt(tmp_path: Path):
    target = tmp_path / "0000.h5"
    work = tmp_path / ".0000.h5.analysing"
    work.write_bytes(b"left by a SIGKILL")
    with storage.replacing(target, work=work) as tmp:
        tmp.write_bytes(b"final")
    assert target.read_bytes() == b"final" and not work.exists()


def test_replacing_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path: Path,
                                                                         monkeypatch):
    calls: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(storage, "fsync_file", lambda p: calls.append(f"file {Path(p).name}"))
    monkeypatch.setattr(storage, "fsync_dir", lambda p: calls.append(f"dir {Path(p)}"))
    monkeypatch.setattr(storage.os, "replace",
                        lambda a, b: (calls.append(f"replace {Path(b).name}"), real_replace(a, b)))
    with storage.replacing(tmp_path / "t", work=tmp_path / ".t.w") as work:
        work.write_text("x")
    assert calls == ["file .t.w", "replace t", f"dir {tmp_path}"]


def test_makedirs_durable_creates_every_missing_level_below_root_and_syncs_their_parents(
        tmp_path: Path, monkeypatch):
    synced: list[Path] = []
    monkeypatch.setattr(storage, "fsync_dir", lambda p: synced.append(Path(p)))
    (tmp_path / "a").mkdir()
    folder = tmp_path / "a" / "b" / "c"
    storage.makedirs_durable(folder, tmp_path)
    assert folder.is_dir()
    assert synced == [tmp_path / "a", tmp_path / "a" / "b"]
    synced.clear()
    storage.makedirs_durable(folder, tmp_path)  # already there: nothing to do
    assert synced == []


def test_fsync_helpers_accept_str_and_path(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    storage.fsync_file(str(tmp_path / "f"))
    storage.fsync_file(tmp_path / "f")
    storage.fsync_dir(str(tmp_path))
    storage.fsync_dir(tmp_path)


def test_an_experiments_csv_and_multishot_file_sit_next_to_its_archived_shots(tmp_path: Path):
    shot = storage.archive_path(tmp_path, "fermions", date(2026, 1, 2), "job", "experiment_0", 0)
    folder = shot.parent
    assert storage.experiment_csv(folder, "experiment_0") == folder / "experiment_0.csv"
    assert storage.experiment_multishot(folder, "experiment_0") == (
        folder / "experiment_0.multishot.h5")
