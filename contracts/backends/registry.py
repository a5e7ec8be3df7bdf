"""The backends this server offers, found by `fermions` or `shotline_fermions_simulator`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from contracts.backends import fermions, multiqudit, rydberg, singlequdit
from contracts.backends.spec import BackendSpec


class UnknownBackendError(LookupError):
    """No backend has this display name or full backend_name (the HTTP layer answers 404)."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown backend {name[:80]!r}; known backends: {', '.join(self.known)}")


class BackendRegistry(Mapping[str, BackendSpec]):
    """Backends keyed by display name; `resolve` also accepts the full backend_name."""

    def __init__(self, specs: Iterable[BackendSpec]) -> None:
        self._specs: dict[str, BackendSpec] = {}
        for spec in specs:
            if spec.display_name in self._specs:
                raise ValueError(f"two backends are named {spec.display_name!r}")
            self._specs[spec.display_name] = spec

    def __getitem__(self, display_name: str) -> BackendSpec:
        return self._specs[display_name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def with_specs(self, specs: Iterable[BackendSpec]) -> BackendRegistry:
        """A new registry with lab-defined backends added (a duplicate name is an error)."""
        return BackendRegistry([*self._specs.values(), *specs])

    def resolve(self, name: str) -> BackendSpec:
        """Find a backend by `<display>` or `<prefix>_<display>_<simulator|hardware>` (§1.1).

        Raises:
            UnknownBackendError: no backend matches, or the prefix/kind do not match it.
        """
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        parts = name.split("_")
        # Display names are [a-z0-9]+, so a full name has exactly three parts, as in qlued.
        if len(parts) == 3:
            spec = self._specs.get(parts[1])
            if spec is not None and spec.backend_name == name:
                return spec
        raise UnknownBackendError(name, self._specs)


BACKENDS = BackendRegistry([fermions.SPEC, singlequdit.SPEC, multiqudit.SPEC, rydberg.SPEC])


def get_backend(name: str, registry: BackendRegistry = BACKENDS) -> BackendSpec:
    """Resolve a display name or full backend_name; UnknownBackendError otherwise."""
    return registry.resolve(name)
