"""IMC cores inside systems: the tpu-imc and all-imc presets, their comparisons against hand sums of ISAAC's published
component figures and the transfers, and ``imcsim map`` on a system (placement, then the pipeline).

Hand figures (ISAAC, Shafiee et al., ISCA 2016, Table 6: 16 mW and 0.0096 mm^2 for 8 ADCs), used below:

* 128 x 128 crossbars, 2-bit cells, 16-bit weights with offset encoding -> 8 columns (slices) per weight; 16-bit
  inputs through 1-bit DACs -> 16 crossbar reads per MVM; one 8-bit ADC per 128 columns at 1.28 GS/s
  (0.78125 ns, 2 mW -> 1.5625 pJ per conversion); 100 ns per crossbar read, so a read lasts
  max(100 ns, columns converted x 0.78125 ns).
* Crossbar: 0.3 mW per 128 x 128 crossbar (2.4 mW for 8) over 100 ns -> 30 pJ / 16,384 cells = 1.8311 fJ per used
  cell per read. DAC: 4 mW for 1,024 DACs over 100 ns -> 0.390625 pJ per driven row per read. Shift-add: 0.2 mW
  for 8 ADCs at 1.28 GS/s -> 0.01953 pJ per conversion (and per partial-sum add).
* Post-processing: 0.1 pJ and 1 / 1.536e11 s per element operation (Horowitz 32-bit add; 128 lanes at 1.2 GHz).
  Activation memory: 2 bytes per value, 2.5 pJ per byte.
* Interface: 8e9 bytes/s and 2.5 pJ per byte; the edge TPU's words are 1 byte, ISAAC's 2.
"""

from __future__ import annotations

import json
import math

import pytest

from imcsim.arch import cpu as cpu_model
from imcsim.arch import systolic as systolic_model
from imcsim.arch.pipeline import run_pipeline
from imcsim.arch.system import System
from imcsim.arch.system_pipeline import run_system_pipeline
from imcsim.cli.app import main
from imcsim.config.imc import load_imc
from imcsim.config.presets import list_presets, load_preset
from imcsim.config.system import SystemConfig, load_system
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network
from imcsim.workload.zoo import load_network

from pipeline_json_ref import recompute_pipeline

E_CELL = 0.3e-3 * 100e-9 / (128 * 128)     # J per used cell per read
E_DAC = 4e-3 * 100e-9 / 1024               # J per driven row per read
E_ADC = 2e-3 / 1.28e9                      # J per conversion
E_SA = 0.2e-3 / (8 * 1.28e9)               # J per shift-add
E_POST, T_POST = 0.1e-12, 1 / 1.536e11     # J and s per element operation
E_BUF = 2 * 2.5e-12                        # J per 16-bit value read or written
T_READ = 100e-9                            # s per crossbar read (every layer below converts <= 128 columns per ADC)
BUS, E_BUS = 8e9, 2.5e-12                  # bytes/s, J/byte


def tiny() -> Network:
    """conv 3x3 (1 -> 4 channels, 8x8 -> 6x6), ReLU, flatten (144), dense 144 -> 32, ReLU, dense 32 -> 10."""
    return Network("tiny", (
        Layer.conv2d("conv1", (8, 8), 1, 4, 3),
        Layer("act1", LayerKind.ELEMENTWISE, 6, 6, 4, 6, 6, 4),
        Layer("flatten", LayerKind.RESHAPE, 6, 6, 4, 1, 1, 144),
        Layer.linear("fc1", 144, 32),
        Layer("act2", LayerKind.ELEMENTWISE, 1, 1, 32, 1, 1, 32),
        Layer.linear("fc2", 32, 10),
    ))


# Per-layer IMC costs by hand: (latency s, energy J).
# conv1: K = 9 rows, 4 x 8 = 32 columns -> 1 array; 36 pixels x 16 reads of 100 ns (32 columns x 0.78 ns = 25 ns
# of conversions fit in a read); per read 288 cells, 9 rows driven, 32 conversions.
CONV1 = (36 * 16 * T_READ,
         36 * 16 * (288 * E_CELL + 9 * E_DAC + 32 * (E_ADC + E_SA)) + 36 * (9 + 4) * E_BUF)
# act1: 36 pixels x 4 channels = 144 operations; 144 values in and 144 out.
ACT1 = (144 * T_POST, 144 * E_POST + 288 * E_BUF)
# fc1: K = 144 -> 2 row tiles; 32 x 8 = 256 columns -> 2 column tiles: 4 arrays. One pixel: 16 reads of 100 ns (the
# busiest ADC converts 128 columns = 100 ns), then 32 partial-sum adds of the second row tile. Per read:
# 144 x 256 cells, 144 rows x 2 column tiles driven, 256 columns x 2 row tiles converted.
FC1 = (16 * T_READ + 32 * T_POST,
       16 * (144 * 256 * E_CELL + 288 * E_DAC + 512 * (E_ADC + E_SA)) + 32 * E_SA + (144 + 32) * E_BUF)
ACT2 = (32 * T_POST, 32 * E_POST + 64 * E_BUF)
# fc2: K = 32, 10 x 8 = 80 columns -> 1 array; 80 conversions = 62.5 ns fit in a read.
FC2 = (16 * T_READ, 16 * (32 * 80 * E_CELL + 32 * E_DAC + 80 * (E_ADC + E_SA)) + (32 + 10) * E_BUF)


def _by_name(cost):
    return {c.name: c for c in cost.layers}


def test_presets_are_listed_and_name_their_units():
    listed = {p.name: p.kind for p in list_presets()}
    assert listed["tpu-imc"] == "system" and listed["all-imc"] == "system"
    tpu_imc, all_imc = load_system("tpu-imc"), load_system("all-imc")
    assert tpu_imc.units == ("systolic", "imc") and tpu_imc.placement.policy == "dense-to-analog"
    assert tpu_imc.systolic == load_preset("edge-tpu") and tpu_imc.unit_config("imc") == load_imc("isaac")
    assert all_imc.units == ("cpu", "imc") and all_imc.host == "cpu" and all_imc.placement.policy == "all-analog"
    assert all_imc.cpu == load_preset("cortex-a76") and all_imc.unit_config("imc") == load_imc("isaac")


def test_tpu_imc_equals_the_hand_sum_of_tpu_layers_imc_layers_and_transfers():
    net = tiny()
    cmp = System(load_system("tpu-imc")).compare(net)
    rows = _by_name(cmp.hetero)
    assert [c.unit for c in cmp.hetero.layers] == ["systolic"] * 3 + ["transfer"] + ["imc"] * 3 + ["transfer"]
    tpu = load_preset("edge-tpu")
    tpu_rows = [systolic_model.simulate_layer(net[n], tpu) for n in ("conv1", "act1", "flatten")]
    # flatten -> fc1: 144 int8 words; fc2 -> output: 10 ISAAC words of 2 bytes
    transfers = [(144 / BUS, 144 * E_BUS), (20 / BUS, 20 * E_BUS)]
    imc = [FC1, ACT2, FC2]
    for name, (t, e) in zip(("fc1", "act2", "fc2"), imc):
        assert rows[name].latency_s == pytest.approx(t, rel=1e-9)
        assert rows[name].energy_j == pytest.approx(e, rel=1e-3)
    latency = sum(r.latency_s for r in tpu_rows) + sum(t for t, _ in imc + transfers)
    energy = sum(r.energy_j for r in tpu_rows) + sum(e for _, e in imc + transfers)
    assert cmp.hetero.latency_s == pytest.approx(latency, rel=1e-9)
    assert cmp.hetero.energy_j == pytest.approx(energy, rel=1e-3)
    base = systolic_model.simulate_network(net, tpu)
    assert cmp.baseline.latency_s == pytest.approx(base.latency_s, rel=1e-12)
    assert cmp.speedup == pytest.approx(base.latency_s / latency, rel=1e-9)


def test_all_imc_runs_every_layer_on_the_imc_cores_and_equals_the_hand_sum():
    net = tiny()
    cmp = System(load_system("all-imc")).compare(net)
    assert [c.unit for c in cmp.hetero.layers] == ["transfer"] + ["imc"] * 6 + ["transfer"]
    rows = _by_name(cmp.hetero)
    assert rows["flatten"].latency_s == 0 and rows["flatten"].energy_j == 0  # a reshape moves nothing
    imc = {"conv1": CONV1, "act1": ACT1, "fc1": FC1, "act2": ACT2, "fc2": FC2}
    for name, (t, e) in imc.items():
        assert rows[name].latency_s == pytest.approx(t, rel=1e-9), name
        assert rows[name].energy_j == pytest.approx(e, rel=1e-3), name
    # input -> conv1: 64 values at ISAAC's 2 bytes; fc2 -> output: 10 values at 2 bytes
    transfers = [(128 / BUS, 128 * E_BUS), (20 / BUS, 20 * E_BUS)]
    assert cmp.hetero.latency_s == pytest.approx(sum(t for t, _ in [*imc.values(), *transfers]), rel=1e-9)
    assert cmp.hetero.energy_j == pytest.approx(sum(e for _, e in [*imc.values(), *transfers]), rel=1e-3)
    # the baseline is the host alone: every layer on the Cortex-A76 cluster
    cpu_cfg = load_preset("cortex-a76")
    base = [cpu_model.simulate_layer(lay, cpu_cfg) for lay in net]
    assert cmp.baseline.latency_s == pytest.approx(sum(c.latency_s for c in base), rel=1e-12)
    assert cmp.baseline_area_m2 == pytest.approx(4 * 1.4e-6)  # 4 cores x 1.4 mm^2 (cortex-a76.yaml)
    # area: the CPU host, and 6 arrays (1 + 4 + 1), each 16,384 cells of 0.0002 mm^2 / (8 x 16,384), one ADC of
    # 0.0012 mm^2, 128 one-bit DACs of 0.00017 mm^2 / 1,024 and shift-add 0.00024 mm^2 / 8
    array = 0.0002e-6 / 8 + 0.0012e-6 + 128 * 0.00017e-6 / 1024 + 0.00024e-6 / 8
    assert cmp.area_by_unit_m2["cpu"] == pytest.approx(4 * 1.4e-6)
    assert cmp.area_by_unit_m2["imc"] == pytest.approx(6 * array, rel=1e-9)


def test_an_imc_unit_can_be_the_host_and_then_is_its_own_baseline():
    """The alternative all-imc rejected: the IMC unit alone runs every layer kind, so it can be the host; the
    comparison then has no transfers and is the system against itself."""
    net = load_network("lenet5")
    alone = System(SystemConfig.model_validate({"units": {"imc": "isaac"}, "placement": {"policy": "all-analog"}}))
    cmp = alone.compare(net)
    assert cmp.speedup == 1.0 and cmp.energy_saving == 0.0
    assert all(c.unit == "imc" for c in cmp.hetero.layers)
    with_host = System(load_system("all-imc")).run(net)
    assert [c for c in with_host.layers if c.unit != "transfer"] == list(cmp.hetero.layers)
    assert [c.name for c in with_host.layers if c.unit == "transfer"] == ["input->conv1", "fc3->output"]


@pytest.mark.parametrize("arch", ["tpu-imc", "all-imc", "tpu-imac"])
def test_map_layer_dataflow_without_copies_is_the_compare_run(arch):
    net = load_network("lenet5")
    system = System(load_system(arch))
    cmp = system.compare(net)
    res = run_system_pipeline(net, system, "layer", "none")
    assert [s.name for s in res.stages] == [c.name for c in cmp.hetero.layers]
    assert res.latency_s == pytest.approx(cmp.hetero.latency_s, rel=1e-12)
    assert res.energy_j == pytest.approx(cmp.hetero.energy_j, rel=1e-12)
    assert res.throughput_ips == pytest.approx(1 / cmp.hetero.latency_s, rel=1e-12)


@pytest.mark.parametrize("arch", ["tpu-imc", "all-imc", "tpu-imac"])
def test_map_batch_layer_dataflow_is_the_compare_run_at_that_batch(arch):
    # Layer by layer, a batch of 8 is each row at its unit's batch cost (the systolic array's one GEMM of 8 M rows,
    # analog units and transfers 8 in sequence): System.compare at batch 8 sums the same rows.
    net = load_network("lenet5")
    system = System(load_system(arch))
    cmp = system.compare(net, batch=8)
    res = run_system_pipeline(net, system, "layer", "none", batch=8)
    assert res.batch == 8
    assert res.latency_s == pytest.approx(cmp.hetero.latency_s, rel=1e-12)
    assert res.energy_j == pytest.approx(cmp.hetero.energy_j, rel=1e-12)
    assert res.throughput_ips == pytest.approx(cmp.hetero_throughput, rel=1e-12)
    assert res.first_image_latency_s == pytest.approx(system.compare(net).hetero.latency_s, rel=1e-12)


def test_map_batch_pixel_dataflow_streams_images_on_a_system():
    # tpu-imc LeNet-5: the systolic array's rows (conv1 ... flatten, 3.97 us per image) are the busiest resource;
    # the IMC rows and the interface are faster, and each image's convolutions can run while the previous image is
    # on the IMC cores, so image after image follows one systolic period: latency(N) = latency(1) + (N - 1) x the
    # systolic array's time per image (the sum of its rows' one-image latencies, read from the run itself).
    net = load_network("lenet5")
    system = System(load_system("tpu-imc"))
    one = run_system_pipeline(net, system, "pixel", "none")
    period = sum(s.cost.latency_s for s in one.stages if s.cost.unit == "systolic")
    assert one.throughput_ips == pytest.approx(1 / period, rel=1e-12)
    for n in (2, 8):
        res = run_system_pipeline(net, system, "pixel", "none", batch=n)
        assert res.latency_s == pytest.approx(one.latency_s + (n - 1) * period, rel=1e-12)
        assert res.first_image_latency_s == pytest.approx(one.latency_s, rel=1e-12)


@pytest.mark.parametrize("flow, dup", [("pixel", "none"), ("pixel", "balanced"), ("layer", "balanced")])
def test_all_imc_schedule_is_the_imc_pipeline_behind_the_input_transfer(flow, dup):
    """Every layer sits on the IMC cores, so the schedule is the IMC-only pipeline (checked against an event-driven
    simulator in test_arch_pipeline.py), started when the input transfer lands and followed by the output one."""
    net = load_network("lenet5")
    res = run_system_pipeline(net, System(load_system("all-imc")), flow, dup)
    ref = run_pipeline(net, load_imc("isaac"), flow, dup)
    t_in, t_out = 28 * 28 * 2 / BUS, 10 * 2 / BUS
    inner = [s for s in res.stages if s.cost.unit == "imc"]
    assert [s.name for s in inner] == [s.name for s in ref.stages]
    for s, r in zip(inner, ref.stages):
        assert s.copies == r.copies
        assert s.start_s == pytest.approx(r.start_s + t_in, rel=1e-9, abs=1e-15)
        assert s.finish_s == pytest.approx(r.finish_s + t_in, rel=1e-9)
    assert res.latency_s == pytest.approx(ref.latency_s + t_in + t_out, rel=1e-9)
    assert res.cores == ref.cores and res.activation_memory_bytes == ref.activation_memory_bytes
    if flow == "pixel":
        assert res.throughput_ips == pytest.approx(ref.throughput_ips, rel=1e-12)
    assert res.area_by_unit_m2["imc"] == pytest.approx(ref.area_m2, rel=1e-12)
    assert res.area_by_unit_m2["cpu"] == pytest.approx(4 * 1.4e-6)


def _residual_torch_net() -> Network:
    """A small residual CNN through torch.fx: conv, a block with a skip addition, pooling, a dense head."""
    import torch

    from imcsim.workload.from_torch import from_torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.c3 = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8 * 4 * 4, 10)

        def forward(self, x):
            x = torch.relu(self.c1(x))
            y = self.c3(torch.relu(self.c2(x)))
            x = torch.nn.functional.max_pool2d(torch.relu(x + y), 2)
            return self.fc(torch.flatten(x, 1))

    return from_torch(Net(), (3, 8, 8), name="resnet-toy")


@pytest.mark.parametrize("units, policy", [
    ({"systolic": "edge-tpu", "imc": "isaac"}, "dense-to-analog"),
    ({"systolic": "edge-tpu", "imc": "isaac"}, "all-analog"),
    ({"cpu": "cortex-a76", "imc": "hermes"}, "all-analog"),
    ({"systolic": "edge-tpu", "imc": "isaac"}, "auto"),
    ({"systolic": "edge-tpu", "imac": "sot-mram-imac", "imc": "puma"}, "dense-to-analog"),
])
@pytest.mark.parametrize("dup", ["none", "budget:40"])
def test_map_json_of_a_system_lets_a_script_recompute_the_pixel_pipeline(capsys, tmp_path, units, policy, dup):
    import yaml

    net = _residual_torch_net()
    path = tmp_path / "sys.yaml"
    path.write_text(yaml.safe_dump({"units": units, "placement": {"policy": policy}}, sort_keys=False))
    res = run_system_pipeline(net, System(load_system(str(path))), "pixel", dup)
    d = json.loads(json.dumps(res.to_dict()))
    fin = recompute_pipeline(d["layers"])
    assert d["latency_s"] == pytest.approx(max(max(f) for f in fin.values()), rel=1e-12)
    for r in d["layers"]:
        assert r["finish_s"] == pytest.approx(max(fin[r["name"]]), rel=1e-12), r["name"]
        assert r["stage_time_s"] == pytest.approx(math.ceil(r["pixels"] / r["copies"]) * r["pixel_time_s"])
    # a unit runs one whole row at a time, and each row after the rows it reads
    by_name = {r["name"]: r for r in d["layers"]}
    for r in d["layers"]:
        if r["after"]:
            assert r["start_s"] >= by_name[r["after"]]["finish_s"] * (1 - 1e-12)
        for p in r["inputs"]:
            assert r["finish_s"] >= by_name[p]["finish_s"]
    assert d["cores"] == sum(r["arrays"] * r["copies"] for r in d["layers"])
    assert d["energy_j"] == pytest.approx(sum(r["energy_j"] for r in d["layers"]))
    assert d["area_m2"] == pytest.approx(sum(d["area_by_unit_m2"].values()))
    if dup.startswith("budget") and "imc" in {r["unit"] for r in d["layers"]}:
        assert d["cores"] <= 40 or d["cores"] == sum(r["arrays"] for r in d["layers"])


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("arch", ["tpu-imc", "all-imc"])
def test_compare_cli_on_the_imc_systems(capsys, arch):
    code, out, err = _run(capsys, "compare", "--model", "lenet5", "--arch", arch)
    assert code == 0, err
    host = "systolic" if arch == "tpu-imc" else "cpu"
    assert f"lenet5 on {arch} vs {host} alone" in out and "speedup" in out
    code, out, err = _run(capsys, "compare", "--model", "lenet5", "--arch", arch, "--format", "json")
    d = json.loads(out)
    cmp = System(load_system(arch)).compare(load_network("lenet5"))
    assert d["speedup"] == pytest.approx(cmp.speedup) and d["hetero"]["energy_j"] == pytest.approx(cmp.hetero.energy_j)
    assert set(d["area_by_unit_m2"]) == {host, "imc"}


def test_map_cli_on_a_system(capsys, tmp_path):
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "tpu-imc", "--pipeline", "pixel",
                          "--duplication", "balanced", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["arch"] == "tpu-imc" and d["host"] == "systolic"
    units = {r["name"]: r["unit"] for r in d["layers"]}
    assert units["conv1"] == "systolic" and units["fc1"] == "imc" and units["flatten->fc1"] == "transfer"
    for r in d["layers"]:
        assert {"name", "unit", "arrays", "copies", "pixels", "pixel_time_s", "stage_time_s", "start_s", "finish_s",
                "energy_j"} <= set(r)
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "tpu-imc", "--pipeline", "pixel",
                          "--batch", "8", "--format", "json")
    assert code == 0, err
    b8 = json.loads(out)
    assert b8["batch"] == 8 and b8["first_image_latency_s"] == pytest.approx(d["latency_s"]) is not None
    assert b8["latency_s"] > d["latency_s"]
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "isaac", "--batch", "0")
    assert code == 2 and "--batch" in err and "Traceback" not in err
    png = tmp_path / "tradeoff.png"
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "all-imc", "--plot", str(png))
    assert code == 0, err
    assert "lenet5 on all-imc: layer pipeline" in out and "transfer" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_layer_after_an_absorbed_imac_neuron_waits_for_the_transfer_that_carries_it():
    """tpu-imac with fc2 pinned to the TPU: fc1's outputs pass IMAC's analog neuron (act3, absorbed) and cross to the
    TPU in the transfer after fc1; fc2 reads act3, so it must wait for that transfer."""
    cfg = load_system("tpu-imac").replace(placement={"policy": "dense-to-analog", "layers": {"fc2": "systolic"}})
    net = load_network("lenet5")
    res = run_system_pipeline(net, System(cfg), "pixel", "none")
    rows = {s.name: s for s in res.stages}
    assert rows["act3"].cost.metrics.get("absorbed") == 1
    assert rows["fc2"].inputs == ("fc1->act3",)
    assert rows["fc2"].start_s >= rows["fc1->act3"].finish_s
    assert rows["fc2"].start_s == pytest.approx(rows["fc1->act3"].finish_s, rel=1e-12)
    d = res.to_dict()
    fin = recompute_pipeline(d["layers"])
    assert d["latency_s"] == pytest.approx(max(max(f) for f in fin.values()), rel=1e-12)


def test_the_compare_breakdown_puts_imc_rows_in_their_own_categories(tmp_path):
    """all-imc on the tiny network, latency by category: the hand figures above."""
    from imcsim.report.compare import breakdown
    from imcsim.report.plots import plot_latency_breakdown

    net = tiny()
    cmp = System(load_system("all-imc")).compare(net)
    bd = breakdown(cmp.hetero, net)
    assert bd["conv (IMC)"] == pytest.approx(CONV1[0], rel=1e-9)
    assert bd["dense (IMC)"] == pytest.approx(FC1[0] + FC2[0], rel=1e-9)
    assert bd["other (IMC)"] == pytest.approx(ACT1[0] + ACT2[0], rel=1e-9)
    assert bd["transfers"] == pytest.approx((128 + 20) / BUS, rel=1e-9)
    assert bd["conv (digital)"] == bd["dense (digital)"] == bd["other (digital)"] == bd["dense (IMAC)"] == 0
    png = plot_latency_breakdown(cmp, net, tmp_path / "bd.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
