"""Sweeps: spec checks, grid completeness, costs equal to the uncached library call, NSGA-II resume, the store
lock."""

import itertools
import os
import subprocess
import sys

import pytest
import yaml

from imcsim.arch.system import System
from imcsim.config.system import SystemConfig, load_system
from imcsim.errors import ConfigError, ImcsimError
from imcsim.explore import load_spec, open_store, run_sweep
from imcsim.explore.points import grid_points, random_points
from imcsim.workload.zoo import load_network

AXES = {"systolic.rows": [8, 32], "systolic.cols": [8, 16, 32], "imac.rows": [16, 64], "imac.adc.bits": [4, 8]}


def write_spec(tmp_path, name="s.yaml", **fields):
    spec = {"name": "t", "workload": {"model": "lenet5"}, "system": "tpu-imac", "axes": AXES,
            "objectives": ["latency_s", "energy_j"], **fields}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def test_grid_is_complete_and_each_point_is_the_library_result(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    summary = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert (summary.total, summary.evaluated, summary.failed) == (24, 24, 0)  # 2 * 3 * 2 * 2
    with open_store(tmp_path / "r.db") as st:
        pts = st.points(with_config=True)
    combos = {tuple(p.params[k] for k in AXES) for p in pts}
    assert combos == set(itertools.product(*AXES.values())) and len(pts) == 24
    # every point's objectives equal System.compare on a config built field by field (no dotted paths, no cache)
    net = load_network("lenet5")
    base = load_system("tpu-imac")
    for p in pts:
        cfg = base.replace(systolic=base.systolic.replace(rows=p.params["systolic.rows"],
                                                          cols=p.params["systolic.cols"]),
                           imac=base.imac.replace(rows=p.params["imac.rows"],
                                                  adc=base.imac.adc.replace(bits=p.params["imac.adc.bits"])))
        cmp = System(cfg).compare(net)
        assert p.objectives["latency_s"] == pytest.approx(cmp.hetero.latency_s, rel=1e-12)
        assert p.objectives["energy_j"] == pytest.approx(cmp.hetero.energy_j, rel=1e-12)
        assert p.objectives["speedup"] == pytest.approx(cmp.speedup, rel=1e-12)
        assert p.objectives["energy_saving"] == pytest.approx(cmp.energy_saving, rel=1e-12)
        assert p.objectives["area_m2"] == pytest.approx(cmp.area_m2, rel=1e-12)
        assert p.objectives["imac_area_m2"] == pytest.approx(cmp.area_by_unit_m2["imac"], rel=1e-12)
        # the IMAC area is its layers' crossbars and converters, as the cost rows report them
        assert cmp.area_by_unit_m2["imac"] == pytest.approx(
            sum(c.metrics.get("area_m2", 0.0) for c in cmp.hetero.layers if c.unit == "imac"), rel=1e-12)
        assert p.config is not None and SystemConfig.model_validate_json(p.config) == cfg
    # a second run finds everything stored and runs nothing
    again = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert (again.evaluated, again.from_store) == (0, 24)


def test_linked_axes_and_several_workloads(tmp_path):
    spec = load_spec(write_spec(tmp_path, workload=None, workloads=[{"model": "lenet5"}, {"model": "mlp"}],
                                linked=[["systolic.rows", "systolic.cols"]],
                                axes={"systolic.rows": [8, 16], "systolic.cols": [16, 32], "imac.rows": [16, 32]}))
    pts = [p for w in spec.workload_list for p in grid_points(spec, w.label)]
    assert len(pts) == 2 * 2 * 2
    assert {(p.params["systolic.rows"], p.params["systolic.cols"]) for p in pts} == {(8, 16), (16, 32)}
    summary = run_sweep(spec, tmp_path / "r.db", workers=2)  # two local processes
    assert (summary.total, summary.evaluated) == (8, 8)
    with open_store(tmp_path / "r.db") as st:
        assert sorted({p.workload for p in st.points()}) == ["lenet5", "mlp"]


def test_random_search_draws_distinct_points_reproducibly(tmp_path):
    spec = load_spec(write_spec(tmp_path, search="random:10", seed=3))
    a = random_points(spec, "lenet5", 10, 3)
    assert len({p.key for p in a}) == 10 and [p.key for p in a] == [p.key for p in random_points(spec, "lenet5", 10, 3)]
    assert [p.key for p in random_points(spec, "lenet5", 6, 3)] == [p.key for p in a[:6]]  # growing N keeps them
    assert len({p.key for p in random_points(spec, "lenet5", 1000, 3)}) == 24  # the whole grid, never more
    assert run_sweep(spec, tmp_path / "r.db", workers=1).evaluated == 10


def test_nsga2_resumes_its_generations(tmp_path):
    spec = load_spec(write_spec(tmp_path, search="nsga2:12", population=4,
                                axes={**AXES, "systolic.rows": [8, 16, 32, 64, 128]}))
    first = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert first.total == 12 and first.evaluated <= 12
    with open_store(tmp_path / "r.db") as st:
        gens = [p.trial["system_attrs"]["NSGAIISampler:generation"] for p in st.points()]
    assert max(gens) == 2  # 12 trials, 4 per generation (repeated points are not stored twice)
    more = load_spec(write_spec(tmp_path, name="more.yaml", search="nsga2:20", population=4,
                                axes={**AXES, "systolic.rows": [8, 16, 32, 64, 128]}))
    second = run_sweep(more, tmp_path / "r.db", workers=1)
    assert second.from_store == first.evaluated and second.total == 20
    with open_store(tmp_path / "r.db") as st:
        gens2 = [p.trial["system_attrs"]["NSGAIISampler:generation"] for p in st.points()]
    assert gens2[:len(gens)] == gens and max(gens2) >= 3  # the search went on from generation 3


@pytest.mark.parametrize("change, words", [
    ({"axes": {"imac.adc.bitz": [4]}}, ["imac.adc.bitz", "4"]),
    ({"axes": {"imac.adc.bits": [4, 30]}}, ["imac.adc.bits", "30"]),
    ({"axes": {"imac.adc.bits": []}}, ["imac.adc.bits", "no values"]),
    ({"axes": {}}, ["no axes"]),
    ({"objectives": ["latency_s", "latency_s"]}, ["latency_s", "twice"]),
    ({"objectives": ["speed"]}, ["speed"]),
    ({"objectives": ["accuracy"]}, ["accuracy", "evaluate"]),
    ({"search": "nsga2:0"}, ["nsga2:0"]),
    ({"linked": [["systolic.rows", "imac.rows"]], "axes": {"systolic.rows": [8], "imac.rows": [16, 32]}},
     ["systolic.rows", "imac.rows"]),
    ({"workload": {"model": "lenet5", "topology": "x.csv"}}, ["exactly one"]),
    ({"system": "no-such-system"}, ["no-such-system"]),
])
def test_bad_specs_fail_before_any_point_with_one_line(tmp_path, change, words):
    path = write_spec(tmp_path, **change)
    with pytest.raises(ConfigError) as exc:
        load_spec(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg, msg


def test_a_combination_the_config_refuses_is_stored_as_failed(tmp_path):
    # the config accepts an override for any layer name; the system refuses one lenet5 does not have when it runs
    spec = load_spec(write_spec(tmp_path, axes={"placement.layers.nope": ["imac"], "imac.rows": [16, 32]}))
    summary = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert summary.failed == 2
    with open_store(tmp_path / "r.db") as st:
        errors = [p.error for p in st.points()]
    assert all("nope" in e for e in errors)


def test_a_second_run_refuses_while_the_first_holds_the_store(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    # a live process holds the store's lock the way a running sweep does
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom imcsim.explore.store import store_lock\n"
         f"store_lock({str(tmp_path / 'r.db')!r}).acquire()\nprint('locked', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ImcsimError, match=rf"r.db: sweep store is in use by another process \(pid {holder.pid} "):
            run_sweep(spec, tmp_path / "r.db", workers=1)
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing (SIGKILL): its lock is stale and taken over, with a note naming it
    notes = []
    summary = run_sweep(spec, tmp_path / "r.db", workers=1, note=notes.append)
    assert summary.evaluated == 24 and len(notes) == 1 and f"pid {holder.pid} " in notes[0]
    assert not (tmp_path / "r.db.lock").exists()


def test_a_store_refuses_a_spec_on_another_system(tmp_path):
    run_sweep(load_spec(write_spec(tmp_path)), tmp_path / "r.db", workers=1)
    other = load_spec(write_spec(tmp_path, name="o.yaml", system="cpu-imac",
                                 axes={"imac.rows": [16, 32]}))
    with pytest.raises(ImcsimError, match="another store"):
        run_sweep(other, tmp_path / "r.db", workers=1)
    assert os.path.exists(tmp_path / "r.db") and not (tmp_path / "r.db.lock").exists()


def test_topology_workload_path_is_read_from_the_spec_directory(tmp_path):
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "topology.csv", tmp_path / "alexnet.csv")
    path = write_spec(tmp_path, workload={"topology": "alexnet.csv"}, axes={"systolic.rows": [16, 32]})
    spec = load_spec(path)
    assert spec.workload.topology == str(tmp_path / "alexnet.csv")
    summary = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert (summary.evaluated, summary.failed) == (2, 0)
    with open_store(tmp_path / "r.db") as st:
        lat = {p.params["systolic.rows"]: p.objectives["latency_s"] for p in st.points()}
    assert lat[32] < lat[16]  # SCALE-Sim conv layers, on twice the rows


def test_placement_policy_as_an_axis(tmp_path):
    spec = load_spec(write_spec(tmp_path, axes={"placement.policy": ["dense-to-analog", "all-digital"],
                                                "systolic.rows": [16, 32]}))
    assert run_sweep(spec, tmp_path / "r.db", workers=1).failed == 0
    with open_store(tmp_path / "r.db") as st:
        pts = st.points()
    net = load_network("lenet5")
    for p in pts:
        if p.params["placement.policy"] == "all-digital":
            # everything on the host, no transfers: the host-only baseline itself
            host_only = System(load_system("tpu-imac").replace_path("systolic.rows", p.params["systolic.rows"]))
            assert p.objectives["latency_s"] == pytest.approx(host_only.baseline(net).latency_s, rel=1e-12)
            assert p.objectives["speedup"] == pytest.approx(1.0, rel=1e-12) and p.objectives["imac_area_m2"] == 0
        else:
            assert p.objectives["speedup"] > 1 and p.objectives["imac_area_m2"] > 0
