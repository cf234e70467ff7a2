"""The pipeline model against an event-driven reference simulator, duplication policies, activation memory, and the
ResNet-32 sanity figure (Dazzi et al., Front. Comput. Neurosci. 2021; arXiv 1906.03474)."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.arch.cost import LayerCost
from imcsim.arch.pipeline import plan_copies, run_pipeline, schedule
from imcsim.config.imc import IMCConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network


# ----- the reference: an event-driven simulation, pixel by pixel --------------------------------------------------

def _needs(layer: Layer, prod: Layer, i: int, j: int):
    """The producer pixel (row-major index) output pixel (i, j) of ``layer`` waits for, or 'all'."""
    if layer.kind == LayerKind.CONV2D or layer.kind == LayerKind.POOL:
        k, s, p = (layer.kernel_h, layer.kernel_w), (layer.stride_h, layer.stride_w), (layer.pad_h, layer.pad_w)
    elif layer.kind == LayerKind.ELEMENTWISE:
        k, s, p = (1, 1), (1, 1), (0, 0)
    else:
        return "all"
    r = min(s[0] * i + k[0] - 1 - p[0], prod.out_h - 1)
    c = min(s[1] * j + k[1] - 1 - p[1], prod.out_w - 1)
    return max(r, 0) * prod.out_w + max(c, 0)


def reference_finish_times(net: Network, times: list[float], copies: list[int], batch: int = 1
                           ) -> list[list[float]]:
    """Each pixel finish time, by simulating events in time order: a pixel starts when its last prerequisite
    (receptive-field pixel of each producer, all of a producer's pixels for a dense layer, and the previous pixel on
    its own copy) has finished, and finishes ``t`` later. ``batch`` images stream one after another: image b's pixel
    q waits for image b's producer pixels, and for pixel q - copies of image b or, for q < copies, the last pixel on
    copy q mod copies of image b - 1. Returns per layer the finish times of all images, image after image."""
    layers = net.layers
    index = {lay.name: n for n, lay in enumerate(layers)}
    npix = [lay.out_h * lay.out_w for lay in layers]
    waiting = {}            # (b, l, q) -> prerequisites not yet finished
    after_pixel = {}        # (b, l, q) -> dependents
    after_layer = {}        # (b, l) -> dependents waiting for all of image b on l
    for b in range(batch):
        for li, lay in enumerate(layers):
            prods = [index[n] for n in lay.extra["inputs"]]
            d = copies[li]
            for q in range(npix[li]):
                i, j = divmod(q, lay.out_w)
                count = 0
                for pi in prods:
                    need = _needs(lay, layers[pi], i, j)
                    if need == "all":
                        after_layer.setdefault((b, pi), []).append((b, li, q))
                    else:
                        after_pixel.setdefault((b, pi, need), []).append((b, li, q))
                    count += 1
                if q - d >= 0:
                    after_pixel.setdefault((b, li, q - d), []).append((b, li, q))
                    count += 1
                elif b > 0:  # the last pixel of the previous image on the same copy
                    prev = max(x for x in range(npix[li]) if x % d == q % d)
                    after_pixel.setdefault((b - 1, li, prev), []).append((b, li, q))
                    count += 1
                waiting[(b, li, q)] = count
    events = [(times[li], b, li, q) for (b, li, q), c in waiting.items() if c == 0]
    heapq.heapify(events)
    finish = [[math.nan] * (n * batch) for n in npix]
    done = {}
    while events:
        now, b, li, q = heapq.heappop(events)
        finish[li][b * npix[li] + q] = now
        done[(b, li)] = done.get((b, li), 0) + 1
        ready = list(after_pixel.get((b, li, q), []))
        if done[(b, li)] == npix[li]:
            ready += after_layer.get((b, li), [])
        for key in ready:
            waiting[key] -= 1
            if waiting[key] == 0:
                heapq.heappush(events, (now + times[key[1]], *key))
    return finish


# ----- random small networks with residual connections --------------------------------------------------------------

@st.composite
def networks(draw):
    h, w, c = draw(st.integers(2, 7)), draw(st.integers(2, 7)), draw(st.integers(1, 4))
    layers: list[Layer] = []

    def add(layer: Layer, inputs: list[str]) -> None:
        layer.extra["inputs"] = inputs
        layers.append(layer)

    prev: list[str] = []
    shape = (h, w, c)
    for n in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "relu", "add"]))
        ih, iw, ic = shape
        if kind == "add":
            same = [lay for lay in layers if (lay.out_h, lay.out_w, lay.out_c) == shape and lay.name != prev[0]] \
                if prev else []
            if not same:
                kind = "relu"
            else:
                other = draw(st.sampled_from(same))
                lay = Layer(f"add{n}", LayerKind.ELEMENTWISE, ih, iw, ic, ih, iw, ic, op="add")
                lay.extra["operands"] = 2
                add(lay, [prev[0], other.name])
                prev = [lay.name]
                continue
        if kind == "relu":
            lay = Layer(f"relu{n}", LayerKind.ELEMENTWISE, ih, iw, ic, ih, iw, ic, op="relu")
        else:
            k = draw(st.integers(1, min(3, ih, iw)))
            s = draw(st.integers(1, 2))
            p = draw(st.integers(0, k // 2))
            if kind == "conv":
                lay = Layer.conv2d(f"conv{n}", (ih, iw), ic, draw(st.integers(1, 4)), k, s, p)
            else:
                oh, ow = (ih + 2 * p - k) // s + 1, (iw + 2 * p - k) // s + 1
                lay = Layer(f"pool{n}", LayerKind.POOL, ih, iw, ic, oh, ow, ic, k, k, s, s, p, p, op="MaxPool2d")
        add(lay, prev)
        prev = [lay.name]
        shape = (lay.out_h, lay.out_w, lay.out_c)
    if draw(st.booleans()):
        add(Layer.linear("fc", shape[0] * shape[1] * shape[2], 3), prev)
    net = Network("random", tuple(layers), (c, h, w))
    times = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.25, 3.0]), min_size=len(layers), max_size=len(layers)))
    copies = draw(st.lists(st.integers(1, 4), min_size=len(layers), max_size=len(layers)))
    return net, times, copies


def _costs(net: Network, times: list[float]) -> list[LayerCost]:
    return [LayerCost(lay.name, "imc", 0.0, 0.0, metrics={"pixel_time_s": t, "pixels": lay.out_h * lay.out_w})
            for lay, t in zip(net.layers, times)]


@settings(max_examples=150, deadline=None)
@given(networks())
def test_pixel_pipeline_equals_event_driven_reference(case):
    net, times, copies = case
    start, finish, stage, fins = schedule(net, _costs(net, times), copies, "pixel")
    ref = reference_finish_times(net, times, copies)
    for li in range(len(net.layers)):
        np.testing.assert_allclose(fins[li], ref[li], rtol=0, atol=1e-12)
        assert finish[li] == pytest.approx(max(ref[li]))
        assert start[li] == pytest.approx(min(f - times[li] for f in ref[li]))
        assert stage[li] == pytest.approx(math.ceil(len(ref[li]) / copies[li]) * times[li])


@settings(max_examples=80, deadline=None)
@given(networks(), st.integers(2, 4))
def test_pixel_pipeline_batch_equals_event_driven_reference(case, batch):
    """N images streamed through the pipeline: every pixel of every image finishes when the event-driven reference
    (the canonical rule extended to N images) says."""
    net, times, copies = case
    start, finish, stage, fins = schedule(net, _costs(net, times), copies, "pixel", batch=batch)
    ref = reference_finish_times(net, times, copies, batch)
    for li in range(len(net.layers)):
        np.testing.assert_allclose(fins[li], ref[li], rtol=0, atol=1e-9)
        assert finish[li] == pytest.approx(max(ref[li]))


def test_pixel_batch_latency_is_first_image_plus_bottleneck_periods():
    # A chain conv 3x3 (pad 1) on 4x4, t = 1 (16 pixels), then a 1x1 conv, t = 2 (16 pixels, the bottleneck:
    # 32 per image). By hand: conv1 reads the network input (present at 0), pixel q finishes at q + 1; conv2's pixel
    # q needs conv1's pixel q only (1x1), so it starts at 1 and runs 16 pixels back to back (conv1 delivers one per
    # 1 s, conv2 takes 2 s each): 1 + 32 = 33. Image b's conv1 pixels finish by 16 (b + 1), before conv2 is free at
    # 33 + 32 (b - 1), so images follow every 32 s: batch of 4 = 33 + 3 x 32 = 129 = first-image latency +
    # (N - 1) / throughput.
    c1 = Layer.conv2d("c1", (4, 4), 1, 1, 3, 1, 1)
    c2 = Layer.conv2d("c2", (4, 4), 1, 1, 1)
    c1.extra["inputs"], c2.extra["inputs"] = [], ["c1"]
    net = Network("chain", (c1, c2), (1, 4, 4))
    _, finish1, stage, _ = schedule(net, _costs(net, [1.0, 2.0]), [1, 1], "pixel")
    _, finish4, _, _ = schedule(net, _costs(net, [1.0, 2.0]), [1, 1], "pixel", batch=4)
    assert finish1[-1] == 33.0 and stage.max() == 32.0
    assert finish4[-1] == 33.0 + 3 * 32.0


def test_run_pipeline_batch_reports_latency_per_batch_and_throughput():
    from imcsim.config.presets import load_preset
    from imcsim.workload.zoo import load_network

    net, cfg = load_network("lenet5"), load_preset("isaac")
    for flow in ("layer", "pixel"):
        one, eight = run_pipeline(net, cfg, flow), run_pipeline(net, cfg, flow, batch=8)
        assert eight.batch == 8 and eight.first_image_latency_s == pytest.approx(one.latency_s)
        assert eight.energy_j == pytest.approx(8 * one.energy_j)  # the same MVMs, eight times
        if flow == "layer":  # each layer takes its 8 images in sequence: the sum of 8 x the stage times
            assert eight.latency_s == pytest.approx(8 * one.latency_s)
            assert eight.throughput_ips == pytest.approx(8 / eight.latency_s)
        else:  # streamed: first image, then one bottleneck stage per further image (LeNet-5 is a chain)
            assert eight.throughput_ips == pytest.approx(one.throughput_ips)
            assert eight.latency_s == pytest.approx(one.latency_s + 7 / one.throughput_ips, rel=1e-9)
    with pytest.raises(ConfigError, match="batch = 0"):
        run_pipeline(net, cfg, "pixel", batch=0)


@settings(max_examples=60, deadline=None)
@given(networks())
def test_layer_dataflow_sums_stage_times(case):
    net, times, copies = case
    start, finish, stage, _ = schedule(net, _costs(net, times), copies, "layer")
    expected = sum(math.ceil(lay.out_h * lay.out_w / d) * t for lay, t, d in zip(net.layers, times, copies))
    assert finish[-1] == pytest.approx(expected)
    assert start[0] == 0.0


def test_pipeline_on_a_hand_example():
    # conv 3x3 stride 1 pad 1 on 4x4 (t = 1), then a 1x1 conv (t = 2), one copy each. Pixel (0, 0) of the second
    # layer waits for pixel (0, 0) of the first; pixel (0, 0) of the first waits for input pixel (1, 1): present.
    # First layer finishes pixel q at q + 1 (16 pixels -> 16); second: pixel q at max(q + 1, f2[q - 1]) + 2
    # = 3, 5, 7, ..., 33. Latency 33; throughput 1 / max(16 * 1, 16 * 2) = 1/32.
    a = Layer.conv2d("a", (4, 4), 1, 2, 3, 1, 1)
    b = Layer.conv2d("b", (4, 4), 2, 2, 1)
    net = Network("hand", (a, b))
    _, finish, stage, fins = schedule(net, _costs(net, [1.0, 2.0]), [1, 1], "pixel")
    assert list(fins[0]) == [float(q + 1) for q in range(16)]
    assert list(fins[1]) == [float(3 + 2 * q) for q in range(16)]
    assert finish[-1] == 33.0 and stage.max() == 32.0


# ----- duplication --------------------------------------------------------------------------------------------------

def test_balanced_copies_follow_output_pixels_within_budget():
    arrays, pixels, times = [1, 2, 3, 0], [1024, 256, 64, 64], [1.0, 1.0, 1.0, 0.1]
    # budget 16 + 8 + 3 = 27: quantum q = 64 gives copies 16, 4, 1 -> 16 + 8 + 3 = 27 arrays; q = 63 needs
    # 17 + 2*5 + 3*2 = 33 > 27.
    assert list(plan_copies("balanced", arrays, pixels, times, 27)) == [16, 4, 1, 1]
    # budget 26: q = 68 needs ceil(1024/68) = 16 -> 27 arrays; q = 69 gives 15 + 2*4 + 3 = 26.
    assert list(plan_copies("balanced", arrays, pixels, times, 26)) == [15, 4, 1, 1]
    assert list(plan_copies("balanced", arrays, pixels, times, 5)) == [1, 1, 1, 1]  # 6 arrays do not fit in 5
    assert list(plan_copies("none", arrays, pixels, times, 10**6)) == [1, 1, 1, 1]


def test_budget_gives_next_copy_to_slowest_stage():
    # stage times P t: 8, 6, 3 (arrays 1, 2, 1). Budget 6: +1 to stage 0 (8 -> 4, used 5), slowest now stage 1
    # (6), its 2 arrays do not fit (5 + 2 > 6): stop.
    assert list(plan_copies("budget:6", [1, 2, 1], [8, 6, 3], [1.0, 1.0, 1.0], 100)) == [2, 1, 1]
    # budget 7: then stage 1 gets a copy (3), slowest is stage 0 (4): +1 -> 8 arrays > 7: stop.
    assert list(plan_copies("budget:7", [1, 2, 1], [8, 6, 3], [1.0, 1.0, 1.0], 100)) == [2, 2, 1]


@pytest.mark.parametrize("bad", ["some", "budget:", "budget:0", "budget:x", ""])
def test_bad_duplication_names_the_value(bad):
    with pytest.raises(ConfigError, match="duplication"):
        plan_copies(bad, [1], [1], [1.0], 1)


# ----- ResNet-32 (Dazzi et al. 2021, arXiv 1906.03474) --------------------------------------------------------------

def resnet32() -> Network:
    """ResNet-32 for CIFAR-10 (He et al. 2016): a 3x3 conv to 16 channels, 3 stages of 5 basic blocks at 16/32/64
    channels on 32x32/16x16/8x8, parameter-free (option A) shortcuts, global average pool, a 64 -> 10 dense layer."""
    layers: list[Layer] = []

    def add(lay: Layer, inputs: list[str]) -> str:
        lay.extra["inputs"] = inputs
        layers.append(lay)
        return lay.name

    x = add(Layer.conv2d("conv1", (32, 32), 3, 16, 3, 1, 1), [])
    x = add(Layer("relu1", LayerKind.ELEMENTWISE, 32, 32, 16, 32, 32, 16), [x])
    hw, c = 32, 16
    for stage, width in enumerate((16, 32, 64)):
        for block in range(5):
            stride = 2 if stage > 0 and block == 0 else 1
            out = hw // stride
            a = add(Layer.conv2d(f"s{stage}b{block}c1", (hw, hw), c, width, 3, stride, 1), [x])
            a = add(Layer(f"s{stage}b{block}r1", LayerKind.ELEMENTWISE, out, out, width, out, out, width), [a])
            a = add(Layer.conv2d(f"s{stage}b{block}c2", (out, out), width, width, 3, 1, 1), [a])
            if stride == 1:
                short = x
            else:  # option A: subsample and zero-pad channels (no weights)
                short = add(Layer(f"s{stage}b{block}sc", LayerKind.POOL, hw, hw, c, out, out, width, 1, 1, 2, 2), [x])
            s = Layer(f"s{stage}b{block}add", LayerKind.ELEMENTWISE, out, out, width, out, out, width)
            s.extra["operands"] = 2
            s = add(s, [a, short])
            x = add(Layer(f"s{stage}b{block}r2", LayerKind.ELEMENTWISE, out, out, width, out, out, width), [s])
            hw, c = out, width
    x = add(Layer("pool", LayerKind.POOL, 8, 8, 64, 1, 1, 64, 8, 8, 8, 8), [x])
    add(Layer.linear("fc", 64, 10), [x])
    return Network("resnet32", tuple(layers), (3, 32, 32))


# 256 x 256 arrays, one weight per cell (offset encoding, 8-bit cells and weights), one 100 ns read per MVM (8-bit
# DACs), post-processing fast enough not to count: the assumptions of the sanity figure.
_SANITY = IMCConfig(rows=256, cols=256, cell_bits=8, weight_bits=8, input_bits=8, activation_bits=8,
                    dac={"bits": 8}, cols_per_adc=1, crossbar_read_time_s=100e-9, post_ops_per_s=1e30,
                    chip_arrays=282)


def test_resnet32_sanity_figure():
    net = resnet32()
    plain = run_pipeline(net, _SANITY, "pixel", "none")
    # arrays: conv1 1 + stage 1: 10 x 1 + stage 2: 1 (144 rows) + 9 x 2 (288 rows) + stage 3: 2 + 9 x 3 (576 rows)
    # + fc 1 = 60; bottleneck 32 x 32 = 1,024 MVMs of 100 ns -> 9,766 images/s.
    assert plain.cores == 60
    assert plain.throughput_ips == pytest.approx(1 / (1024 * 100e-9), rel=1e-9)
    assert round(plain.throughput_ips) == 9766
    dup = run_pipeline(net, _SANITY, "pixel", "balanced")
    copies = {s.name: s.copies for s in dup.stages if s.cost.metrics["arrays"]}
    assert copies["conv1"] == copies["s0b4c2"] == 16 and copies["s1b0c1"] == 4 and copies["s2b4c2"] == 1
    assert dup.cores == 282  # 11 x 16 + 19 x 4 + 29 + 1
    assert dup.throughput_ips == pytest.approx(1 / (64 * 100e-9), rel=1e-9)  # about 156,000 images/s


def test_activation_memory_per_dataflow():
    # conv 3x3 on 8x8x4 (pad 1) -> 8x8x6, then a 2x2 pool: line buffers ((3-1) 8 + 3) 4 = 76 and ((2-1) 8 + 2) 6
    # = 60 values; whole maps: max(8*8*4 + 8*8*6, 8*8*6 + 4*4*6) = 640 values. 16-bit activations: 2 bytes each.
    conv = Layer.conv2d("conv", (8, 8), 4, 6, 3, 1, 1)
    pool = Layer("pool", LayerKind.POOL, 8, 8, 6, 4, 4, 6, 2, 2, 2, 2)
    net = Network("mem", (conv, pool))
    cfg = IMCConfig()
    assert run_pipeline(net, cfg, "pixel").activation_memory_bytes == (76 + 60) * 2
    assert run_pipeline(net, cfg, "layer").activation_memory_bytes == 640 * 2


def test_zoo_resnet18_residual_waits_for_both_branches():
    from imcsim.workload.zoo import load_network

    net = load_network("resnet18")
    assert net["add"].extra["inputs"] == ["layer1.0.bn2", "maxpool"]
    res = run_pipeline(net, IMCConfig(), "pixel")
    by = {s.name: s for s in res.stages}
    assert by["add"].start_s >= by["layer1.0.bn2"].start_s
    assert res.latency_s <= run_pipeline(net, IMCConfig(), "layer").latency_s
