"""Shared test helpers: fixture loading and the lab backends used to test spec loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.backends import BackendSpec, load_backend_specs

DATA = Path(__file__).resolve().parents[1] / "data"
LAB_BACKENDS = Path(__file__).resolve().parent / "data" / "lab_backends.json"


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def lab_backend(display_name: str) -> BackendSpec:
    return next(s for s in load_backend_specs(LAB_BACKENDS) if s.display_name == display_name)
