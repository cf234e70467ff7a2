"""Quantizers and straight-through estimators of imcsim.nn.quant, against hand-computed grids."""

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from imcsim.nn.quant import (ActQuant, QuantConv2d, binarize, fake_quant_weight, quantize_symmetric,
                             quantize_unsigned, ste_round, ternarize, weight_scale_per_channel)


def test_ste_round_forward_rounds_and_gradient_is_identity():
    x = torch.tensor([0.2, 0.7, -1.4, 2.5], requires_grad=True)
    y = ste_round(x)
    assert y.tolist() == [0.0, 1.0, -1.0, 2.0]  # torch rounds half to even: 2.5 -> 2
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_symmetric_grid_by_hand():
    # 3 bits: codes -3..3, scale 0.5 -> grid {-1.5, ..., 1.5}; 0.74 -> 0.5, 0.76 -> 1.0, 9 -> 1.5 (clipped)
    x = torch.tensor([0.74, 0.76, -0.26, 9.0, -9.0], requires_grad=True)
    q = quantize_symmetric(x, torch.tensor(0.5), 3)
    assert q.tolist() == [0.5, 1.0, -0.5, 1.5, -1.5]
    q.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]  # straight through inside, zero where clipped


def test_unsigned_grid_by_hand():
    q = quantize_unsigned(torch.tensor([-0.3, 0.26, 100.0]), torch.tensor(0.1), 4)
    assert torch.allclose(q, torch.tensor([0.0, 0.3, 1.5]))  # codes 0..15


def test_per_channel_weight_scale():
    w = torch.tensor([[1.0, -2.54], [0.1, 0.0], [0.0, 0.0]])
    s = weight_scale_per_channel(w, 8).flatten()
    assert torch.allclose(s, torch.tensor([2.54 / 127, 0.1 / 127, 1.0]))
    q = fake_quant_weight(w, 8)
    assert torch.allclose(q[0], torch.tensor([round(1.0 / (2.54 / 127)) * 2.54 / 127, -2.54]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=40), st.integers(2, 8))
@example([5e-324, 0.0], 8)
def test_weight_fake_quant_error_at_most_half_step(values, bits):
    w = torch.tensor(values, dtype=torch.float64).reshape(1, -1)
    q = fake_quant_weight(w, bits)
    step = float(w.abs().max()) / (2 ** (bits - 1) - 1)
    step = step if step > 0 else 1.0  # all zeros, or a subnormal max whose step underflows (e.g. 4.9e-324)
    assert float((q - w).abs().max()) <= step / 2 + 1e-12
    codes = q / step
    assert torch.allclose(codes, codes.round(), atol=1e-9)


def test_binarize_values_and_gradient():
    w = torch.tensor([-0.3, 0.0, 0.8, 1.7, -2.0], requires_grad=True)
    b = binarize(w)
    assert b.tolist() == [-1.0, 1.0, 1.0, 1.0, -1.0]
    b.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_ternarize_threshold_by_hand():
    w = torch.tensor([0.9, -0.1, 0.3, -0.6], requires_grad=True)
    # mean |w| = 0.475, threshold 0.7 * 0.475 = 0.3325
    t = ternarize(w)
    assert t.tolist() == [1.0, 0.0, 0.0, -1.0]
    t.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_act_quant_tracks_range_and_freezes_in_eval():
    aq = ActQuant(bits=4, momentum=0.5)
    aq.train()
    aq(torch.tensor([0.0, 1.5]))
    aq(torch.tensor([0.0, 3.0]))
    assert float(aq.hi) == 2.25  # 1.5 + 0.5 * (3.0 - 1.5)
    aq.eval()
    y = aq(torch.tensor([0.0, 0.16, 10.0]))
    step = 2.25 / 15
    assert torch.allclose(y, torch.tensor([0.0, step, 15 * step]))
    assert float(aq.hi) == 2.25


def test_quant_conv_matches_float_conv_with_quantized_operands():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3)
    q = QuantConv2d.from_float(conv, weight_bits=8, act_bits=8)
    x = torch.rand(4, 2, 6, 6)
    q.train()
    y = q(x)
    xq = q.act_quant.quantize(x)
    ref = torch.nn.functional.conv2d(xq, fake_quant_weight(conv.weight, 8), conv.bias)
    assert torch.allclose(y, ref, atol=1e-6)
    assert float((y - conv(x)).detach().abs().max()) < 0.05  # 8 bits stay close to float
