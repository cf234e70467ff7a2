"""A systolic array (TPU-class accelerator) with double-buffered scratchpads in front of DRAM.

The cycle model follows SCALE-Sim 3.0.0 (Samajdar et al., "A Systematic Methodology for Characterizing Scalability
of DNN Accelerators using SCALE-Sim", ISPASS 2020): an ``rows x cols`` array of MAC units, one of three dataflows,
and three scratchpads (ifmap, filter, ofmap), each split into an active half serving the array and a half being
refilled from (or drained to) DRAM. Memory is counted in words of ``word_bytes`` bytes; SCALE-Sim's words are 1 byte.

Per-access energies default to nothing: a preset (``edge-tpu``, ``tpu-v1``) supplies them with their sources. Units
are SI (bytes, hertz, joules, square metres) except bandwidths, which are in words per array clock cycle as in
SCALE-Sim.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imcsim.config.base import ConfigModel

__all__ = ["SystolicConfig", "Dataflow", "parse_array", "load_systolic_config"]

Dataflow = Literal["os", "ws", "is"]

# Area per PE and per SRAM byte from the TPU v1 floor plan (Jouppi et al., "In-Datacenter Performance Analysis of a
# Tensor Processing Unit", ISCA 2017, Fig. 2 and Table 2): a die of at most 331 mm^2 in 28 nm, of which the 256 x 256
# Matrix Multiply Unit takes 24% and the 24 MiB Unified Buffer 29%. Per int8 MAC: 0.24 x 331 mm^2 / 65,536 =
# 1,212 um^2; per SRAM byte (cells plus periphery): 0.29 x 331 mm^2 / 25,165,824 B = 3.81 um^2. 331 mm^2 is an upper
# bound, so both are too. Not scaled: at another node multiply by (node / 28 nm)^2 for a first-order estimate.
_TPU_V1_DIE_M2 = 331e-6
_TPU_V1_PE_AREA_M2 = 0.24 * _TPU_V1_DIE_M2 / (256 * 256)
_TPU_V1_SRAM_AREA_M2_PER_BYTE = 0.29 * _TPU_V1_DIE_M2 / (24 * 2**20)


class SystolicConfig(ConfigModel):
    """Array geometry, dataflow, scratchpads, DRAM interface, clock and per-access energies of a systolic array.

    Defaults are SCALE-Sim 3.0.0's sample configuration (configs/scale.cfg: 32x32, 64 KiB per scratchpad) with ideal
    memory (``dram_bandwidth_words_per_cycle = None``: no stalls, SCALE-Sim's ``InterfaceBandwidth: CALC``).
    """

    rows: int = Field(32, ge=1, le=65536, description="PE array rows (SCALE-Sim ArrayHeight). Default 32: "
                      "SCALE-Sim's sample configs/scale.cfg. At most 65536: a guard against typos, not a hardware "
                      "limit.")
    cols: int = Field(32, ge=1, le=65536, description="PE array columns (SCALE-Sim ArrayWidth). Default 32: "
                      "SCALE-Sim's sample configs/scale.cfg. At most 65536: a guard against typos, not a hardware "
                      "limit.")
    dataflow: Dataflow = Field("os", description="os = output stationary, ws = weight stationary, is = input "
                               "stationary (SCALE-Sim Dataflow).")
    ifmap_sram_bytes: int = Field(64 * 1024, ge=1, description="Input-feature-map scratchpad size (bytes), both "
                                  "halves. Default: SCALE-Sim sample IfmapSramSzkB = 64 (x 1024).")
    filter_sram_bytes: int = Field(64 * 1024, ge=1, description="Filter (weight) scratchpad size (bytes), both "
                                   "halves. Default: SCALE-Sim sample FilterSramSzkB = 64.")
    ofmap_sram_bytes: int = Field(64 * 1024, ge=1, description="Output-feature-map scratchpad size (bytes), both "
                                  "halves. Default: SCALE-Sim sample OfmapSramSzkB = 64.")
    dram_bandwidth_words_per_cycle: float | None = Field(
        None, gt=0, description="DRAM interface bandwidth of each scratchpad's port (words/cycle); None = ideal "
        "memory, no stalls (SCALE-Sim InterfaceBandwidth CALC). SCALE-Sim gives each scratchpad its own port.")
    ifmap_dram_bandwidth_words_per_cycle: float | None = Field(
        None, gt=0, allow_inf_nan=True, description="Override of the ifmap read port (words/cycle); None = the shared "
        "dram_bandwidth_words_per_cycle, .inf = ideal. SCALE-Sim 3.0.0 in USER mode reads ifmaps at [layout] "
        "IfmapSRAMBankBandwidth.")
    filter_dram_bandwidth_words_per_cycle: float | None = Field(
        None, gt=0, allow_inf_nan=True, description="Override of the filter read port (words/cycle); None = the shared "
        "dram_bandwidth_words_per_cycle, .inf = ideal. SCALE-Sim 3.0.0 in USER mode reads filters at [layout] "
        "FilterSRAMBankBandwidth.")
    ofmap_dram_bandwidth_words_per_cycle: float | None = Field(
        None, gt=0, allow_inf_nan=True, description="Override of the ofmap drain port (words/cycle); None = the shared "
        "dram_bandwidth_words_per_cycle, .inf = ideal.")
    accumulate_partial_sums: bool = Field(
        False, description="ws/is: keep each row fold's partial sums in the ofmap scratchpad and write only final "
        "outputs to DRAM when the partial-sum block fits in its active half (True, as accumulator SRAMs do: TPU v1's "
        "4 MiB accumulators, Jouppi et al. ISCA 2017); False drains every partial sum to DRAM, as SCALE-Sim 3.0.0 "
        "does.")
    ifmap_pixels_once: bool = Field(
        False, description="Convolution ifmap traffic: True fetches each input pixel once per pass (the scratchpad "
        "holds pixels and the feeder forms the overlapping windows); False fetches the im2col operand, every "
        "window's copy of a pixel, which is how SCALE-Sim 3.0.0 counts ifmap DRAM reads and fills its scratchpad.")
    memory_model: Literal["physical", "scalesim"] = Field(
        "physical", description="How finite DRAM bandwidth is charged. 'physical': what a double-buffered scratchpad "
        "needs (each operand fetched once, or once per reuse pass when the reused data exceed the active half; "
        "imcsim.arch.memory). 'scalesim': SCALE-Sim 3.0.0's scratchpad bookkeeping with its artefacts (sliding set "
        "window that re-reads an operand about once per fold, double-counted waits, whole request lines; "
        "imcsim.arch.scalesim_memory), equal to SCALE-Sim's total cycles and DRAM counts; needs integer bandwidths "
        "on all three ports and ignores accumulate_partial_sums and ifmap_pixels_once. Ideal memory is the same in "
        "both.")
    word_bytes: int = Field(1, ge=1, description="Bytes per operand word (1 = int8). Default 1: SCALE-Sim fixes "
                            "1-byte words.")
    clock_hz: float = Field(1e9, gt=0, description="Array clock (Hz); converts cycles to seconds. Default 1 GHz is "
                            "a round number, not a measured part: presets set their own.")
    mac_energy_j: float = Field(0.0, ge=0, description="Energy of one multiply-accumulate (J). 0 = not modelled; "
                                "presets cite Horowitz, ISSCC 2014.")
    sram_read_energy_j_per_byte: float = Field(
        0.0, ge=0, description="Scratchpad read energy (J/byte). 0 = not modelled; presets cite their values.")
    sram_write_energy_j_per_byte: float = Field(
        0.0, ge=0, description="Scratchpad write energy (J/byte). 0 = not modelled; presets cite their values.")
    dram_read_energy_j_per_byte: float = Field(
        0.0, ge=0, description="DRAM read energy (J/byte). 0 = not modelled; presets cite their values.")
    dram_write_energy_j_per_byte: float = Field(
        0.0, ge=0, description="DRAM write energy (J/byte). 0 = not modelled; presets cite their values.")
    area_m2: float | None = Field(None, gt=0, description="Die or accelerator area (m^2), when a source gives it.")
    pe_area_m2: float = Field(
        _TPU_V1_PE_AREA_M2, gt=0, description="Area of one PE, an int8 MAC with its share of the array's wiring (m^2). "
        "Default 1.212e-9 m^2 (1,212 um^2, 28 nm): TPU v1's Matrix Multiply Unit, 24% of its <= 331 mm^2 die, over "
        "65,536 MACs (Jouppi et al., ISCA 2017, Fig. 2); unscaled.")
    sram_area_m2_per_byte: float = Field(
        _TPU_V1_SRAM_AREA_M2_PER_BYTE, gt=0, description="Scratchpad area per byte, cells and periphery (m^2/byte). "
        "Default 3.814e-12 m^2/byte (3.81 um^2, 28 nm): TPU v1's 24 MiB Unified Buffer, 29% of its <= 331 mm^2 die "
        "(Jouppi et al., ISCA 2017, Fig. 2); unscaled.")

    @property
    def pes(self) -> int:
        """Processing elements (MAC units) in the array."""
        return self.rows * self.cols

    @property
    def array_area_m2(self) -> float:
        """Area of the PE array and its three scratchpads (m^2): PEs x ``pe_area_m2`` + scratchpad bytes x
        ``sram_area_m2_per_byte`` (control, DRAM and host interfaces not counted)."""
        sram = self.ifmap_sram_bytes + self.filter_sram_bytes + self.ofmap_sram_bytes
        return self.pes * self.pe_area_m2 + sram * self.sram_area_m2_per_byte

    @property
    def peak_ops_per_s(self) -> float:
        """Peak throughput in operations per second (2 operations per MAC)."""
        return 2.0 * self.pes * self.clock_hz

    def read_bandwidths(self) -> tuple[float | None, float | None, float | None]:
        """(ifmap, filter, ofmap) port bandwidths in words/cycle; None = ideal (no stalls on that port)."""
        import math

        def port(override: float | None) -> float | None:
            bw = self.dram_bandwidth_words_per_cycle if override is None else override
            return None if bw is None or math.isinf(bw) else bw

        return (port(self.ifmap_dram_bandwidth_words_per_cycle), port(self.filter_dram_bandwidth_words_per_cycle),
                port(self.ofmap_dram_bandwidth_words_per_cycle))


def parse_array(text: str) -> tuple[int, int]:
    """``"32x32"`` -> (32, 32): an array shape given as ROWSxCOLS; ConfigError naming the value otherwise."""
    from imcsim.errors import ConfigError

    parts = str(text).lower().replace("×", "x").split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"array shape = {text!r}: expected ROWSxCOLS, e.g. 32x32") from None
    if rows < 1 or cols < 1:
        raise ConfigError(f"array shape = {text!r}: rows and columns must be positive integers")
    return rows, cols


def load_systolic_config(path) -> SystolicConfig:
    """A SystolicConfig from a YAML file: its fields at the top level, or a preset-style
    ``{kind: systolic, description: ..., config: {...}}``. Errors name the file, field and value."""
    from pathlib import Path

    from imcsim.config.base import parse_config, read_yaml
    from imcsim.errors import ConfigError

    data = read_yaml(path)
    if isinstance(data, dict) and "config" in data and "kind" in data:
        if data["kind"] != "systolic":
            raise ConfigError(f"{path}: field 'kind' = {data['kind']!r}: expected 'systolic'")
        data = data["config"]
    if data is None:
        raise ConfigError(f"{Path(path)}: empty config file")
    return parse_config(SystolicConfig, data, source=str(path))
