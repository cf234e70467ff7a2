"""Transfer-curve parameters of the analog sigmoid neuron (the curve: :func:`imcsim.circuit.neuron.neuron_transfer`).

The GLSVLSI 2022 neuron (Amin, Elbtity, Mohammadi, Zand, "MRAM-based Analog Sigmoid Function for In-memory
Computing") is an inverting sigmoid saturating at ``v_low`` and ``v_high`` with a small-signal gain ``gain`` at its
centre.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from imcsim.config.base import ConfigModel

__all__ = ["NeuronConfig"]


class NeuronConfig(ConfigModel):
    """Transfer-curve parameters of the inverter-based SOT-MRAM sigmoid neuron."""

    v_low: float = Field(0.0, description="Output low saturation (V). Source: GLSVLSI 2022 neuron (Amin et al.), "
                         "saturates at 0 V.")
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
