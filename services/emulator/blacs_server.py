"""The two zprocess conversations the emulator has: BLACS's experiment server and lyse submission.

Both use labscript_utils' ``ZMQServer``/``zmq_get``, which take the shared secret from the
labconfig exactly as BLACS and lyse do, so real runmanager/BLACS/lyse peers can talk to them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from labscript_utils.ls_zprocess import ZMQServer, zmq_get
from labscript_utils.shared_drive import path_to_agnostic, path_to_local

ADDED = "Experiment added successfully\n"
NOT_ACCESSIBLE = "H5 file not accessible to Control PC\n"


class ExperimentServer(ZMQServer):
    """BLACS's request/reply: a shot path in, "Experiment added successfully" or an error out."""

    def __init__(self, port: int, bind_address: str, accept: Callable[[str], str]) -> None:
        self._accept = accept
        super().__init__(port, bind_address=bind_address)

    def handler(self, request: object) -> str:
        if not isinstance(request, str):
            return NOT_ACCESSIBLE  # BLACS treats whatever it gets as a path
        path = path_to_local(request)
        if not os.path.isfile(path):
            return NOT_ACCESSIBLE
        return self._accept(path)


def submit_to_lyse(path: str, host: str, port: int, timeout_s: float = 2.0) -> bool:
    """What BLACS's analysis submission sends; True once lyse (shotwatch) took the shot.

    Raises on timeouts and transport errors (worth retrying); False is an explicit refusal.
    """
    reply = zmq_get(port, host, {"filepath": path_to_agnostic(path)}, timeout=timeout_s)
    return reply == "added successfully"
