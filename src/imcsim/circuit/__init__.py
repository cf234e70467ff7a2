"""Circuit-level IMAC models: devices, wires, the sparse crossbar solver, neurons, SPICE export, networks.

Names are imported lazily so that ``import imcsim.circuit.partition`` (used by arch/) does not pull in scipy.sparse.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "WireConfig": "wires", "size_effect_resistivity": "wires", "tech": "wires",
    "weights_to_conductances": "devices", "sample_conductances": "devices", "read_noise": "devices",
    "Crossbar": "crossbar", "Chip": "chip", "program_chip": "chip", "draw_chip": "chip", "effect_rng": "chip",
    "ADCInstances": "adc", "ideal_adc": "adc", "sample_adc": "adc", "adc_codes": "adc", "tile_slices": "partition",
    "IMACNetwork": "network", "IMACLayer": "network", "CircuitEvalResult": "network",
    "load_imacsim_weights": "network", "save_imacsim_weights": "network", "load_imacsim_dataset": "network",
    "crossbar_netlist": "spice", "network_netlist": "spice", "simulate_crossbar": "spice",
    "simulate_network": "spice", "NgspiceError": "spice", "compare_crossbar": "spice", "NgspiceComparison": "spice",
    "AmplifierConfig": "amplifier", "NeuronConfig": "neuron", "neuron_transfer": "neuron",
    "reverse_sigmoid": "neuron", "partition_layer": "partition", "row_slices": "partition",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"imcsim.circuit.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'imcsim.circuit' has no attribute {name!r}")
