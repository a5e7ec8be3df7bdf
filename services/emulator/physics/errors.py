"""The one exception type every physics simulator raises for circuits it cannot simulate."""


class SimulationError(ValueError):
    """A circuit that passed validation but cannot be simulated; the message says what and why."""
