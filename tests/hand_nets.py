"""Small workloads and hardware written out by hand for the system tests (shapes checked against torch elsewhere:
tests/test_workload_zoo.py traces the zoo's LeNet-5 to the same layers)."""

from imcsim.config.systolic import SystolicConfig
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

# A systolic array with energies, so that energy savings are defined (Horowitz 45 nm figures, as the presets use),
# and finite DRAM bandwidth.
TPU = SystolicConfig(rows=16, cols=16, mac_energy_j=0.23e-12, sram_read_energy_j_per_byte=1.25e-12,
                     sram_write_energy_j_per_byte=1.25e-12, dram_read_energy_j_per_byte=162.5e-12,
                     dram_write_energy_j_per_byte=162.5e-12, dram_bandwidth_words_per_cycle=8)


def ew(name: str, c: int, hw: int = 1) -> Layer:
    """An element-wise layer (an activation) on an hw x hw x c map."""
    return Layer(name, LayerKind.ELEMENTWISE, hw, hw, c, hw, hw, c)


def lenet5() -> Network:
    """LeNet-5 (28x28 input, padded first convolution) layer by layer."""
    pool = LayerKind.POOL
    return Network("lenet5", (
        Layer.conv2d("conv1", (28, 28), 1, 6, 5, padding=2, bias=True), ew("act1", 6, 28),
        Layer("pool1", pool, 28, 28, 6, 14, 14, 6, kernel_h=2, kernel_w=2, stride_h=2, stride_w=2),
        Layer.conv2d("conv2", (14, 14), 6, 16, 5, bias=True), ew("act2", 16, 10),
        Layer("pool2", pool, 10, 10, 16, 5, 5, 16, kernel_h=2, kernel_w=2, stride_h=2, stride_w=2),
        Layer("flatten", LayerKind.RESHAPE, 5, 5, 16, 1, 1, 400),
        Layer.linear("fc1", 400, 120), ew("act3", 120), Layer.linear("fc2", 120, 84), ew("act4", 84),
        Layer.linear("fc3", 84, 10)))
