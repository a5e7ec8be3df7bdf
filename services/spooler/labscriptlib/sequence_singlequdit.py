"""Fixed labscript sequence of the singlequdit backend: the circuit comes from the circuit_json global."""

import importlib
import os

# Imported by package path so labscript saves it into the shot (any apparatus folder name works).
_package = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
apparatus = importlib.import_module(f"labscriptlib.{_package}.shotline_apparatus")

devices = apparatus.declare_devices("singlequdit")

if __name__ == "__main__":
    apparatus.run_circuit("singlequdit", devices, circuit_json)  # noqa: F821 - a global labscript injects
