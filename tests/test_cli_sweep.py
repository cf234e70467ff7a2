"""`imcsim sweep run` and `imcsim sweep show`: summary, formats, front-only output, plots, one-line errors."""

import csv
import io
import json

import numpy as np
import pytest
import yaml

from imcsim.cli.app import main
from imcsim.explore.pareto import pareto_mask


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    spec = d / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "cli", "workload": {"model": "lenet5"}, "system": "tpu-imac",
        "axes": {"systolic.rows": [8, 16, 32], "systolic.cols": [8, 32], "imac.rows": [16, 64],
                 "imac.adc.bits": [4, 8]},
        "objectives": ["latency_s", "energy_j", "area_m2"]}))
    assert main(["sweep", "run", str(spec), "--store", str(d / "r.db"), "--workers", "1", "--quiet"]) == 0
    return d


def test_run_prints_a_summary_and_resumes(store, capsys):
    code = main(["sweep", "run", str(store / "spec.yaml"), "--store", str(store / "r.db"), "-j", "1", "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "24 points (0 evaluated now, 24 already in" in out


def test_show_json_lists_every_point_with_config_and_objectives(store, capsys):
    assert main(["sweep", "show", str(store / "r.db"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc) == 24
    assert set(doc[0]["config"]) == {"systolic.rows", "systolic.cols", "imac.rows", "imac.adc.bits"}
    assert all(p["latency_s"] > 0 and p["energy_j"] > 0 and p["area_m2"] > 0 for p in doc)
    # the marked front is the non-dominated set of the listed values (checked independently here)
    v = np.array([[p["latency_s"], p["energy_j"], p["area_m2"]] for p in doc])
    assert [p["pareto"] for p in doc] == pareto_mask(v).tolist()


def test_show_pareto_only_the_front_as_csv(store, capsys):
    assert main(["sweep", "show", str(store / "r.db"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    lat_e = np.array([[p["latency_s"], p["energy_j"]] for p in doc])
    expected = sorted(p["id"] for p, m in zip(doc, pareto_mask(lat_e)) if m)
    assert main(["sweep", "show", str(store / "r.db"), "--pareto", "latency_s,energy_j", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(int(r["id"]) for r in rows) == expected
    assert {"systolic.rows", "latency_s", "energy_j"} <= set(rows[0])


def test_show_table_and_plots(store, capsys, tmp_path):
    assert main(["sweep", "show", str(store / "r.db"), "--pareto", "latency_s,energy_j",
                 "--plot", str(tmp_path / "f2.png")]) == 0
    out = capsys.readouterr().out
    assert "Pareto front over latency_s, energy_j" in out and "systolic.rows" in out
    assert (tmp_path / "f2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sweep", "show", str(store / "r.db"), "--plot", str(tmp_path / "f3.svg"), "-o",
                 str(tmp_path / "all.txt")]) == 0  # three objectives: pairwise panels
    assert "<svg" in (tmp_path / "f3.svg").read_text() and "imac.adc.bits" in (tmp_path / "all.txt").read_text()


@pytest.mark.parametrize("argv, words", [
    (["sweep", "show", "{d}/nope.db"], ["nope.db", "no such sweep store"]),
    (["sweep", "show", "{d}/spec.yaml"], ["spec.yaml", "not a sweep store"]),
    (["sweep", "show", "{d}/r.db", "--pareto", "latency_s,speed"], ["speed"]),
    (["sweep", "show", "{d}/r.db", "--pareto", "accuracy"], ["accuracy"]),
    (["sweep", "show", "{d}/r.db", "--plot", "{d}/x.gif"], ["x.gif"]),
    (["sweep", "run", "{d}/bad.yaml", "--store", "{d}/bad.db"], ["imac.adc.bits", "17"]),
])
def test_user_errors_are_one_line_and_exit_2(store, capsys, argv, words):
    (store / "bad.yaml").write_text(yaml.safe_dump({"name": "bad", "workload": {"model": "lenet5"},
                                                     "axes": {"imac.adc.bits": [4, 17]}}))
    code = main([a.format(d=store) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    for w in words:
        assert w in err, err
    assert not (store / "bad.db").exists()  # a bad spec fails before the store is touched


def test_a_second_run_on_a_held_store_refuses_with_one_line(store, capsys, tmp_path):
    import os

    from imcsim.explore.store import store_lock

    with store_lock(tmp_path / "r.db"):  # held by a live process (this one) the way a running sweep holds it
        code = main(["sweep", "run", str(store / "spec.yaml"), "--store", str(tmp_path / "r.db"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and f"in use by another process (pid {os.getpid()} " in err
    assert not (tmp_path / "r.db").exists()
