"""The simulated apparatus in labscript terms: devices per backend and circuit -> timed outputs.

This file is synced into the profile's labscriptlib (services/spooler/labscript_env.py) and imported by
the fixed sequence and connection-table scripts next to it; labscript saves it into every shot.
No code here is generated from user input: the circuit arrives as a JSON string global.
"""

import json

from labscript import AnalogOut, DigitalOut, add_time_marker, start, stop
from labscript_devices.DummyIntermediateDevice import DummyIntermediateDevice
from labscript_devices.DummyPseudoclock.labscript_devices import DummyPseudoclock
from labscript_devices.IMAQdxCamera.labscript_devices import IMAQdxCamera

#: Drive strength that turns a rotation angle into a pulse: duration = angle / RABI_FREQUENCY.
RABI_FREQUENCY = 2 * 3.141592653589793 * 100e3
#: Shortest pulse; smaller angles keep their area through a lower amplitude (clock limit 1 MHz).
MIN_PULSE = 10e-6
SETTLE = 5e-6
LOAD_TIME = 1e-3
IMAGING_TIME = 1e-3

#: Per backend: every gate and the drive (AnalogOut) each of its parameters is applied on.
GATE_DRIVES = {
    "fermions": {
        "fhop": ("hop_drive",),
        "fint": ("interaction_drive",),
        "fphase": ("phase_drive",),
    },
    "singlequdit": {
        "rlx": ("rabi_drive",),
        "rlz": ("detuning_drive",),
        "rlz2": ("squeezing_drive",),
        "sq_full": ("rabi_drive", "detuning_drive", "squeezing_drive"),
    },
    "multiqudit": {
        "rlx": ("rabi_drive",),
        "rlz": ("detuning_drive",),
        "rlz2": ("squeezing_drive",),
        "rlxly": ("flipflop_drive",),
        "rlzlz": ("zz_drive",),
        "multiqudit_full": (
            "rabi_drive", "detuning_drive", "squeezing_drive", "flipflop_drive", "zz_drive",
        ),
    },
    "rydberg": {
        "rlx": ("rabi_drive",),
        "rlz": ("detuning_drive",),
        "rydberg_block": ("rydberg_drive",),
        "rydberg_full": ("rabi_drive", "detuning_drive", "rydberg_drive"),
    },
}


def drives_of(backend):
    """The distinct drive channels of a backend, in a fixed order."""
    names = []
    for drives in GATE_DRIVES[backend].values():
        names.extend(d for d in drives if d not in names)
    return names


def declare_devices(backend):
    """Declare the backend's devices; returns them by name. Identical in shots and in BLACS."""
    if backend not in GATE_DRIVES:
        raise ValueError(f"no apparatus for backend {backend!r}")
    clock = DummyPseudoclock(name="pseudoclock")
    board = DummyIntermediateDevice(name="intermediate_device", parent_device=clock.clockline)
    devices = {
        # Which wires an operation addresses: a bit mask, as a tweezer/SLM selector would get it.
        "address": AnalogOut(name="address", parent_device=board, connection="ao0"),
        "atom_number": AnalogOut(name="atom_number", parent_device=board, connection="ao1"),
        "load_shutter": DigitalOut(name="load_shutter", parent_device=board, connection="port0/line0"),
    }
    for k, name in enumerate(drives_of(backend)):
        devices[name] = AnalogOut(name=name, parent_device=board, connection=f"ao{k + 2}")
    devices["camera"] = IMAQdxCamera(
        name="camera", parent_device=board, connection="port0/line1",
        serial_number=0xDEADBEEF, orientation="top", trigger_duration=1e-4, mock=True,
    )
    return devices


def _mask(wires):
    return float(sum(1 << int(w) for w in wires))


def run_circuit(backend, devices, circuit_json):
    """Turn the circuit (JSON list of [name, wires, params]) into timed outputs and stop()."""
    circuit = json.loads(circuit_json)
    gates = GATE_DRIVES[backend]
    t = 0.0
    start()
    add_time_marker(t, "circuit")
    t += SETTLE
    imaged = False
    for position, (name, wires, params) in enumerate(circuit):
        if name == "barrier":
            continue
        if name == "load":
            devices["address"].constant(t, _mask(wires))
            if params:  # qudit backends load N atoms onto the wire
                devices["atom_number"].constant(t, float(params[0]))
            devices["load_shutter"].go_high(t)
            t += LOAD_TIME
            devices["load_shutter"].go_low(t)
            t += SETTLE
        elif name == "measure":
            if not imaged:  # one fluorescence image reads every measured wire
                add_time_marker(t, "measure")
                devices["camera"].expose(t, "fluorescence", "atoms")
                t += IMAGING_TIME
                imaged = True
        elif name in gates:
            drives = gates[name]
            values = [abs(float(p)) for p in params] + [0.0] * (len(drives) - len(params))
            duration = max(max(values, default=0.0) / RABI_FREQUENCY, MIN_PULSE)
            devices["address"].constant(t, _mask(wires))
            for drive, value in zip(drives, values):
                # Pulse area (amplitude * RABI_FREQUENCY * duration) equals the gate's angle.
                devices[drive].constant(t, value / (RABI_FREQUENCY * duration))
            t += duration
            for drive in drives:
                devices[drive].constant(t, 0.0)
            t += SETTLE
        else:
            raise ValueError(
                f"instruction {position} ({name!r}) is not supported by the {backend} apparatus"
            )
    stop(t + SETTLE)


def run_connection_table():
    """What a connection table compiles: the devices and an empty sequence."""
    start()
    stop(1e-3)
