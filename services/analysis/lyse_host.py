"""Runs lyse routine files the way lyse's analysis subprocess does, inside a routine worker process.

Imported only by ``services.analysis.worker`` (a child process): importing lyse has process-wide
side effects (profile, h5_lock before h5py, ``sys.excepthook``, ``lyse.path`` from ``sys.argv``)
that the service process must not suffer, and a routine that hangs or corrupts the interpreter
must be killable without killing the service.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class RoutineFailed(Exception):
    """A routine raised; ``reason`` names the routine, the exception and the failing line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def import_lyse() -> types.ModuleType:
    """Import lyse headless and undo the import-time side effects that hurt a worker."""
    # h5_lock would start (or wait for) a zlock daemon; a shotline worker shares shot files only
    # with services that serialise access through the bus, never with a running BLACS.
    os.environ.setdefault("READTHEDOCS", "1")
    from services.common.labscript_profile import ensure_profile

    ensure_profile()  # before labscript_utils, or it silently creates a default profile
    import labscript_utils.h5_lock  # noqa: F401 - must precede every h5py import
    import lyse
    import lyse.utils.worker  # noqa: F401 - lyse.path resolves through it

    # `import lyse` with CLI arguments sets lyse.path = sys.argv[1] (deprecated standalone mode),
    # which would shadow the lazily resolved lyse.path that routines read.
    vars(lyse).pop("path", None)
    # labscript_utils.excepthook spawns a Tk error window for every uncaught exception.
    sys.excepthook = sys.__excepthook__
    return lyse


def describe_failure(routine: Path, exc: BaseException) -> str:
    """'routine X raised Type: message (at file:line: code)' from the innermost routine frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    # Prefer the deepest frame inside the routine file; fall back to the deepest frame overall.
    inside = [f for f in frames if Path(f.filename) == routine]
    frame = (inside or frames or [None])[-1]
    where = ""
    if frame is not None:
        where = f" (at {Path(frame.filename).name}, line {frame.lineno}: {(frame.line or '').strip()})"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"analysis routine {routine.stem} raised {type(exc).__name__}: {message}{where}"


def run_routine(lyse: types.ModuleType, routine: Path, path: str | None) -> None:
    """Execute ``routine`` as lyse's AnalysisWorker.do_analysis does, minus Qt.

    A fresh ``__main__`` module with ``__file__`` set (``lyse.Run`` names its results group after
    it), ``lyse.path`` pointing at the shot (``None`` for multi-shot routines, as in lyse), the
    routine's folder as working directory.

    Raises:
        RoutineFailed: the routine raised (``SystemExit`` included).
    """
    module = types.ModuleType("__main__")
    module.__file__ = str(routine)
    saved_main, cwd = sys.modules["__main__"], os.getcwd()
    lyse.utils.worker.path = path
    sys.modules["__main__"] = module
    try:
        os.chdir(routine.parent)
        code = compile(routine.read_text(), str(routine), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - a routine's failure is data, not our crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise RoutineFailed(describe_failure(routine, exc)) from None
    finally:
        os.chdir(cwd)
        sys.modules["__main__"] = saved_main
        lyse.utils.worker.path = None


def run_singleshot(lyse: types.ModuleType, path: str, routines: Sequence[Path]) -> None:
    """Run every single-shot routine on one shot, in order; the first failure stops the shot."""
    for routine in routines:
        run_routine(lyse, routine, path)


@contextmanager
def dataframe_as_lyse_data(lyse: types.ModuleType, df: Any) -> Iterator[None]:
    """Make ``lyse.data()`` (no path) return ``df`` while multi-shot routines run.

    In the lyse GUI ``lyse.data()`` asks the GUI's server for its DataFrame; headless there is no
    server, so the experiment's DataFrame stands in for it. ``lyse.data(path)`` is unchanged.
    """
    original: Callable[..., Any] = lyse.data

    def data(filepath: str | None = None, *args: Any, **kwargs: Any) -> Any:
        return df.copy() if filepath is None else original(filepath, *args, **kwargs)

    lyse.data = data
    try:
        yield
    finally:
        lyse.data = original


def flatten_columns(df: Any) -> Any:
    """The GUI's MultiIndex columns as 'group/name' strings, for a CSV a spreadsheet can read."""
    flat = df.copy()
    flat.columns = ["/".join(str(c) for c in col if c) if isinstance(col, tuple) else str(col)
                    for col in df.columns]
    return flat.reset_index(drop=True)


def run_multishot(lyse: types.ModuleType, paths: Sequence[str], csv_path: str, h5_path: str,
                  routines: Sequence[Path]) -> dict[str, Any]:
    """Build the experiment's lyse DataFrame, write it as CSV, run the multi-shot routines.

    Returns the globals the result needs, read from the first shot's row of the DataFrame.
    """
    from lyse.dataframe_utilities import get_dataframe_from_shots, rangeindex_to_multiindex

    df = rangeindex_to_multiindex(get_dataframe_from_shots(list(paths)), inplace=False)
    flat = flatten_columns(df)
    tmp = f"{csv_path}.part"
    flat.to_csv(tmp, index=False)
    os.replace(tmp, csv_path)
    if routines:
        with dataframe_as_lyse_data(lyse, df):
            for routine in routines:
                # lyse leaves path None for multi-shot routines; ours get the experiment's
                # multi-shot HDF5 file, so lyse.Run(lyse.path) / lyse.Sequence have somewhere
                # to save their results.
                run_routine(lyse, routine, h5_path)
    first = flat.iloc[0] if len(flat) else {}
    wanted = ("circuit_json", "num_wires", "n_shots", "wire_order")
    return {k: _plain(first[k]) for k in wanted if k in first}


def _plain(value: Any) -> Any:
    """numpy/pandas scalars as JSON-able Python values."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value
