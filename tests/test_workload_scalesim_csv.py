"""SCALE-Sim topology files: reading both formats, writing, round trips, and every parser error."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imcsim.errors import TopologyError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network
from imcsim.workload.scalesim_csv import read_topology, write_topology
from scalesim_ref import scalesim_python

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def _write(tmp_path: Path, text: str, name: str = "topo.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _gemms(net: Network) -> list[tuple[int, int, int]]:
    """Every (M, N, K) product of a network, one per group: what a systolic array is asked to compute."""
    out = []
    for lay in net.compute_layers:
        g = lay.as_gemm()
        out.extend([(g.m, g.n, g.k)] * g.groups)
    return out


# ----- reading ------------------------------------------------------------------------------------------------------

def test_read_conv_format_scalesim_style(tmp_path):
    # SCALE-Sim's sample style: padded columns, trailing commas, a blank line, a tab, a '#' note after the comma.
    p = _write(tmp_path, CONV_HEADER + "\n"
               "Conv1     ,224   ,224  ,11  ,11  ,3   ,96  ,4   ,\n"
               "\tConv2, 27, 27, 5, 5, 96, 256, 1,#note\n"
               "Conv3, 15, 13, 3, 3, 256, 384, 2\n"
               "FC, 1, 1, 1, 1, 1024, 1000, 1,\n")
    net = read_topology(p)
    assert net.name == "topo" and [lay.name for lay in net.layers] == ["Conv1", "Conv2", "Conv3", "FC"]
    c1, c2, c3, fc = net.layers
    # SCALE-Sim's rule E = ceil((H - F + S) / S): ceil(217 / 4) = 55 (torch's floor rule would give 54)
    assert (c1.out_h, c1.out_w, c1.out_c, c1.stride_h, c1.stride_w, c1.pad_h) == (55, 55, 96, 4, 4, 0)
    assert (c2.out_h, c2.out_w) == (23, 23)
    assert (c3.out_h, c3.out_w) == (7, 6)  # ceil(14 / 2) = 7, ceil(12 / 2) = 6
    assert c1.macs == 55 * 55 * 11 * 11 * 3 * 96
    assert fc.kind == LayerKind.LINEAR and (fc.in_c, fc.out_c) == (1024, 1000) and fc.macs == 1_024_000
    assert c2.extra["row"] == 4  # physical row, the header is row 1


def test_read_depthwise_dp_row(tmp_path):
    # SCALE-Sim runs a 'DP' row as Channels single-channel layers of Num Filter filters each.
    net = read_topology(_write(tmp_path, CONV_HEADER + "Conv2_DP, 114, 114, 3, 3, 32, 2, 2,\n"))
    (lay,) = net.layers
    # ceil((114 - 3 + 2) / 2) = 57 per dimension
    assert lay.groups == 32 and lay.in_c == 32 and lay.out_c == 64 and (lay.out_h, lay.out_w) == (57, 57)
    assert _gemms(net) == [(57 * 57, 2, 9)] * 32


def test_read_gemm_format_with_sparsity_and_duplicates(tmp_path):
    p = _write(tmp_path, "Layer Name, M, N, K, Sparsity,\nGEMM_1, 3, 5, 16, 3:4,\nGEMM_1, 1, 5, 16, 1:4,\n")
    net = read_topology(p, gemm=True)
    a, b = net.layers
    assert (a.name, a.kind, a.m, a.out_c, a.k, a.extra["sparsity"]) == ("GEMM_1", LayerKind.GEMM, 3, 5, 16, "3:4")
    assert (b.name, b.kind, b.in_c, b.out_c, b.extra["sparsity"]) == ("GEMM_1_row3", LayerKind.LINEAR, 16, 5, "1:4")
    assert _gemms(net) == [(3, 5, 16), (1, 5, 16)]


# ----- writing ------------------------------------------------------------------------------------------------------

def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines()


def test_write_conv_format_prepadded_dense_gemm_and_skips(tmp_path):
    net = Network("n", (
        Layer.conv2d("c1", (32, 30), 3, 8, 3, stride=2, padding=1),
        Layer("pool", LayerKind.POOL, 16, 15, 8, 8, 7, 8, 2, 2, 2, 2),
        Layer.linear("fc", 400, 120),
        Layer.gemm("mm", 6, 7, 8),
    ))
    p = tmp_path / "out.csv"
    write_topology(net, p)
    assert _lines(p) == [CONV_HEADER.strip(),
                         "c1, 34, 32, 3, 3, 3, 8, 2,",  # pre-padded: 32 + 2 x 1, 30 + 2 x 1
                         "fc, 1, 1, 1, 1, 400, 120, 1,",
                         "mm, 6, 1, 1, 1, 8, 7, 1,"]
    back = read_topology(p)
    assert [lay.kind for lay in back.layers] == [LayerKind.CONV2D, LayerKind.LINEAR, LayerKind.CONV2D]
    # 34 - 3 + 2 = 33 -> ceil(33/2) = 17 rows in SCALE-Sim, where torch gives floor(31/2) + 1 = 16
    assert (back["c1"].out_h, back["c1"].out_w) == (17, 16)
    assert (net["c1"].out_h, net["c1"].out_w) == (16, 15)


def test_write_gemm_format(tmp_path):
    net = Network("n", (Layer.conv2d("c1", (32, 30), 3, 8, 3, stride=2, padding=1), Layer.linear("fc", 400, 120)))
    p = tmp_path / "g.csv"
    write_topology(net, p, gemm=True)
    assert _lines(p) == ["Layer Name, M, N, K,", "c1, 240, 8, 27,", "fc, 1, 120, 400,"]  # 16 x 15 torch outputs


def test_write_depthwise_and_grouped(tmp_path):
    net = Network("n", (
        Layer.conv2d("dw", (8, 8), 4, 4, 3, padding=1, groups=4),
        Layer.conv2d("dw2", (8, 8), 4, 8, 3, padding=1, groups=4),  # depth multiplier 2
        Layer.conv2d("grp", (8, 8), 4, 6, 1, groups=2),
        Layer.conv2d("notDP", (8, 8), 4, 6, 1),
    ))
    p = tmp_path / "dw.csv"
    write_topology(net, p)
    assert _lines(p)[1:] == ["dw_DP, 10, 10, 3, 3, 4, 1, 1,", "dw2_DP, 10, 10, 3, 3, 4, 2, 1,",
                             "grp_g0, 8, 8, 1, 1, 2, 3, 1,", "grp_g1, 8, 8, 1, 1, 2, 3, 1,",
                             "notDp, 8, 8, 1, 1, 4, 6, 1,"]
    assert _gemms(read_topology(p)) == _gemms(net)
    write_topology(net, p, gemm=True)
    assert _lines(p)[1:3] == ["dw_g0, 64, 1, 9,", "dw_g1, 64, 1, 9,"]
    assert _gemms(read_topology(p, gemm=True)) == _gemms(net)


def test_write_sparsity_column_round_trips(tmp_path):
    p = _write(tmp_path, "Layer Name, M, N, K, Sparsity,\nA, 3, 5, 16, 2:4,\nB, 4, 4, 4,\n")
    net = read_topology(p, gemm=True)
    out = tmp_path / "o.csv"
    write_topology(net, out, gemm=True)
    assert _lines(out) == ["Layer Name, M, N, K, Sparsity,", "A, 3, 5, 16, 2:4,", "B, 4, 4, 4, 1:1,"]


def test_write_refusals(tmp_path):
    nonsquare = Network("n", (Layer.conv2d("c", (9, 9), 1, 1, 3, stride=(2, 1)),))
    with pytest.raises(TopologyError, match=r"layer 'c': stride 2x1"):
        write_topology(nonsquare, tmp_path / "x.csv")
    write_topology(nonsquare, tmp_path / "x.csv", gemm=True)  # the GEMM format has no stride
    with pytest.raises(TopologyError, match="comma"):
        write_topology(Network("n", (Layer.linear("a,b", 2, 2),)), tmp_path / "y.csv")
    with pytest.raises(TopologyError, match="no conv2d, linear or gemm"):
        write_topology(Network("n", (Layer("p", LayerKind.POOL, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2),)), tmp_path / "z.csv")
    with pytest.raises(TopologyError, match="does not exist"):
        write_topology(nonsquare, tmp_path / "missing" / "x.csv", gemm=True)


def test_write_is_atomic_and_replaces(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("old")
    write_topology(Network("n", (Layer.linear("fc", 4, 2),)), p, gemm=True)
    assert p.read_text().startswith("Layer Name")
    assert sorted(os.listdir(tmp_path)) == ["t.csv"]  # no temporary file left behind


# ----- round trips --------------------------------------------------------------------------------------------------

def test_zoo_round_trip_gemm_format(tmp_path):
    from imcsim.workload.zoo import load_network

    for name in ("lenet5", "resnet18", "mobilenetv1"):
        net = load_network(name)
        p = tmp_path / f"{name}.csv"
        write_topology(net, p, gemm=True)
        assert _gemms(read_topology(p, gemm=True)) == _gemms(net)


def _scalesim_m(lay: Layer) -> int:
    """M that SCALE-Sim computes from the pre-padded size: ceil((H + 2P - F + S) / S) per dimension."""
    eh = math.ceil((lay.padded_in_h - lay.kernel_h + lay.stride_h) / lay.stride_h)
    ew = math.ceil((lay.padded_in_w - lay.kernel_w + lay.stride_w) / lay.stride_w)
    return eh * ew


_sizes = st.integers(1, 6)


@st.composite
def _layers(draw):
    kind = draw(st.sampled_from(["conv", "dw", "grouped", "linear", "gemm"]))
    name = f"L{draw(st.integers(0, 10**6))}"
    if kind == "linear":
        return Layer.linear(name, draw(st.integers(1, 300)), draw(st.integers(1, 300)), bias=draw(st.booleans()))
    if kind == "gemm":
        return Layer.gemm(name, draw(st.integers(2, 300)), draw(st.integers(1, 300)), draw(st.integers(1, 300)))
    k, s, p = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h, w = draw(st.integers(k, 20)), draw(st.integers(k, 20))
    g = 1 if kind == "conv" else draw(st.integers(2, 4))
    cin = g * draw(_sizes)
    cout = cin * draw(st.integers(1, 2)) if kind == "dw" else g * draw(_sizes)
    if kind == "dw":
        g = cin
    return Layer.conv2d(name, (h, w), cin, cout, k, stride=s, padding=p, groups=g)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=st.lists(_layers(), min_size=1, max_size=6, unique_by=lambda lay: lay.name))
def test_round_trip_random_layers(tmp_path, layers):
    net = Network("rand", tuple(layers))
    p = tmp_path / "rt.csv"
    # GEMM format: exactly the same products.
    write_topology(net, p, gemm=True)
    assert _gemms(read_topology(p, gemm=True)) == _gemms(net)
    # Conv format: the same N and K; M by SCALE-Sim's ceil rule on the pre-padded input.
    write_topology(net, p)
    expected = []
    for lay in net.layers:
        g = lay.as_gemm()
        m = _scalesim_m(lay) if lay.kind == LayerKind.CONV2D else g.m
        expected.extend([(m, g.n, g.k)] * g.groups)
    assert _gemms(read_topology(p)) == expected


# ----- errors -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, gemm, expected", [
    ("A, 8, 8, 3, 3, 4, 16,\n", False, "row 2: expected 8 columns"),
    ("A, 8, 8, 3, 3, 4, 16, 1, 1:1, 7,\n", False, "row 2: expected 8 columns"),
    ("A, 8, eight, 3, 3, 4, 16, 1,\n", False, "row 2, column 'IFMAP Width': 'eight' is not an integer"),
    ("A, 8, 8, 3, 3, 4, 16, 1.5,\n", False, "row 2, column 'Strides': '1.5' is not an integer"),
    ("A, 8, 8, 3, 3, 0, 16, 1,\n", False, "row 2, column 'Channels': '0' must be a positive integer"),
    ("A, 8, 8, 3, 3, 4, -16, 1,\n", False, "row 2, column 'Num Filter': '-16' must be a positive integer"),
    ("A, 8, 8, 9, 3, 4, 16, 1,\n", False, "row 2, column 'Filter Height': 9 is larger than IFMAP Height 8"),
    ("A, 8, 2, 3, 3, 4, 16, 1,\n", False, "row 2, column 'Filter Width': 3 is larger than IFMAP Width 2"),
    ("A, 8, 8, 3, 3, 4, 16, 1, 5:4,\n", False, "row 2, column 'Sparsity': '5:4' must be N:M"),
    ("\nA, 8, 8, 3, 3, 4, 16, 1,\n, 8, 8, 3, 3, 4, 16, 1,\n", False, "row 4, column 'Layer name': empty layer name"),
    ("A, 4, 5,\n", True, "row 2: expected 4 columns"),
    ("A, 4, 5, x,\n", True, "row 2, column 'K': 'x' is not an integer"),
    ("A, 0, 5, 6,\n", True, "row 2, column 'M': '0' must be a positive integer"),
    ("A, 4, 5, 6, half,\n", True, "row 2, column 'Sparsity': 'half' must be N:M"),
])
def test_parser_errors_name_row_column_value(tmp_path, body, gemm, expected):
    header = "Layer Name, M, N, K,\n" if gemm else CONV_HEADER
    p = _write(tmp_path, header + body)
    with pytest.raises(TopologyError) as exc:
        read_topology(p, gemm=gemm)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and expected in msg


def test_file_level_errors(tmp_path):
    with pytest.raises(TopologyError, match="no such topology file"):
        read_topology(tmp_path / "absent.csv")
    with pytest.raises(TopologyError, match="row 1: empty file"):
        read_topology(_write(tmp_path, ""))
    with pytest.raises(TopologyError, match="no layer rows"):
        read_topology(_write(tmp_path, CONV_HEADER + "\n\n"))
    with pytest.raises(TopologyError, match="row 1: .* looks like a layer row"):
        read_topology(_write(tmp_path, "Conv1, 8, 8, 3, 3, 4, 16, 1,\n"))
    with pytest.raises(TopologyError, match="cannot read"):
        read_topology(tmp_path)  # a directory


# ----- against SCALE-Sim's own parser -------------------------------------------------------------------------------

_PARSER = r"""
import sys
from scalesim.topology_utils import topologies
t = topologies()
t.load_arrays(sys.argv[1], mnk_inputs=sys.argv[2] == "1")
for m, n, k in t.get_transformed_mnk_dimensions():
    # get_layer_num_ofmap_px counts ofmap pixels times filters; divide back to SCALE-Sim's M
    print(m // n, n, k)
"""


@pytest.mark.scalesim
@pytest.mark.parametrize("gemm", [False, True])
def test_written_files_parse_identically_in_scalesim(tmp_path, gemm):
    exe = scalesim_python()
    if exe is None:
        pytest.skip("no SCALE-Sim environment (.venv-scalesim, or set IMCSIM_SCALESIM_PYTHON)")
    from imcsim.workload.zoo import load_network

    net = Network("mix", (*load_network("mobilenetv1").compute_layers[:6], *load_network("lenet5").compute_layers,
                          Layer.conv2d("odd", (9, 7), 3, 5, (3, 2), stride=2, padding=1),
                          Layer.conv2d("grp", (6, 6), 4, 6, 3, groups=2), Layer.gemm("mm", 5, 6, 7)))
    p = tmp_path / "mix.csv"
    write_topology(net, p, gemm=gemm)
    out = subprocess.run([exe, "-c", _PARSER, str(p), "1" if gemm else "0"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    theirs = [tuple(int(v) for v in line.split()) for line in out.splitlines() if line.strip()]
    assert theirs == _gemms(read_topology(p, gemm=gemm))
