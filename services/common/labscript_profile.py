"""The labscript profile shotline needs (labconfig, shared secret, userlib), written idempotently.

labscript_profile hard-codes ``~<user>/labscript-suite`` and picks ``labconfig/<hostname>.ini``;
the first ``import labscript_utils`` without it silently creates a default "example_apparatus"
profile, and a missing ``<hostname>.ini`` later fails with ``NoSectionError: 'paths'``. So every
process that imports the labscript suite calls ``ensure_profile()`` first.

A lab with its own profile sets ``SHOTLINE_LABSCRIPT_PROFILE=existing``: nothing is written, the
profile is only checked, and shotline's sequence scripts are still synced into its labscriptlib.
"""

from __future__ import annotations

import getpass
import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.private_files import PRIVATE, write_private_once

APPARATUS = "shotline"


@dataclass(frozen=True)
class LabscriptProfile:
    root: Path
    labconfig: Path
    labscriptlib: Path  # the apparatus folder: sequence scripts and connection table live here
    analysislib: Path
    shared_drive: Path


def profile_root() -> Path:
    # labscript_profile resolves "~<user>", not $HOME; do the same so both agree.
    return Path("~" + getpass.getuser()).expanduser() / "labscript-suite"


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic, and untouched when equal, so concurrent test runs never see half a file."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _labconfig_text(apparatus: str, shared_drive: Path) -> str:
    return f"""# Written by shotline (services/common/labscript_profile.py); rewritten when it differs.
[DEFAULT]
apparatus_name = {apparatus}
shared_drive = {shared_drive}
experiment_shot_storage = %(shared_drive)s/Experiments/%(apparatus_name)s
userlib = %(labscript_suite)s/userlib
pythonlib = %(userlib)s/pythonlib
labscriptlib = %(userlib)s/labscriptlib/%(apparatus_name)s
analysislib = %(userlib)s/analysislib/%(apparatus_name)s
app_saved_configs = %(labscript_suite)s/app_saved_configs/%(apparatus_name)s
user_devices = user_devices

[paths]
connection_table_h5 = %(experiment_shot_storage)s/connection_table.h5
connection_table_py = %(labscriptlib)s/connection_table.py

[servers]
zlock = localhost
runmanager = localhost

[ports]
# Used by the BLACS and lyse GUIs; shotline's services take SHOTLINE_BLACS_PORT/LYSE_PORT.
blacs = 42517
lyse = 42519
runviewer = 42521
runmanager = 42523
zlock = 7339
zlog = 7340
zprocess_remote = 7341

[timeouts]
communication_timeout = 60

[programs]
text_editor = true
text_editor_arguments = {{file}}
hdf5_viewer = true
hdf5_viewer_arguments = {{file}}

[labscript]
save_hg_info = False
save_git_info = False

[security]
shared_secret = %(labscript_suite)s/labconfig/zpsecret.key
"""


def ensure_profile(
    sync: Mapping[str, str] | None = None,
    analysis_sync: Mapping[str, str] | None = None,
) -> LabscriptProfile:
    """Make sure the profile exists; copy ``sync`` (file name -> text) into the labscriptlib
    and ``analysis_sync`` into the analysislib. Returns where everything is."""
    mode = os.environ.get("SHOTLINE_LABSCRIPT_PROFILE", "managed")
    root = profile_root()
    labconfig = root / "labconfig" / f"{socket.gethostname()}.ini"
    apparatus = APPARATUS
    shared = root / "shared"
    if mode == "existing":
        if not labconfig.exists():
            raise RuntimeError(
                f"SHOTLINE_LABSCRIPT_PROFILE=existing but {labconfig} does not exist; "
                "create the profile with labscript-profile-create or unset the variable")
        import configparser

        parser = configparser.ConfigParser(defaults={"labscript_suite": str(root)})
        parser.read(labconfig)
        apparatus = parser.get("DEFAULT", "apparatus_name")
        shared = Path(parser.get("DEFAULT", "shared_drive"))
    else:
        _write_if_changed(labconfig, _labconfig_text(apparatus, shared))
        secret = root / "labconfig" / "zpsecret.key"
        if not secret.exists():
            from zprocess.security import generate_shared_secret  # no labscript_utils import

            # Whoever reads the secret can talk to BLACS and lyse: the owner only. A process
            # that lost the creation race keeps the winner's secret, which is as good.
            write_private_once(secret, generate_shared_secret() + "\n")
        else:
            os.chmod(secret, PRIVATE)  # one written world-readable by an earlier version
    userlib = root / "userlib"
    labscriptlib = userlib / "labscriptlib" / apparatus
    analysislib = userlib / "analysislib" / apparatus
    for folder in (labscriptlib, analysislib, userlib / "pythonlib", root / "logs", shared):
        folder.mkdir(parents=True, exist_ok=True)
    # labscriptlib must be a regular package: save_labscripts() reads labscriptlib.__file__.
    for marker in (userlib / "labscriptlib" / "__init__.py", labscriptlib / "__init__.py"):
        if not marker.exists():
            marker.touch()
    for name, text in (sync or {}).items():
        _write_if_changed(labscriptlib / name, text)
    for name, text in (analysis_sync or {}).items():
        _write_if_changed(analysislib / name, text)
    return LabscriptProfile(root, labconfig, labscriptlib, analysislib, shared)
