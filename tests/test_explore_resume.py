"""A sweep killed with SIGKILL mid-run resumes: every point stored once, the same front as an uninterrupted run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from imcsim.explore import load_spec, open_store, run_sweep
from imcsim.explore.pareto import front_mask

ROOT = Path(__file__).resolve().parents[1]


def _stored(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # not created yet
        return 0


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_mid_sweep_then_resume(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({
        "name": "resume", "workload": {"model": "lenet5"}, "system": "tpu-imac",
        "axes": {"systolic.rows": [8, 16, 32, 64, 128, 256], "systolic.cols": [8, 16, 32, 64, 128, 256],
                 "imac.rows": [16, 32, 64, 128, 256], "imac.adc.bits": [4, 8]},  # 360 points
        "objectives": ["latency_s", "energy_j", "area_m2"]}))
    spec = load_spec(spec_path)
    db = tmp_path / "killed.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # two worker processes, batches of 10 points: many commits, so the kill lands between two of them
    code = ("import sys; from imcsim.explore import load_spec, run_sweep; "
            "run_sweep(load_spec(sys.argv[1]), sys.argv[2], workers=2, chunk_size=10)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(spec_path), str(db)], env=env)
    try:
        deadline = time.monotonic() + 120
        while _stored(db) < 30 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        children = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    # the workers notice their driver is gone and leave (they would otherwise wait on their pipe for ever)
    deadline = time.monotonic() + 10
    while any(_running(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children and not any(_running(c) for c in children)
    before = _stored(db)
    assert 0 < before < 360
    assert (tmp_path / "killed.db.lock").exists()  # left behind by the killed run

    notes = []
    resumed = run_sweep(spec, db, workers=1, note=notes.append)
    assert resumed.from_store == before and resumed.evaluated == 360 - before
    assert len(notes) == 1 and "took over" in notes[0]

    whole = tmp_path / "whole.db"
    run_sweep(spec, whole, workers=1)
    with open_store(db) as st:
        a = st.points()
    with open_store(whole) as st:
        b = st.points()
    assert len(a) == len({p.key for p in a}) == 360  # each point once
    assert {p.key for p in a} == {p.key for p in b}
    names = spec.objectives
    front_a = {p.key: p.objectives for p, m in zip(a, front_mask(a, names)) if m}
    front_b = {p.key: p.objectives for p, m in zip(b, front_mask(b, names)) if m}
    assert front_a == front_b and len(front_a) > 1
