"""The analog sigmoid neuron: one transfer curve for the circuit solver, the SPICE export and training.

The GLSVLSI 2022 neuron (Amin, Elbtity, Mohammadi, Zand, "MRAM-based Analog Sigmoid Function for In-memory
Computing") is a CMOS inverter with an SOT-MRAM input resistor (P state) and feedback resistor (AP state), input
shifted to mid-rail. It is an *inverting* sigmoid that saturates at ``v_low`` (0 V) and ``v_high`` (Vdd) with a
small-signal gain of about -3 V/V at its centre. We model it as

    v_out(v_in) = v_low + (v_high - v_low) / (1 + exp(slope * v_in)),   slope = -4 * gain / (v_high - v_low)

so that d v_out / d v_in at v_in = 0 equals ``gain``. In normalised units, x = slope * v_in and
y = (v_out - v_low) / (v_high - v_low), this is the "reverse sigmoid" y = 1 / (1 + e^x) that training uses.

Its parameters are :class:`~imcsim.config.neuron.NeuronConfig` (re-exported here). The functions accept numpy
arrays or torch tensors (anything with ``exp`` through its own namespace).
"""

from __future__ import annotations

from typing import Any

from imcsim.config.neuron import NeuronConfig

__all__ = ["NeuronConfig", "neuron_transfer", "reverse_sigmoid"]


def reverse_sigmoid(x: Any) -> Any:
    """1 / (1 + e^x) elementwise, for numpy arrays or torch tensors (numerically safe for large |x|)."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return torch.sigmoid(-x)
    except ImportError:  # pragma: no cover - torch is a dependency, but circuit/ does not need it
        pass
    import numpy as np
    from scipy.special import expit

    return expit(-np.asarray(x, dtype=float))


def neuron_transfer(v_in: Any, cfg: NeuronConfig | None = None) -> Any:
    """Neuron output voltage (V) for input voltage ``v_in`` (V, relative to mid-rail)."""
    cfg = cfg or NeuronConfig()
    return cfg.v_low + (cfg.v_high - cfg.v_low) * reverse_sigmoid(cfg.slope_per_v * v_in)
