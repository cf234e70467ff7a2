"""Workload -> systolic array -> heterogeneous system, with imcsim's Python API.

Run from anywhere:  .venv/bin/python examples/compare_api.py
"""

from collections import OrderedDict
from pathlib import Path

import torch.nn as nn

from imcsim.arch.system import System
from imcsim.arch.systolic import simulate_network
from imcsim.config.system import SystemConfig, load_system
from imcsim.config.systolic import load_systolic_config
from imcsim.workload.from_torch import from_torch
from imcsim.workload.zoo import load_network

HERE = Path(__file__).resolve().parent

# 1. The workload: any torch.nn.Module, traced with torch.fx (or load_network("lenet5") from the zoo, or
#    imcsim.workload.scalesim_csv.read_topology("examples/topology.csv") for a SCALE-Sim topology file).
model = nn.Sequential(OrderedDict(
    conv1=nn.Conv2d(1, 16, 3, padding=1), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
    conv2=nn.Conv2d(16, 32, 3, padding=1), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2),
    flatten=nn.Flatten(), fc1=nn.Linear(32 * 7 * 7, 256), relu3=nn.ReLU(), fc2=nn.Linear(256, 10),
))
net = from_torch(model, (1, 28, 28), name="small-cnn")
print(f"{net.name}: {len(net.layers)} layers")

# 2. The systolic array from a YAML config (examples/systolic.yaml): cycles, utilization, latency, energy.
array = load_systolic_config(HERE / "systolic.yaml")
cost = simulate_network(net, array)
for layer in cost.layers:
    if layer.metrics.get("macs"):
        print(f"  {layer.name:<6}  {layer.metrics['total_cycles']:>8,.0f} cycles  "
              f"utilization {layer.metrics['overall_util']:.1%}")
print(f"systolic alone: {cost.latency_s * 1e6:.2f} us, {cost.energy_j * 1e6:.3f} uJ, "
      f"{cost.total('compute_cycles'):,.0f} compute cycles")

# 3. Heterogeneous systems against the digital unit alone: the tpu-imac preset, the same IMAC unit beside the
#    array of step 2 (a SystemConfig built in code; unit fields take a preset name or a config), and
#    examples/system.yaml (its per-layer override names a LeNet-5 layer, so it runs LeNet-5).
runs = [
    (load_system("tpu-imac"), net),
    (SystemConfig(name="my-array+imac", systolic=array, imac="sot-mram-imac"), net),
    (load_system(str(HERE / "system.yaml")), load_network("lenet5")),
]
for config, workload in runs:
    cmp = System(config).compare(workload)
    print(f"{workload.name} on {cmp.system}: speedup {cmp.speedup:.2f}x, energy saving {cmp.energy_saving:.1%}, "
          f"weight memory reduction {cmp.memory_reduction:.1%}")
