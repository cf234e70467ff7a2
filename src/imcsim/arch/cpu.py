"""Analytical cost of a layer on a mobile CPU (roofline with per-operation energies).

For a layer with ``ops`` operations (multiply-accumulates for conv/dense/GEMM layers; one per output element per
window element for pooling; one per element read or written, whichever is more, for element-wise layers (a
residual addition or an upsampling: the output; a reduction such as a token mean: the input); none for reshapes):

    t_compute = ops / (clock * cores * simd_lanes * simd_issue_per_cycle * simd_efficiency)
    bytes_w   = weights * bytes_per_weight;  bytes_a = (input + output elements) * bytes_per_activation
    bytes_dram = bytes_w (if weight_source = dram) + bytes_a (if bytes_a > cache_bytes: the activations spill)
    t_memory  = bytes_dram / dram_bandwidth
    t_cache   = (bytes_w + bytes_a) / (cache_bandwidth_bytes_per_cycle * clock * cores)
    latency   = max(t_compute, t_memory, t_cache)       (compute, DRAM streaming and cache traffic overlap)
    energy    = ops * (E_instruction / simd_lanes + E_mac_op) + (bytes_w + bytes_a) * E_cache + bytes_dram * E_dram

Every weight and activation byte passes through the cache once; operand reuse inside the core (registers, L1) is
folded into the per-instruction overhead. A reshape (flatten, view) moves nothing and costs nothing. Static (leakage)
power is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable

from imcsim.arch.cost import LayerCost, NetworkCost
from imcsim.config.cpu import CPUConfig
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["layer_ops", "simulate_layer", "simulate_network"]


def layer_ops(layer: Layer) -> int:
    """Operations the CPU executes for ``layer`` at batch 1 (see the module docstring)."""
    if layer.kind.has_weights:
        return layer.macs
    if layer.kind == LayerKind.POOL:
        return layer.output_elems * layer.kernel_h * layer.kernel_w
    if layer.kind == LayerKind.ELEMENTWISE:
        return max(layer.input_elems, layer.output_elems)
    return 0


def simulate_layer(layer: Layer, cfg: CPUConfig) -> LayerCost:
    """Latency and energy of one layer on the CPU.

    ``metrics``: ops, compute_time_s, memory_time_s (DRAM), cache_time_s, dram_bytes, cache_bytes (bytes through
    the cache), compute_energy_j, cache_energy_j, dram_energy_j.
    """
    ops = layer_ops(layer)
    if layer.kind == LayerKind.RESHAPE:
        w_bytes = a_bytes = 0
    else:
        w_bytes = layer.weights * cfg.bytes_per_weight
        a_bytes = (layer.input_elems + layer.output_elems) * cfg.bytes_per_activation
    dram = (w_bytes if cfg.weight_source == "dram" else 0) + (a_bytes if a_bytes > cfg.cache_bytes else 0)
    t_compute = ops / cfg.macs_per_second
    t_memory = dram / cfg.dram_bandwidth_bytes_per_s
    t_cache = (w_bytes + a_bytes) / (cfg.cache_bandwidth_bytes_per_cycle * cfg.clock_hz * cfg.cores)
    e_compute = ops * cfg.energy_per_mac_j
    e_cache = (w_bytes + a_bytes) * cfg.cache_energy_per_byte_j
    e_dram = dram * cfg.dram_energy_per_byte_j
    return LayerCost(
        name=layer.name, unit="cpu", latency_s=max(t_compute, t_memory, t_cache), energy_j=e_compute + e_cache + e_dram,
        weight_bits=layer.weights * cfg.bytes_per_weight * 8, activation_bytes=a_bytes,
        metrics={"ops": ops, "compute_time_s": t_compute, "memory_time_s": t_memory, "cache_time_s": t_cache,
                 "dram_bytes": dram,
                 "cache_bytes": w_bytes + a_bytes, "compute_energy_j": e_compute, "cache_energy_j": e_cache,
                 "dram_energy_j": e_dram})


def simulate_network(network: Network | Iterable[Layer], cfg: CPUConfig) -> NetworkCost:
    """Every layer of ``network`` on the CPU, one after another."""
    layers = network.layers if isinstance(network, Network) else tuple(network)
    name = network.name if isinstance(network, Network) else "network"
    return NetworkCost(name, (simulate_layer(lay, cfg) for lay in layers))
