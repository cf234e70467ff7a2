"""The analog sigmoid neuron: one transfer curve for the circuit solver, the SPICE export and training.

The GLSVLSI 2022 neuron (Amin, Elbtity, Mohammadi, Zand, "MRAM-based Analog Sigmoid Function for In-memory
Computing") is a CMOS inverter with an SOT-MRAM input resistor (P state) and feedback resistor (AP state), input
shifted to mid-rail. It is an *inverting* sigmoid that saturates at ``v_low`` (0 V) and ``v_high`` (Vdd) with a
small-signal gain of about -3 V/V at its centre (REFERENCE.md section 2). We model it as

    v_out(v_in) = v_low + (v_high - v_low) / (1 + exp(slope * v_in)),   slope = -4 * gain / (v_high - v_low)

so that d v_out / d v_in at v_in = 0 equals ``gain``. In normalised units, x = slope * v_in and
y = (v_out - v_low) / (v_high - v_low), this is the "reverse sigmoid" y = 1 / (1 + e^x) that training uses.

The functions accept numpy arrays or torch tensors (anything with ``exp`` through its own namespace).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from imcsim.config.base import ConfigModel

__all__ = ["NeuronConfig", "neuron_transfer", "reverse_sigmoid"]


class NeuronConfig(ConfigModel):
    """Transfer-curve parameters of the inverter-based SOT-MRAM sigmoid neuron."""

    v_low: float = Field(0.0, description="Output low saturation (V). Source: REFERENCE.md section 2 (saturates at 0).")
    v_high: float = Field(0.8, description="Output high saturation (V) = Vdd. Source: IMAC-Sim default Vdd 0.8 V.")
    gain: float = Field(-3.0, lt=0, description="Small-signal gain dV_out/dV_in at the centre (V/V). Source: "
                        "GLSVLSI 2022 neuron, about -3.")

    @model_validator(mode="after")
    def _check(self) -> "NeuronConfig":
        if not self.v_high > self.v_low:
            raise ValueError(f"v_high ({self.v_high}) must exceed v_low ({self.v_low})")
        return self

    @property
    def slope_per_v(self) -> float:
        """The exponent's coefficient (1/V): v_in of 1/slope moves the curve by one normalised unit."""
        return -4.0 * self.gain / (self.v_high - self.v_low)


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
