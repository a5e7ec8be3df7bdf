"""Backend specifications: the built-in families, the registry and the lab spec loader."""

from contracts.backends.registry import (
    BACKENDS,
    BackendRegistry,
    UnknownBackendError,
    get_backend,
)
from contracts.backends.spec import BackendSpec, InstructionSpec, ParamSpec, load_backend_specs

__all__ = [
    "BACKENDS",
    "BackendRegistry",
    "BackendSpec",
    "InstructionSpec",
    "ParamSpec",
    "UnknownBackendError",
    "get_backend",
    "load_backend_specs",
]
