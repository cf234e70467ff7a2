"""Every zoo model exported to ONNX (torch's TorchScript exporter) and read back with imcsim's ONNX reader, against
from_torch on the module: layers with MACs (kind, shapes, window, stride, padding, groups, MACs) one for one, total
MACs with the ratio, and the time each reader takes. Then a transformer encoder block (nn.MultiheadAttention, token
Linears, LayerNorm, GELU) the same way: total MACs and the dense (IMAC-placeable) MACs.

Run: .venv/bin/python benchmarks/onnx_vs_torch.py [--models lenet5,resnet18]   (about a minute on 2 cores with VGG-16,
whose 138 M weights make a 550 MB file; the files go to a temporary directory)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from imcsim.arch.system import is_dense
from imcsim.workload.from_onnx import from_onnx
from imcsim.workload.from_torch import from_torch
from imcsim.workload.layer import LayerKind
from imcsim.workload.zoo import build_model, get_model, list_models

KEEP = (LayerKind.CONV2D, LayerKind.LINEAR, LayerKind.GEMM, LayerKind.POOL)


def _geometry(lay):
    return (lay.kind, lay.in_h, lay.in_w, lay.in_c, lay.out_h, lay.out_w, lay.out_c, lay.kernel_h, lay.kernel_w,
            lay.stride_h, lay.stride_w, lay.pad_h, lay.pad_w, lay.groups, lay.m, lay.k, lay.dynamic, lay.macs)


def _export(model: nn.Module, shape, path: Path) -> float:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), str(path), dynamo=False)
    return time.perf_counter() - t0


def _compare(name: str, model: nn.Module, shape, folder: Path) -> None:
    path = folder / f"{name}.onnx"
    t_export = _export(model, shape, path)
    t0 = time.perf_counter()
    ref = from_torch(model, shape, name=name)
    t_torch = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = from_onnx(path)
    t_onnx = time.perf_counter() - t0
    a = [_geometry(lay) for lay in net if lay.kind in KEEP]
    b = [_geometry(lay) for lay in ref if lay.kind in KEEP]
    same = sum(x == y for x, y in zip(a, b))
    dense = sum(lay.macs for lay in net if lay.kind.has_weights and is_dense(lay))
    dense_ref = sum(lay.macs for lay in ref if lay.kind.has_weights and is_dense(lay))
    print(f"{name:<14s} MAC/pool layers {same:3d}/{len(b):<3d} {'(all match)' if a == b else '(DIFFER)':<12s} "
          f"MACs onnx {net.macs:>14,} torch {ref.macs:>14,} ratio {net.macs / ref.macs:.6f}  "
          f"dense {dense / max(dense_ref, 1):.6f}  read: onnx {t_onnx:6.2f} s, torch {t_torch:6.2f} s "
          f"(export {t_export:5.1f} s, {path.stat().st_size / 1e6:6.1f} MB)")


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block on (batch, tokens, dim)."""

    def __init__(self, dim: int = 192, heads: int = 3, hidden: int = 768):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated zoo models (default: the whole zoo)")
    args = ap.parse_args()
    names = args.models.split(",") if args.models else [e.name for e in list_models()]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            entry = get_model(name)
            torch.manual_seed(0)
            _compare(entry.name, build_model(entry.name), entry.input_shape, Path(tmp))
        torch.manual_seed(0)
        _compare("vit-s-block", EncoderBlock(), (197, 192), Path(tmp))  # ViT-Ti-like: 197 tokens of 192


if __name__ == "__main__":
    main()
