"""Crossbar interconnect config: the metal-line technology, with its size-effect copper resistivity and the
resistance and capacitance of one cell segment as derived properties (the crossbar solver in
:mod:`imcsim.circuit.crossbar` takes the segment resistances).

At a 9 nm node a copper line is narrower than the electron mean free path (39 nm), so its resistivity is well above
the bulk value. Two scattering mechanisms add up (Matthiessen's rule, the combination IMAC-Sim uses):

* grain-boundary scattering, Mayadas-Shatzkes (Phys. Rev. B 1, 1970): with
  alpha = (l0 / grain) * R / (1 - R),
  rho_MS / rho0 = 1 / (1 - 3 alpha / 2 + 3 alpha^2 - 3 alpha^3 ln(1 + 1 / alpha));
* surface scattering, the large-thickness approximation of Fuchs-Sondheimer (Sondheimer, Adv. Phys. 1, 1952):
  each pair of walls a distance d apart adds (3/8)(1 - p) l0 / d to rho / rho0. Like IMAC-Sim (mapLayer.py) we
  count both wall pairs at the line width, an excess of (3/4)(1 - p) l0 / width.

so rho_eff = rho0 * (rho_MS / rho0 + (3/4)(1 - p) l0 / width). With IMAC-Sim's 9 nm parameters (testIMAC.py: width
3 x node = 27 nm, thickness 22 nm, Cu rho0 = 1.9e-8 ohm m, l0 = 39 nm, p = 0.25, R = 0.3, grain = width) this gives
rho_eff = 5.08e-8 ohm m (the value IMAC-Sim reports for its 9 nm node: Amin, Elbtity, Zand et al., "IMAC-Sim: A
Circuit-level Simulator For In-Memory Analog Computing Architectures", GLSVLSI 2023).

Geometry of a cell (bitcell 135 nm x 108 nm, IMAC-Sim's L = 15 x node and W = 12 x node): an input line crosses a
cell along its 108 nm side and the I+ / I- column lines along its 135 nm side, so one segment is
``rho_eff * 108 nm / (27 nm * 22 nm)`` = 9.24 ohm on an input line and ``rho_eff * 135 nm / (27 nm * 22 nm)``
= 11.55 ohm on an I+ / I- line.

The segment capacitance uses the Sakurai-Tamaru fit (Sakurai and Tamaru, IEEE Trans. Electron Devices 30(2), 1983)
for a line of width w and thickness t at height h over a plane, with a neighbour at distance s:
C_ground / (eps l) = 1.15 (w / h) + 2.8 (t / h)^0.222 and
C_couple / (eps l) = (0.03 (w / h) + 0.83 (t / h) - 0.07 (t / h)^0.222) (h / s)^1.34.
IMAC-Sim (mapLayer.py, the I+/I- line block) takes half the ground term plus the coupling to the partner line of the
differential pair (s = 5 x node = 45 nm), over a length of the 108 nm cell side, with eps = 20 eps0: about 0.048 fF.
The DC solver does not use capacitances; they are reported for transient estimates.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

from pydantic import Field

from imcsim.config.base import ConfigModel
from imcsim.errors import ConfigError

__all__ = ["WireConfig", "size_effect_resistivity", "tech", "TECH_NODES", "EPS0_F_PER_M", "IRDrop", "IR_DROP_MODES"]

IRDrop = Literal["off", "first-order", "exact"]
"""How the IMAC layers model wire IR drop: not at all, to first order (:func:`imcsim.nn.nonideal.ir_drop_factors`)
or exactly (:func:`imcsim.nn.nonideal.ir_drop_exact`, the crossbar solver's transfer matrix)."""

IR_DROP_MODES: tuple[str, ...] = get_args(IRDrop)

EPS0_F_PER_M = 8.8541878128e-12
"""Vacuum permittivity (F/m), CODATA 2018."""


def size_effect_resistivity(rho_bulk_ohm_m: float, width_m: float, mean_free_path_m: float, specularity: float,
                            grain_reflection: float, grain_size_m: float) -> float:
    """Effective resistivity (ohm m) of a narrow copper line: Mayadas-Shatzkes grain-boundary factor plus the
    Fuchs-Sondheimer surface excess (3/4)(1 - p) l0 / width (see the module docstring)."""
    alpha = (mean_free_path_m / grain_size_m) * grain_reflection / (1.0 - grain_reflection)
    if alpha == 0.0:  # no grain-boundary reflection: the MS factor tends to 1
        ms = 1.0
    else:
        ms = 1.0 / (1.0 - 1.5 * alpha + 3.0 * alpha**2 - 3.0 * alpha**3 * math.log1p(1.0 / alpha))
    fs_excess = 0.75 * (1.0 - specularity) * mean_free_path_m / width_m
    return rho_bulk_ohm_m * (ms + fs_excess)


class WireConfig(ConfigModel):
    """Technology parameters of the crossbar metal lines; defaults are IMAC-Sim's 9 nm node (testIMAC.py).

    Properties give the effective resistivity (ohm m), the resistance of one cell segment of an input line and of an
    I+ / I- column line (ohm), and the capacitance of one segment (F).
    """

    width_m: float = Field(27e-9, gt=0, description="Metal line width (m). Source: IMAC-Sim testIMAC.py, "
                           "3 x 9 nm node.")
    thickness_m: float = Field(22e-9, gt=0, description="Metal line thickness (m). Source: IMAC-Sim testIMAC.py.")
    spacing_m: float = Field(20e-9, gt=0, description="Dielectric height between metal layers (m), h in the "
                             "Sakurai-Tamaru capacitance fit. Source: IMAC-Sim testIMAC.py ('inter metal layer "
                             "spacing').")
    pair_spacing_m: float = Field(45e-9, gt=0, description="Distance between the I+ and I- lines of a column (m). "
                                  "Source: IMAC-Sim testIMAC.py, 5 x node.")
    cell_length_m: float = Field(135e-9, gt=0, description="Bitcell side along the I+ / I- column lines (m). "
                                 "Source: IMAC-Sim testIMAC.py, L = 15 x node.")
    cell_width_m: float = Field(108e-9, gt=0, description="Bitcell side along the input lines (m). Source: "
                                "IMAC-Sim testIMAC.py, W = 12 x node.")
    rho_bulk_ohm_m: float = Field(1.9e-8, ge=0, description="Bulk copper resistivity (ohm m); 0 gives ideal "
                                  "wires (no segment resistance). Source: IMAC-Sim testIMAC.py.")
    mean_free_path_m: float = Field(39e-9, gt=0, description="Electron mean free path in Cu, l0 (m). Source: "
                                    "IMAC-Sim mapLayer.py; Steinhoegl et al., J. Appl. Phys. 97, 2005.")
    specularity: float = Field(0.25, ge=0, lt=1, description="Fraction p of electrons reflected specularly at the "
                               "surfaces (Fuchs-Sondheimer). Source: IMAC-Sim mapLayer.py.")
    grain_reflection: float = Field(0.3, ge=0, lt=1, description="Probability R that an electron is reflected at a "
                                    "grain boundary (Mayadas-Shatzkes). Source: IMAC-Sim mapLayer.py.")
    grain_size_m: float | None = Field(None, gt=0, description="Mean grain size (m); None = the line width, as "
                                       "IMAC-Sim assumes.")
    rel_permittivity: float = Field(20.0, gt=0, description="Relative permittivity of the inter-metal dielectric. "
                                    "Source: IMAC-Sim testIMAC.py (eps = 20 eps0).")

    @property
    def rho_eff_ohm_m(self) -> float:
        """Size-effect resistivity of the lines (ohm m); 5.08e-8 at the defaults."""
        grain = self.width_m if self.grain_size_m is None else self.grain_size_m
        return size_effect_resistivity(self.rho_bulk_ohm_m, self.width_m, self.mean_free_path_m, self.specularity,
                                       self.grain_reflection, grain)

    @property
    def r_in_ohm(self) -> float:
        """Resistance of one cell segment of an input line (ohm); about 9.24 at the defaults."""
        return self.rho_eff_ohm_m * self.cell_width_m / (self.width_m * self.thickness_m)

    @property
    def r_out_ohm(self) -> float:
        """Resistance of one cell segment of an I+ or I- column line (ohm); about 11.55 at the defaults."""
        return self.rho_eff_ohm_m * self.cell_length_m / (self.width_m * self.thickness_m)

    @property
    def coupling_f_per_m(self) -> float:
        """Coupling capacitance per unit length (F/m) between two parallel lines at the I+ / I- pair spacing, the
        Sakurai-Tamaru coupling term; about 0.053 fF/um at the defaults."""
        wh = self.width_m / self.spacing_m
        th = self.thickness_m / self.spacing_m
        couple = (0.03 * wh + 0.83 * th - 0.07 * th**0.222) * (self.spacing_m / self.pair_spacing_m) ** 1.34
        return self.rel_permittivity * EPS0_F_PER_M * couple

    @property
    def mom_density_f_per_m2(self) -> float:
        """Capacitance per footprint area (F/m^2) of a one-layer metal-oxide-metal finger capacitor built of these
        lines: fingers of the line width at the I+ / I- pair spacing, each coupling to its neighbour by
        :attr:`coupling_f_per_m`, one finger gap per (width + spacing) of footprint; about 0.73 fF/um^2 at the
        defaults. One layer only (a stack of layers would be denser), so the footprint it gives is an upper bound."""
        return self.coupling_f_per_m / (self.width_m + self.pair_spacing_m)

    @property
    def c_segment_f(self) -> float:
        """Capacitance of one I+ / I- line segment (F), IMAC-Sim's Sakurai-Tamaru estimate; about 0.048 fF."""
        wh = self.width_m / self.spacing_m
        th = self.thickness_m / self.spacing_m
        ground = 1.15 * wh + 2.8 * th**0.222
        return self.cell_width_m * (self.rel_permittivity * EPS0_F_PER_M * 0.5 * ground + self.coupling_f_per_m)


TECH_NODES = ("9nm",)
"""The technology nodes :func:`tech` knows (only IMAC-Sim's 9 nm node is sourced)."""


def tech(name: str) -> WireConfig:
    """The wire parameters of a named technology node; only IMAC-Sim's "9nm" is sourced.

    Raises :class:`~imcsim.errors.ConfigError` naming the node for any other name."""
    if str(name).lower().replace(" ", "") in ("9nm", "9"):
        return WireConfig()
    raise ConfigError(f"wire technology = {name!r}: unknown node (known: {', '.join(TECH_NODES)})")
