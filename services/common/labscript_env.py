"""Process set-up before the labscript suite is imported, for every process that uses it.

Order matters: the profile must exist before ``labscript_utils`` is imported (it would create a
default one), and ``labscript_utils.h5_lock`` must be imported before ``h5py``. ``READTHEDOCS=1``
keeps h5_lock from starting or using a zlock daemon; only processes sharing files with a real
BLACS run without it (then h5py.File takes zlock locks, as BLACS expects).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from services.common.labscript_profile import LabscriptProfile, ensure_profile

def prepare_labscript(sync: Mapping[str, str] | None = None, *, zlock: bool = False) -> LabscriptProfile:
    """Write/check the profile, sync ``sync`` into its labscriptlib, make userlib importable.

    ``zlock`` is for processes that share shot files with a real BLACS; it must be decided here,
    before h5_lock is imported, and child processes inherit it through the environment.
    """
    if zlock:
        os.environ.pop("READTHEDOCS", None)
    else:
        os.environ["READTHEDOCS"] = "1"
    if "h5py" in sys.modules and "labscript_utils.h5_lock" not in sys.modules:
        raise RuntimeError("h5py was imported before labscript_utils.h5_lock; import order is broken")
    profile = ensure_profile(sync=sync)
    import labscript_profile

    # The .pth hook ran at interpreter start, possibly before the profile existed.
    labscript_profile.add_userlib_and_pythonlib()
    import labscript_utils.h5_lock  # noqa: F401 - before any h5py import
    return profile


