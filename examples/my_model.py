"""A model of your own for `--model examples/my_model.py:PatchMixer` (give `--input-shape 1,28,28`).

Any ``torch.nn.Module`` subclass in a file works: imcsim builds it as ``ClassName(**model_args)`` (pass
``--model-args '{"dim": 32}'``) and traces it with torch.fx at batch 1. This one cuts a 28x28 image into 7x7 patches
(a strided convolution), mixes the 16 patch tokens with one attention head, pools them and classifies with two dense
layers: the convolution and the two token-by-token products run on the digital unit, the per-token dense layers and
the classifier are placeable on the analog (IMAC) unit.

    imcsim compare --model examples/my_model.py:PatchMixer --input-shape 1,28,28
    imcsim train --model examples/my_model.py:PatchMixer --dataset mnist-5k --epochs 3 --out runs/mixer
"""

import math

import torch
import torch.nn as nn


class PatchMixer(nn.Module):
    def __init__(self, num_classes: int = 10, dim: int = 24, in_channels: int = 1, patch: int = 7):
        super().__init__()
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)   # (1, dim, 4, 4) for 28x28 inputs
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.fc1 = nn.Linear(dim, 64)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)              # (batch, 16, dim): one row per patch
        h = self.norm(tokens)
        q, k, v = self.query(h), self.key(h), self.value(h)            # dense layers on every token row
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (batch, 16, 16)
        mixed = tokens + weights @ v                                    # activation x activation products
        return self.fc2(self.act(self.fc1(mixed.mean(1))))             # pool the tokens, classify
