"""from_torch on token and decoder ops (Conv1d, ConvTranspose2d, Linear / matmul on token rows, activation matmuls,
interpolate, LayerNorm, softmax, GELU, cat, means): MAC counts against an independent count from forward hooks, and
the layers costed on the digital units with the dense ones on IMAC."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imcsim.arch import cpu, imac, systolic
from imcsim.arch.system import System, is_dense
from imcsim.config.presets import load_preset
from imcsim.config.system import load_system
from imcsim.workload.from_torch import from_torch
from imcsim.workload.layer import Layer, LayerKind


class MatMul(nn.Module):
    """``a @ b`` in a module of its own, so that a forward hook sees its operands (fx traces through it)."""

    def forward(self, a, b):
        return a @ b


class TinyViT(nn.Module):
    """Patches -> tokens -> one attention block -> a 1-d conv over the tokens -> a transposed-conv decoder."""

    def __init__(self, dim: int = 8, heads: int = 2, classes: int = 10):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.scores, self.mix = MatMul(), MatMul()
        self.proj = nn.Linear(dim, dim)
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        self.seq = nn.Conv1d(dim, dim, 3, padding=1)
        self.up = nn.ConvTranspose2d(dim, 4, 2, stride=2)
        self.head = nn.Linear(4 + dim, classes)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)                     # (1, 16, 8) tokens
        q, k, v = self.qkv(self.norm(t)).chunk(3, dim=-1)
        split = (1, -1, self.heads, self.dim // self.heads)
        q, k, v = (z.reshape(split).transpose(1, 2) for z in (q, k, v))   # (1, 2, 16, 4) per head
        a = torch.softmax(self.scores(q, k.transpose(-2, -1)) / math.sqrt(self.dim // self.heads), dim=-1)
        o = self.mix(a, v).transpose(1, 2).reshape(1, -1, self.dim)
        t = t + self.proj(o)
        t = t + self.fc2(self.act(self.fc1(t)))
        s = self.seq(t.transpose(1, 2))                                   # (1, 8, 16)
        img = F.interpolate(self.up(s.reshape(1, self.dim, 4, 4)), scale_factor=2)   # (1, 4, 16, 16)
        feats = torch.cat([F.adaptive_avg_pool2d(img, 1).flatten(1), t.mean(1)], dim=1)
        return self.head(feats)


def _hook_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates per module, counted from the tensors each module sees (independent of imcsim):
    Linear: output elements x in_features; Conv: output elements x in/groups x window; ConvTranspose: *input*
    elements x out/groups x window (each input pixel scatters into a window of every output channel); MatMul:
    output elements x the reduced length."""
    counts: dict[str, int] = {}

    def hook(name):
        def count(mod, inputs, out):
            if isinstance(mod, nn.Linear):
                n = out.numel() * mod.in_features
            elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
                n = out.numel() * mod.in_channels // mod.groups * math.prod(mod.kernel_size)
            elif isinstance(mod, nn.ConvTranspose2d):
                n = inputs[0].numel() * mod.out_channels // mod.groups * math.prod(mod.kernel_size)
            else:
                n = out.numel() * inputs[0].shape[-1]
            counts[name] = counts.get(name, 0) + n
        return count

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, MatMul)):
            mod.register_forward_hook(hook(name))
    with torch.no_grad():
        model(x)
    return counts


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    model = TinyViT().eval()
    return model, from_torch(model, (3, 16, 16))


def test_macs_match_forward_hook_counts(vit):
    model, net = vit
    hooks = _hook_macs(model, torch.zeros(1, 3, 16, 16))
    assert net.macs == sum(hooks.values())
    for name in ("patch", "qkv", "proj", "fc1", "fc2", "seq", "up", "head"):
        assert net[name].macs == hooks[name], name
    # The two activation products are fx function nodes inside the MatMul modules: one dynamic GEMM each.
    dyn = [lay for lay in net if lay.kind == LayerKind.GEMM and lay.dynamic]
    assert sorted(lay.macs for lay in dyn) == sorted([hooks["scores"], hooks["mix"]])


def test_token_layers_and_shapes(vit):
    _, net = vit
    qkv, seq, up = net["qkv"], net["seq"], net["up"]
    # 16 token rows of an 8 -> 24 dense layer: M = 16, weights 8 * 24 + 24.
    assert (qkv.kind, qkv.in_h * qkv.in_w, qkv.as_gemm().m, qkv.weights) == (LayerKind.LINEAR, 16, 16, 216)
    # Conv1d over 16 positions: a 1 x 16 image, kernel 1 x 3, pad (0, 1).
    assert (seq.kind, seq.in_h, seq.in_w, seq.kernel_h, seq.kernel_w, seq.pad_h, seq.pad_w) == (
        LayerKind.CONV2D, 1, 16, 1, 3, 0, 1)
    # ConvTranspose2d 8 -> 4, 2x2, on 4 x 4: M = 16 pixels, K = 8, N = 4 * 2 * 2 = 16.
    assert (up.kind, up.m, up.k, up.out_c, up.extra["out_shape"]) == (LayerKind.GEMM, 16, 8, 16, (1, 4, 8, 8))
    scores = next(lay for lay in net if lay.dynamic)
    assert (scores.groups, scores.m, scores.k, scores.out_c, scores.weights) == (2, 16, 4, 16, 0)
    ops = {lay.op for lay in net}
    assert {"LayerNorm", "softmax", "GELU", "interpolate", "cat", "mean", "adaptive_avg_pool2d"} <= ops
    interp = next(lay for lay in net if lay.op == "interpolate")
    assert (interp.in_h, interp.out_h, interp.out_c) == (8, 16, 4)


def test_parameters_add_up(vit):
    model, net = vit
    # LayerNorm's 16 and the transposed conv's bias (4) are not MAC-layer weights; the rest are.
    assert net.meta["other_params"] == 2 * 8 + 4
    assert net.weights + net.meta["other_params"] == sum(p.numel() for p in model.parameters())


def test_placement_dense_on_imac_the_rest_digital(vit):
    _, net = vit
    units = dict(zip((lay.name for lay in net), System(load_system("tpu-imac")).place(net)))
    for name in ("qkv", "proj", "fc1", "fc2", "head"):
        assert units[name] == "imac", name
    for lay in net:
        if lay.kind == LayerKind.CONV2D or lay.dynamic or lay.op in ("LayerNorm", "softmax", "interpolate", "cat"):
            assert units[lay.name] == "digital", lay.name
    assert units["act"] == "imac"  # GELU between fc1 and fc2 is the analog neuron


def test_costed_on_every_unit(vit):
    _, net = vit
    for system in ("tpu-imac", "cpu-imac"):
        cmp = System(load_system(system)).compare(net)
        assert all(math.isfinite(c.latency_s) and c.latency_s >= 0 for c in cmp.hetero.layers)
        assert cmp.baseline.latency_s > 0 and cmp.hetero.latency_s > 0
    tpu, arm = load_preset("edge-tpu"), load_preset("cortex-a76")
    for lay in net:
        assert systolic.simulate_layer(lay, tpu).latency_s >= 0
        assert cpu.simulate_layer(lay, arm).metrics["ops"] >= lay.macs


def test_token_rows_cost_t_products():
    cfg = load_preset("sot-mram-imac")
    one, many = Layer.linear("fc", 64, 32), Layer.linear("fc", 64, 32, tokens=10)
    c1, c10 = imac.simulate_layer(one, cfg), imac.simulate_layer(many, cfg)
    # Ten token rows: ten sampling windows and conversions on the same crossbars.
    assert c10.latency_s == pytest.approx(10 * c1.latency_s)
    assert c10.energy_j == pytest.approx(10 * c1.energy_j)
    assert c10.metrics["area_m2"] == c1.metrics["area_m2"] and c10.weight_bits == c1.weight_bits
    # On a systolic array the layer is the (10 x 64) @ (64 x 32) GEMM.
    tpu = load_preset("edge-tpu")
    cycles = systolic.gemm_cycles(10, 32, 64, tpu.rows, tpu.cols, tpu.dataflow)
    assert systolic.simulate_layer(many, tpu).metrics["compute_cycles"] == cycles
    assert is_dense(many) and not is_dense(Layer.gemm("qk", 10, 10, 8, dynamic=True))


def test_weight_matmul_and_functional_linear_are_dense():
    class Proj(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(6, 5))
            self.u = nn.Parameter(torch.randn(3, 5))

        def forward(self, x):                 # x (1, 4, 6)
            return F.linear(x @ self.w, self.u)  # (1, 4, 5) -> (1, 4, 3)

    net = from_torch(Proj(), (4, 6))
    # 4 rows of 6 -> 5 (120 MACs) then 4 rows of 5 -> 3 (60 MACs).
    assert [(lay.kind, lay.in_c, lay.out_c, lay.macs) for lay in net] == [
        (LayerKind.LINEAR, 6, 5, 120), (LayerKind.LINEAR, 5, 3, 60)]


def test_multihead_attention_is_its_products():
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    model = Encoder()
    net = from_torch(model, (10, 16))
    # L = S = 10 tokens, E = 16, H = 4 heads of 4: in_proj 10*16*48 = 7680, scores and context 4*10*10*4 = 1600 each,
    # out_proj 10*16*16 = 2560; every parameter is a projection's.
    assert [(lay.name, lay.kind, lay.macs) for lay in net if lay.kind.has_weights] == [
        ("attn.in_proj", LayerKind.LINEAR, 7680), ("attn.scores", LayerKind.GEMM, 1600),
        ("attn.context", LayerKind.GEMM, 1600), ("attn.out_proj", LayerKind.LINEAR, 2560)]
    assert net.weights == sum(p.numel() for p in model.parameters()) and net.meta["other_params"] == 0
    units = dict(zip((lay.name for lay in net), System(load_system("tpu-imac")).place(net)))
    assert (units["attn.in_proj"], units["attn.scores"], units["attn.out_proj"]) == ("imac", "digital", "imac")


def test_units_refuse_activation_products_and_move_every_token_row():
    from imcsim.arch.imac_unit import IMACUnit
    from imcsim.arch.imc import IMCUnit, imc_layer_cost
    from imcsim.config.imc import load_imc
    from imcsim.errors import ConfigError

    scores = Layer.gemm("scores", m=16, n=16, k=8, groups=2, dynamic=True)
    core = load_imc("isaac")
    assert "two activations" in IMCUnit(core).why_not(scores)
    assert "two activations" in IMACUnit(load_preset("sot-mram-imac")).why_not(scores)
    with pytest.raises(ConfigError, match="'scores': a product of two activations"):
        imc_layer_cost(scores, core)
    # 10 token rows of 64 -> 32 cross the IMAC boundary as 10 * 64 DAC words in and 10 * 32 ADC codes out.
    cfg = load_preset("sot-mram-imac")
    unit = IMACUnit(cfg)
    many = Layer.linear("fc", 64, 32, tokens=10)
    assert unit.input_bytes(many) == 10 * 64 * -(-cfg.dac.bits // 8)
    assert unit.output_bytes(many) == 10 * 32 * -(-cfg.adc.bits // 8)


@pytest.mark.scalesim
@pytest.mark.parametrize("gemm", [False, True])
def test_token_and_head_layers_parse_in_scalesim_as_their_products(tmp_path, gemm):
    import subprocess

    from imcsim.workload.network import Network
    from imcsim.workload.scalesim_csv import write_topology
    from scalesim_ref import scalesim_python

    exe = scalesim_python()
    if exe is None:
        pytest.skip("no SCALE-Sim environment (.venv-scalesim, or set IMCSIM_SCALESIM_PYTHON)")
    parser = ("import sys\nfrom scalesim.topology_utils import topologies\nt = topologies()\n"
              "t.load_arrays(sys.argv[1], mnk_inputs=sys.argv[2] == '1')\n"
              "for m, n, k in t.get_transformed_mnk_dimensions():\n    print(m // n, n, k)\n")
    net = Network("tokens", (Layer.linear("tok", 12, 5, tokens=7),
                             Layer.gemm("heads", m=6, n=6, k=4, groups=2, dynamic=True)))
    path = tmp_path / "tokens.csv"
    write_topology(net, path, gemm=gemm)
    out = subprocess.run([exe, "-c", parser, str(path), "1" if gemm else "0"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    # 7 token rows of a 12 -> 5 layer: M = 7, N = 5, K = 12; two heads of (6 x 4) @ (4 x 6), one row each.
    assert [tuple(int(v) for v in line.split()) for line in out.splitlines() if line.strip()] == [
        (7, 5, 12), (6, 6, 4), (6, 6, 4)]


def test_scaled_dot_product_attention_is_its_two_products():
    class Attend(nn.Module):
        def forward(self, x):                               # x (1, 12, 8) -> 2 heads of 4
            q = x.reshape(1, 12, 2, 4).transpose(1, 2)     # (1, 2, 12, 4)
            return F.scaled_dot_product_attention(q, q, q)

    net = from_torch(Attend(), (12, 8))
    # Per head: scores (12 x 4) @ (4 x 12) and context (12 x 12) @ (12 x 4), 576 MACs each, 2 heads.
    gemms = [(lay.name, lay.groups, lay.m, lay.k, lay.out_c, lay.macs) for lay in net if lay.kind == LayerKind.GEMM]
    assert gemms == [("scaled_dot_product_attention.scores", 2, 12, 4, 12, 1152),
                     ("scaled_dot_product_attention.context", 2, 12, 12, 4, 1152)]
    assert all(lay.dynamic for lay in net if lay.kind == LayerKind.GEMM)
