"""The differential read-out amplifier of each horizontal crossbar partition.

Canonical model (shared by circuit/, nn/ and arch/): each column's I+ and I- lines end at virtual ground (0 V) and
the amplifier of partition p drives

    v_amp[j, p] = transimpedance * (I+[j, p] - I-[j, p])        (V)

The neuron input is the sum over horizontal partitions, v_n[j] = sum_p v_amp[j, p] (IMAC-Sim's partitioning,
GLSVLSI 2023). With ideal wires and devices, a weight w in {-1, 0, +1} on input voltage v contributes
w * (G_on - G_off) * v to I+ - I-, and the bias row is driven at Vdd, so

    v_n = transimpedance * (G_on - G_off) * (W @ v + b * Vdd).

IMAC-Sim's amplifiers (spice/diff1..3.sp) are op-amp difference amplifiers with 1 kOhm input and 30 kOhm / 30 kOhm
/ 10 kOhm feedback resistors (gain R3/R1 = 30/30/10); read as transimpedance stages from a virtual-ground column,
the feedback resistor is the transimpedance: 30 kOhm, 30 kOhm, 10 kOhm for layers 1, 2, 3.
"""

from __future__ import annotations

from pydantic import Field

from imcsim.config.base import ConfigModel

__all__ = ["AmplifierConfig"]


class AmplifierConfig(ConfigModel):
    """Electrical parameters of the per-partition differential amplifiers."""

    transimpedance_ohm: tuple[float, ...] = Field(
        (30e3, 30e3, 10e3), min_length=1,
        description="Transimpedance of the amplifiers of IMAC layer 1, 2, ... (ohm); layers past the end reuse the "
                    "last value. Source: IMAC-Sim spice/diff1..3.sp feedback resistors (gain 30/30/10 x 1 kOhm).")
    input_resistance_ohm: float = Field(
        0.0, ge=0, description="Resistance between each column line and the amplifier's virtual ground (ohm); 0 is "
                               "an ideal virtual ground. IMAC-Sim's difference amplifier has 1 kOhm input resistors.")

    def transimpedance(self, layer_index: int) -> float:
        """Transimpedance (ohm) of the amplifiers of IMAC layer ``layer_index`` (0-based)."""
        if layer_index < 0:
            raise ValueError(f"layer_index must be >= 0, got {layer_index}")
        t = self.transimpedance_ohm
        return float(t[min(layer_index, len(t) - 1)])
