"""The routine worker process: imports lyse once, then runs requests read as JSON lines on stdin.

Started by ``services.analysis.routine_worker.RoutineWorker`` as ``python -m services.analysis.worker``.
One request at a time; one JSON reply line per request on a private copy of the original
stdout. Routines' own prints go to stderr, so they can never corrupt the protocol.

Requests:
    {"op": "singleshot", "path": str, "routines": [str]}
    {"op": "multishot", "paths": [str], "csv": str, "h5": str, "routines": [str]}
Replies:
    {"ok": true, "seconds": float, ...}  or  {"ok": false, "error": str, "seconds": float}
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from services.common.child_process import die_with_parent


def _protocol_channel() -> BinaryIO:
    """Keep the original stdout for replies and send fd 1 (prints) to stderr."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(reply_fd, "wb", buffering=0)


def handle(lyse: Any, request: dict[str, Any]) -> dict[str, Any]:
    from services.analysis.lyse_host import RoutineFailed, run_multishot, run_singleshot

    routines = [Path(r) for r in request.get("routines", [])]
    try:
        if request["op"] == "singleshot":
            run_singleshot(lyse, request["path"], routines)
            return {"ok": True}
        if request["op"] == "multishot":
            if routines:
                _ensure_h5(request["h5"])
            found = run_multishot(lyse, request["paths"], request["csv"], request["h5"], routines)
            return {"ok": True, "globals": found}
        if request["op"] == "ping":
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {request['op']!r}"}
    except RoutineFailed as exc:
        return {"ok": False, "error": exc.reason}
    except Exception as exc:  # noqa: BLE001 - reported to the service, which fails the shot/job
        return {"ok": False, "error": f"{request['op']} failed: {type(exc).__name__}: {exc}"}


def _ensure_h5(path: str) -> None:
    import h5py  # after lyse, hence after labscript_utils.h5_lock

    with h5py.File(path, "a"):
        pass


def main() -> int:
    # The consumer's route threads that start workers live as long as the service does.
    die_with_parent()
    replies = _protocol_channel()
    from services.analysis.lyse_host import import_lyse

    lyse = import_lyse()
    replies.write(b'{"ok": true, "ready": true}\n')
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            request = json.loads(line)
            reply = handle(lyse, request)
        except (ValueError, KeyError) as exc:
            reply = {"ok": False, "error": f"bad request: {exc}"}
        reply["seconds"] = round(time.perf_counter() - started, 6)
        sys.stderr.flush()
        replies.write(json.dumps(reply).encode() + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
