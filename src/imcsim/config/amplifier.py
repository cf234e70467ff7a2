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

IMAC-Sim's own read-out (``readout="imacsim"``): each partition's I+ line ends at the non-inverting input of a
resistive difference amplifier (R2 = ``diff_input_resistance_ohm`` in series with R4 = the feedback resistor to
ground) and its I- line at the inverting input (R1 = ``diff_input_resistance_ohm``, R3 = the feedback resistor to the
output), with an ideal op-amp (an E source). The line ends are therefore NOT at virtual ground: the I+ line sees
R2 + R4 to ground and the I- line sees R1 to the op-amp's input node, at R4 * I+. With R1 = R2 and R3 = R4 the output
is still ``R3 * (I+ - I-)`` in terms of the currents entering the amplifier (= R3/R1 * (V+ - V-) of the line-end
voltages), but those currents are smaller and coupled. The partition outputs are joined into the neuron input
through equal ``join_resistance_ohm`` resistors: ideal sources joined by equal resistors give their average, not a
sum. (Which line takes which op-amp input is our reading; swapping them flips the sign of every output.)
"""


from __future__ import annotations

from typing import Literal

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
                               "an ideal virtual ground. Used by the virtual-ground read-out only.")
    readout: Literal["virtual-ground", "imacsim"] = Field(
        "virtual-ground", description="Partition read-out: 'virtual-ground' (column lines at 0 V, transimpedance "
                                      "stages, partitions summed) or 'imacsim' (IMAC-Sim's resistive difference "
                                      "amplifier, partitions averaged through the join resistors); see the module "
                                      "docstring.")
    diff_input_resistance_ohm: float = Field(
        1e3, gt=0, description="R1 = R2 of the 'imacsim' difference amplifier (ohm); its R3 = R4 is the layer's "
                               "transimpedance_ohm (gain x 1 kOhm). Source: IMAC-Sim spice/diff1..3.sp.")
    join_resistance_ohm: float = Field(
        1e-3, gt=0, description="Resistor joining each 'imacsim' partition output to the neuron input (ohm); equal "
                                "resistors from ideal sources average them. Source: IMAC-Sim's 1 mOhm joins.")

    @property
    def averages_partitions(self) -> bool:
        """True when the neuron input is the mean (not the sum) of the partition outputs."""
        return self.readout == "imacsim"

    def transimpedance(self, layer_index: int) -> float:
        """Transimpedance (ohm) of the amplifiers of IMAC layer ``layer_index`` (0-based)."""
        if layer_index < 0:
            raise ValueError(f"layer_index must be >= 0, got {layer_index}")
        t = self.transimpedance_ohm
        return float(t[min(layer_index, len(t) - 1)])
