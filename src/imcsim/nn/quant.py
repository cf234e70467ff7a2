"""Quantizers with straight-through estimators, and the fake-quantized digital layers of the TPU / CPU side.

Digital layers (the convolutions of ``tpu-imac`` / ``cpu-imac`` and every layer of the all-``digital`` baseline)
compute in integer arithmetic on the hardware. In training they keep float weights and *fake-quantize* them:

* weights: symmetric, per output channel, ``bits`` bits (8 by default, the int8 datapath of the Edge TPU that
  TPU-IMAC, arXiv 2304.09258, targets): scale_c = max|w_c| / (2^(bits-1) - 1), w_q = clamp(round(w / s)) * s;
* activations (the layer input): per tensor, with a range tracked as an exponential moving average of the batch
  min/max during training (Jacob et al., "Quantization and Training of Neural Networks for Efficient
  Integer-Arithmetic-Only Inference", CVPR 2018); unsigned when the observed range is non-negative (after ReLU),
  symmetric signed otherwise.

Rounding uses the straight-through estimator (Bengio, Leonard, Courville, arXiv 1308.3432): the forward pass rounds,
the backward pass passes the gradient unchanged inside the clipping range and zeroes it outside.

IMAC weights are binary (sign) or ternary (threshold at ``delta`` times the mean |w|, 0.7 after Li & Liu, "Ternary
Weight Networks", arXiv 1605.04711) with latent float weights clipped to [-1, 1]; gradients pass straight through
where |w| <= 1 (Courbariaux et al., "BinaryConnect", NeurIPS 2015).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ste_round", "quantize_symmetric", "quantize_unsigned", "weight_scale_per_channel", "fake_quant_weight",
    "binarize", "ternarize", "quantize_imac_weight", "ActQuant", "QuantConv2d", "QuantLinear", "TERNARY_DELTA",
]

#: Ternary threshold as a fraction of mean |w| (Li & Liu, Ternary Weight Networks, arXiv 1605.04711: 0.7).
TERNARY_DELTA = 0.7


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer in the forward pass; identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


def _qmax_signed(bits: int) -> int:
    if bits < 2:
        raise ValueError(f"signed quantization needs at least 2 bits, got {bits}")
    return 2 ** (bits - 1) - 1


def quantize_symmetric(x: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantize ``x`` onto the signed grid ``k * scale``, k in [-(2^(bits-1)-1), 2^(bits-1)-1].

    ``scale`` broadcasts against ``x`` (a scalar or one value per channel). Straight-through gradient inside the
    range, zero outside (the clamp's own gradient).
    """
    q = _qmax_signed(bits)
    return torch.clamp(ste_round(x / scale), -q, q) * scale


def quantize_unsigned(x: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantize ``x`` onto the unsigned grid ``k * scale``, k in [0, 2^bits - 1] (STE as above)."""
    return torch.clamp(ste_round(x / scale), 0, 2**bits - 1) * scale


def weight_scale_per_channel(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel scale max|w_c| / (2^(bits-1)-1), shaped to broadcast against ``w`` (out, ...).

    A channel of all zeros gets scale 1 (any scale represents it exactly), and so does a channel whose scale would
    underflow to 0 (subnormal weights, which then quantize to 0 within half a step of 1).
    """
    amax = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = amax / _qmax_signed(bits)
    scale = torch.where(scale > 0, scale, torch.ones_like(amax))
    return scale.reshape(-1, *([1] * (w.dim() - 1)))


def fake_quant_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-output-channel fake quantization of a weight tensor (out, ...) to ``bits`` bits."""
    return quantize_symmetric(w, weight_scale_per_channel(w, bits), bits)


def binarize(w: torch.Tensor) -> torch.Tensor:
    """sign(w) in {-1, +1} (0 maps to +1); gradient passes straight through where |w| <= 1."""
    hard = torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))
    clipped = torch.clamp(w, -1.0, 1.0)
    return clipped + (hard - clipped).detach()


def ternarize(w: torch.Tensor, delta: float = TERNARY_DELTA) -> torch.Tensor:
    """w -> {-1, 0, +1}: +-1 where |w| > delta * mean|w|, else 0; straight-through gradient where |w| <= 1."""
    thr = delta * w.detach().abs().mean()
    hard = torch.sign(w) * (w.abs() > thr).to(w.dtype)
    clipped = torch.clamp(w, -1.0, 1.0)
    return clipped + (hard - clipped).detach()


def quantize_imac_weight(w: torch.Tensor, precision: str) -> torch.Tensor:
    """Binary or ternary IMAC weights from latent weights (see :func:`binarize`, :func:`ternarize`)."""
    if precision == "binary":
        return binarize(w)
    if precision == "ternary":
        return ternarize(w)
    raise ValueError(f"IMAC weight precision must be 'binary' or 'ternary', got {precision!r}")


class ActQuant(nn.Module):
    """Per-tensor activation fake quantizer with an EMA-tracked range (buffers ``lo``, ``hi``, ``initialized``).

    Training: the range follows ``momentum``-weighted moving averages of the batch min and max (the first batch
    sets it). Evaluation: the frozen range. Unsigned grid when ``lo >= 0``, symmetric signed otherwise.
    """

    def __init__(self, bits: int = 8, momentum: float = 0.1):
        super().__init__()
        self.bits = int(bits)
        self.momentum = float(momentum)
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.observe_(x)
        if not bool(self.initialized):
            return x
        return self.quantize(x)

    @torch.no_grad()
    def observe_(self, x: torch.Tensor) -> None:
        """Move the range towards the min and max of ``x`` (the first batch sets it), as training does."""
        lo, hi = x.min(), x.max()
        if not bool(self.initialized):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.initialized.fill_(True)
        else:
            self.lo.lerp_(lo, self.momentum)
            self.hi.lerp_(hi, self.momentum)

    def code_range(self, signed: bool) -> tuple[int, int]:
        """(lowest, highest) integer code of the signed or unsigned grid (:meth:`quantize` clamps round(x / scale)
        to it, and passes the gradient where round(x / scale) lies inside)."""
        return (-_qmax_signed(self.bits), _qmax_signed(self.bits)) if signed else (0, 2**self.bits - 1)

    def scale(self) -> tuple[torch.Tensor, bool]:
        """(scale per LSB, signed?) of the current range."""
        signed = bool(self.lo < 0)
        if signed:
            amax = torch.maximum(self.lo.abs(), self.hi.abs())
            return torch.clamp(amax, min=1e-8) / _qmax_signed(self.bits), True
        return torch.clamp(self.hi, min=1e-8) / (2**self.bits - 1), False

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        s, signed = self.scale()
        return quantize_symmetric(x, s, self.bits) if signed else quantize_unsigned(x, s, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class QuantConv2d(nn.Conv2d):
    """A convolution with int-``weight_bits`` per-channel weights and int-``act_bits`` inputs (fake-quantized)."""

    def __init__(self, *args, weight_bits: int = 8, act_bits: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_bits = int(weight_bits)
        self.act_quant = ActQuant(act_bits)

    @classmethod
    def from_float(cls, conv: nn.Conv2d, weight_bits: int = 8, act_bits: int = 8) -> "QuantConv2d":
        """A quantized copy of ``conv`` holding the same weights."""
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
                padding_mode=conv.padding_mode, weight_bits=weight_bits, act_bits=act_bits)
        with torch.no_grad():
            q.weight.copy_(conv.weight)
            if conv.bias is not None:
                q.bias.copy_(conv.bias)
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.act_quant(x), fake_quant_weight(self.weight, self.weight_bits), self.bias)


class QuantLinear(nn.Linear):
    """A dense layer with int-``weight_bits`` per-channel weights and int-``act_bits`` inputs (fake-quantized)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_bits: int = 8,
                 act_bits: int = 8):
        super().__init__(in_features, out_features, bias=bias)
        self.weight_bits = int(weight_bits)
        self.act_quant = ActQuant(act_bits)

    @classmethod
    def from_float(cls, lin: nn.Linear, weight_bits: int = 8, act_bits: int = 8) -> "QuantLinear":
        q = cls(lin.in_features, lin.out_features, bias=lin.bias is not None, weight_bits=weight_bits,
                act_bits=act_bits)
        with torch.no_grad():
            q.weight.copy_(lin.weight)
            if lin.bias is not None:
                q.bias.copy_(lin.bias)
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.act_quant(x), fake_quant_weight(self.weight, self.weight_bits), self.bias)
