"""Handing a shot to BLACS (or the emulator) exactly as runmanager's ``send_to_BLACS`` does."""

from __future__ import annotations


class HandoverRefused(Exception):
    """BLACS answered, but did not add the shot (e.g. its connection table does not match)."""


def submit_shot(path: str, host: str, port: int, timeout_s: float) -> str:
    """Send the shared-drive-agnostic path; success is a reply containing "added successfully".

    Raises:
        TimeoutError: nothing answered in time (BLACS down or busy): worth retrying.
        HandoverRefused: BLACS answered with an error; retrying the same file cannot help.
    """
    from labscript_utils.ls_zprocess import zmq_get
    from labscript_utils.shared_drive import path_to_agnostic

    reply = zmq_get(port, host, data=path_to_agnostic(path), timeout=timeout_s)
    if not isinstance(reply, str) or "added successfully" not in reply:
        raise HandoverRefused(str(reply).strip()[:2000])
    return reply
