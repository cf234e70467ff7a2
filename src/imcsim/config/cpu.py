"""A mobile CPU as an analytical compute unit: SIMD multiply-accumulate throughput, per-operation energy, and the
cost of moving weights and activations through the cache and DRAM.

Defaults describe the performance cluster of a Qualcomm Snapdragon 855 (four Arm Cortex-A76-class "Kryo 485 Gold"
cores at 2.42 GHz, 2 MB shared L3, LPDDR4X-4266 on a 64-bit bus) running int8 inference with 128-bit NEON dot-product
instructions. Energies are Horowitz's 45 nm figures ("Computing's energy problem (and what we can do about it)",
ISSCC 2014), the per-operation costs analytical CPU/accelerator models (and the CPU-IMAC paper's analytical model,
arXiv 2105.13904) build on. See :mod:`imcsim.arch.cpu` for the equations.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imcsim.config.base import ConfigModel

__all__ = ["CPUConfig"]


class CPUConfig(ConfigModel):
    """A multi-core CPU running int8 layers with SIMD multiply-accumulate instructions."""

    name: str = Field("cortex-a76", description="Label for reports.")
    clock_hz: float = Field(2.42e9, gt=0, description="Core clock (Hz). Source: Snapdragon 855 product brief, Kryo "
                            "485 Gold (Cortex-A76-based) performance cores at 2.42 GHz.")
    cores: int = Field(4, ge=1, description="Cores a layer is spread over. Source: Snapdragon 855, four "
                       "Cortex-A76-class cores (1 prime + 3 performance).")
    simd_lanes: int = Field(16, ge=1, description="int8 multiply-accumulates per SIMD instruction: a 128-bit NEON "
                            "register holds 16 int8 values (Arm Armv8.2-A SDOT: 16 int8 products into 4 int32).")
    simd_issue_per_cycle: float = Field(2.0, gt=0, description="SIMD multiply-accumulate instructions issued per "
                                        "cycle per core. Source: Arm Cortex-A76 Software Optimization Guide, two "
                                        "ASIMD pipelines, SDOT throughput 2 per cycle.")
    simd_efficiency: float = Field(1.0, gt=0, le=1, description="Fraction of peak SIMD throughput a layer "
                                   "sustains (fraction). 1.0 = peak: an upper bound on speed.")
    energy_per_instruction_j: float = Field(70e-12, gt=0, description="Overhead energy of issuing one instruction "
                                            "(fetch, decode, register file, control) (J). Source: Horowitz ISSCC "
                                            "2014, about 70 pJ per instruction in a 45 nm core.")
    energy_per_mac_op_j: float = Field(0.23e-12, gt=0, description="Arithmetic energy of one int8 multiply and "
                                       "add (J). Source: Horowitz ISSCC 2014, 8-bit multiply 0.2 pJ + 8-bit add "
                                       "0.03 pJ (45 nm).")
    cache_bytes: int = Field(2 * 1024 * 1024, ge=0, description="Last-level cache capacity (bytes); a layer whose "
                             "input plus output activations exceed it spills them to DRAM. Source: Snapdragon 855, "
                             "2 MB L3.")
    cache_bandwidth_bytes_per_cycle: float = Field(32.0, gt=0, description="Bytes a core moves through its "
                                                   "cache per cycle (bytes/cycle/core). Source: Arm Cortex-A76 "
                                                   "Software Optimization Guide, two 128-bit load pipelines.")
    cache_energy_per_byte_j: float = Field(100e-12 / 8, gt=0, description="Energy per byte read or written in "
                                           "the cache (J). Source: Horowitz ISSCC 2014, 1 MB SRAM 100 pJ per 64-bit "
                                           "access = 12.5 pJ/byte.")
    dram_energy_per_byte_j: float = Field(1.3e-9 / 8, gt=0, description="Energy per byte moved to or from DRAM "
                                          "(J). Source: Horowitz ISSCC 2014, DRAM 1.3-2.6 nJ per 64-bit access; "
                                          "the low end, 162.5 pJ/byte.")
    dram_bandwidth_bytes_per_s: float = Field(34.1e9, gt=0, description="DRAM bandwidth (bytes/s). Source: "
                                              "Snapdragon 855, LPDDR4X at 2133 MHz (4266 MT/s) x 64 bit = "
                                              "34.1 GB/s.")
    weight_source: Literal["dram", "cache"] = Field(
        "dram", description="Where weights come from at each inference: 'dram' = streamed from DRAM once (a single "
                            "batch-1 inference, cold cache); 'cache' = already resident on chip (steady state when "
                            "the model fits in the cache).")
    bytes_per_weight: int = Field(1, ge=1, description="Bytes per weight (int8 = 1). Source: int8 inference, the "
                                  "TPU/CPU precision of the TPU-IMAC and CPU-IMAC papers.")
    bytes_per_activation: int = Field(1, ge=1, description="Bytes per activation (int8 = 1).")
    core_area_m2: float = Field(1.4e-6, gt=0, description="Area of one core with its private L2 (m^2). Source: Arm "
                                "Neoverse N1, the Cortex-A76's infrastructure sibling, about 1.4 mm^2 per core with "
                                "1 MiB of L2 in TSMC 7 nm (Arm's N1 launch, Feb. 2019); an upper bound for a "
                                "Cortex-A76 with 256-512 KiB L2. The shared L3 and the interconnect are not counted.")

    @property
    def area_m2(self) -> float:
        """Area of the cores a layer is spread over (m^2): ``cores`` x ``core_area_m2``."""
        return self.cores * self.core_area_m2

    @property
    def macs_per_second(self) -> float:
        """Sustained int8 multiply-accumulates per second over all cores."""
        return self.clock_hz * self.cores * self.simd_lanes * self.simd_issue_per_cycle * self.simd_efficiency

    @property
    def energy_per_mac_j(self) -> float:
        """Energy per multiply-accumulate (J): the instruction overhead shared by the SIMD lanes plus the
        arithmetic."""
        return self.energy_per_instruction_j / self.simd_lanes + self.energy_per_mac_op_j
