"""Write `examples/tiny_cnn.onnx` with the ONNX helper API, then read it back and compare it on TPU-IMAC.

Run from anywhere:  .venv/bin/python examples/make_onnx.py [OUT.onnx]

The graph is what another framework would export: Conv (1 -> 8, 3x3, pad 1) -> Relu -> MaxPool 2x2 -> Conv (8 -> 16,
3x3, pad 1, stride 2) -> Relu -> GlobalAveragePool -> Flatten -> Gemm (16 -> 32) -> Sigmoid -> Gemm (32 -> 10), with
seeded random weights, for 1x28x28 inputs and a symbolic batch dimension. Give the file to any command that takes
--model, e.g. `imcsim compare --model examples/tiny_cnn.onnx --arch cpu-imac`.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from imcsim.arch.system import System
from imcsim.config.system import load_system
from imcsim.report.io import write_atomic
from imcsim.workload import load_workload

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "tiny_cnn.onnx"

rng = np.random.default_rng(0)


def weight(name: str, *shape: int) -> onnx.TensorProto:
    """He-initialised float32 weights (fan-in: every dimension after the first)."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32), name)


inits = [weight("w1", 8, 1, 3, 3), weight("b1", 8), weight("w2", 16, 8, 3, 3), weight("b2", 16),
         weight("w3", 32, 16), weight("b3", 32), weight("w4", 10, 32), weight("b4", 10)]
nodes = [
    helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
    helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
    helper.make_node("Gemm", ["f", "w3", "b3"], ["h"], name="fc1", transB=1),
    helper.make_node("Sigmoid", ["h"], ["s"], name="sigmoid"),
    helper.make_node("Gemm", ["s", "w4", "b4"], ["logits"], name="fc2", transB=1),
]
graph = helper.make_graph(nodes, "tiny_cnn",
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
                          initializer=inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="imcsim example")
onnx.checker.check_model(model)
write_atomic(OUT, model.SerializeToString())  # the same bytes every run (seeded weights)

net = load_workload(str(OUT))
print(f"{OUT.name}: {len(net)} layers, {net.macs:,} MACs, {net.weights:,} weights")
for system in ("tpu-imac", "cpu-imac"):
    cmp = System(load_system(system)).compare(net)
    print(f"{system}: speedup {cmp.speedup:.2f}x, energy saving {cmp.energy_saving:.1%}")
