"""BLACS connection table of the multiqudit backend: the same devices its sequence declares."""

import importlib
import os

_package = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
apparatus = importlib.import_module(f"labscriptlib.{_package}.shotline_apparatus")

apparatus.declare_devices("multiqudit")

if __name__ == "__main__":
    apparatus.run_connection_table()
