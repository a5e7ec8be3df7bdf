"""Code that waits, in a worker process, to be killed from outside: announced through a FIFO."""

from __future__ import annotations

import os
from pathlib import Path

#: Announces its process's pid through the FIFO ``started`` (the test's signal), then waits to
#: be killed; once the test created ``killed-once`` it runs the real file instead.
_TEMPLATE = """
import os, threading
from pathlib import Path
here = Path({folder!r})
if not (here / "killed-once").exists():
    with open(here / "started", "w") as fifo:
        fifo.write(str(os.getpid()))
    threading.Event().wait()
exec(compile(Path({real!r}).read_text(), {real!r}, "exec"))
"""


def killed_once(folder: Path, real: str | Path) -> str:
    """Python source that stands in for ``real`` until its first process was killed."""
    os.mkfifo(folder / "started")
    return _TEMPLATE.format(folder=str(folder), real=str(real))


def pid_once_started(folder: Path) -> int:
    """Block until the code runs, and return its pid; the next run does the real work."""
    with open(folder / "started") as fifo:
        pid = int(fifo.read())
    (folder / "killed-once").touch()
    return pid
