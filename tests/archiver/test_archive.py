"""The archiver moves a shot into the SDS layout without ever losing it, once per shot."""

from __future__ import annotations

import errno
import os
from datetime import date
from pathlib import Path

import pytest

import tests.analysis.shotfiles as shotfiles  # noqa: F401 - h5_lock before h5py
from contracts.events import JobFailed, ShotAnalysed, ShotArchived
from services.archiver import transfer
from services.common.shot_storage import archive_path
from services.common.shot_storage import sha256_of
from services.archiver.service import Archiver
from services.archiver.settings import ArchiverSettings
from services.common.bus import PermanentError, TransientError
from tests.analysis.fakes import RecordingPublisher, deliver
from tests.analysis.shotfiles import BuiltShot, build_job


def analysed(shot: BuiltShot) -> ShotAnalysed:
    return ShotAnalysed.create("test", job_id=shot.job_id, backend=shot.backend,
                               experiment=shot.experiment, shot_index=shot.shot_index,
                               path=str(shot.path), sha256=shot.sha256, size=shot.size,
                               memory=shot.memory)


@pytest.fixture
def sds(tmp_path: Path) -> Path:
    root = tmp_path / "sds"
    root.mkdir()
    return root


@pytest.fixture
def archiver(tmp_path: Path, sds: Path) -> Archiver:
    return Archiver(ArchiverSettings(home=tmp_path / "home", shots_root=tmp_path, sds_root=sds,
                                         archiver_min_free_bytes=0))


@pytest.fixture
def shot(tmp_path: Path) -> BuiltShot:
    return build_job(tmp_path / "spool", "multiqudit", "job-1", {"experiment_3": 3})["experiment_3"][2]


def test_shot_is_moved_to_the_dated_layout_with_verified_checksum(archiver, sds, shot):
    publisher = RecordingPublisher()
    deliver(archiver, analysed(shot), publisher)
    today = date.today()  # the shots' sequence_date
    dest = archive_path(sds, "multiqudit", today, "job-1", "experiment_3", 2)
    assert dest == sds / "multiqudit" / f"{today:%Y/%m/%d}" / "job-1" / "experiment_3" / "0002.h5"
    assert not shot.path.exists()
    assert sha256_of(dest) == (shot.sha256, shot.size)
    (event,) = publisher.of(ShotArchived)
    assert (event.path, event.sha256, event.size, event.memory) == (
        str(dest), shot.sha256, shot.size, shot.memory)
    assert [p.name for p in dest.parent.iterdir()] == ["0002.h5"]  # no .part left behind


def test_same_message_twice_just_confirms(archiver, shot):
    publisher = RecordingPublisher()
    event = analysed(shot)
    deliver(archiver, event, publisher)
    deliver(archiver, event, publisher, redelivered=True)
    first, second = publisher.of(ShotArchived)
    assert first.path == second.path and first.sha256 == second.sha256
    assert not publisher.of(JobFailed)


def test_crash_after_rename_before_removal_is_finished_by_the_redelivery(archiver, sds, shot):
    # Given a verified archived copy while the original is still there (crash in between)
    dest = archive_path(sds, "multiqudit", date.today(), "job-1", "experiment_3", 2)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(shot.path.read_bytes())
    publisher = RecordingPublisher()
    deliver(archiver, analysed(shot), publisher)
    assert not shot.path.exists() and dest.exists()
    assert len(publisher.of(ShotArchived)) == 1


def test_missing_destination_is_transient_and_keeps_the_original(tmp_path, shot):
    archiver = Archiver(ArchiverSettings(home=tmp_path / "home", shots_root=tmp_path, sds_root=tmp_path / "unmounted"))
    with pytest.raises(TransientError, match="does not exist"):
        deliver(archiver, analysed(shot), RecordingPublisher())
    assert sha256_of(shot.path) == (shot.sha256, shot.size)
    assert not (tmp_path / "unmounted").exists()  # a mount point is never created


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_unwritable_destination_is_transient_and_keeps_the_original(archiver, sds, shot, monkeypatch, code):
    # chmod cannot stop root (the CI user), so the storage's error is injected where the copy
    # opens its target, the way a read-only, forbidden or full mount answers.
    real_open = open

    def failing_open(file, mode="r", *args, **kwargs):
        if "x" in mode or "w" in mode:
            raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(transfer, "open", failing_open, raising=False)
    with pytest.raises(TransientError):
        deliver(archiver, analysed(shot), RecordingPublisher())
    assert sha256_of(shot.path) == (shot.sha256, shot.size)
    assert not list(sds.rglob("*.h5")) and not list(sds.rglob("*.part"))


def test_blocked_destination_path_is_transient(archiver, sds, shot):
    # A regular file where the backend's folder should be (a stale mount point, an operator's
    # mistake): the OS refuses with ENOTDIR whoever we are, root included.
    (sds / "multiqudit").write_text("not a folder")
    with pytest.raises(TransientError):
        deliver(archiver, analysed(shot), RecordingPublisher())
    assert sha256_of(shot.path) == (shot.sha256, shot.size)


def test_full_archive_is_transient(tmp_path, sds, shot):
    archiver = Archiver(ArchiverSettings(home=tmp_path / "home", shots_root=tmp_path, sds_root=sds,
                                             archiver_min_free_bytes=2**62))
    with pytest.raises(TransientError, match="is full"):
        deliver(archiver, analysed(shot), RecordingPublisher())
    assert shot.path.exists()


def test_a_shot_changed_after_analysis_is_refused(archiver, sds, shot):
    event = analysed(shot).model_copy(update={"sha256": "0" * 64})
    publisher = RecordingPublisher()
    deliver(archiver, event, publisher)
    (failed,) = publisher.of(JobFailed)
    assert failed.stage == "archiving" and "changed after analysis" in failed.reason
    assert shot.path.exists() and not list(sds.rglob("*.h5"))


def test_a_different_file_under_the_archived_name_is_never_overwritten(archiver, sds, shot):
    dest = archive_path(sds, "multiqudit", date.today(), "job-1", "experiment_3", 2)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"another shot")
    publisher = RecordingPublisher()
    deliver(archiver, analysed(shot), publisher)
    assert "different file" in publisher.of(JobFailed)[0].reason
    assert dest.read_bytes() == b"another shot" and shot.path.exists()


def test_a_file_outside_the_shot_folders_is_never_archived_or_deleted(tmp_path, sds, shot):
    archiver = Archiver(ArchiverSettings(home=tmp_path / "home", sds_root=sds,
                                             shots_root=tmp_path / "home" / "shots"))
    with pytest.raises(PermanentError, match="not under the shot folders"):
        deliver(archiver, analysed(shot), RecordingPublisher())
    assert shot.path.exists() and not list(sds.rglob("*.h5"))


def test_stale_part_files_of_killed_archivers_are_removed_young_ones_kept(tmp_path):
    import time

    from services.archiver.transfer import STALE_PART_S, remove_stale_parts

    folder = tmp_path / "fermions" / "2026" / "11" / "28" / "job" / "experiment_0"
    folder.mkdir(parents=True)
    old, young, shot = folder / ".0000.h5.abc.part", folder / ".0001.h5.def.part", folder / "0002.h5"
    for path in (old, young, shot):
        path.write_bytes(b"x")
    now = time.time()
    os.utime(old, (now - STALE_PART_S - 5, now - STALE_PART_S - 5))
    assert remove_stale_parts(tmp_path, now) == [old]
    assert not old.exists() and young.exists() and shot.exists()


def test_a_part_left_by_an_archiver_killed_mid_copy_goes_once_the_shot_is_archived(archiver, sds, shot):
    # Given the working copy of a killed archiver next to where the shot belongs
    dest = archiver.destination(analysed(shot))
    dest.parent.mkdir(parents=True, exist_ok=True)
    leftover = dest.parent / f".{dest.name}.0123456789ab.part"
    leftover.write_bytes(b"half a shot")
    # When the redelivered message archives the shot
    deliver(archiver, analysed(shot), RecordingPublisher())
    # Then the shot is in place and the leftover is gone
    assert sha256_of(dest) == (shot.sha256, shot.size)
    assert not leftover.exists()
