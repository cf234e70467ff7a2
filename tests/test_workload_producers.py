"""from_torch records which layers each layer reads (Layer.extra["inputs"]): residual additions name both branches,
layers that make no layer (dropout, identity, size) pass their operands' producers on."""

from __future__ import annotations

import torch
from torch import nn

from imcsim.workload.from_torch import from_torch


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.drop = nn.Dropout(0.1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        y = self.b(torch.relu(self.drop(self.a(x))))
        z = y + x
        left, right = torch.chunk(z, 2, dim=1)
        return self.fc(torch.cat([left, right], dim=1).view(z.size(0), -1))


def test_inputs_follow_the_graph():
    net = from_torch(_Block(), (4, 6, 6))
    inputs = {lay.name: lay.extra["inputs"] for lay in net.layers}
    assert inputs["a"] == []                       # the network input
    assert inputs["relu"] == ["a"]                 # dropout passes 'a' through
    assert inputs["b"] == ["relu"]
    assert inputs["add"] == ["b"]                  # x is the network input: no producer layer
    getitems = [n for n in inputs if n.startswith("getitem")]
    assert all(inputs[n] == ["add"] for n in getitems)        # chunk parts read the addition
    assert inputs["cat"] == getitems
    assert inputs["view"] == ["cat"]               # z.size(0) is shape arithmetic, not data
    assert inputs["fc"] == ["view"]
