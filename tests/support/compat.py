"""The interpreter of .venv-compat, where the real qiskit-cold-atom client lives.

Its pins (qiskit<1.0, numpy<2, scipy<1.14) cannot share a virtualenv with the labscript suite,
so compatibility tests run the client as a subprocess. A missing interpreter fails the test
(never skips it): the compatibility claim must be checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def compat_python() -> Path:
    python = Path(os.environ.get("SHOTLINE_COMPAT_PYTHON", ROOT / ".venv-compat" / "bin" / "python"))
    if not python.exists():
        pytest.fail(f"compat interpreter {python} is missing: run `make compat` (it installs "
                    "tests/compat/requirements.txt into .venv-compat) or set SHOTLINE_COMPAT_PYTHON")
    return python
