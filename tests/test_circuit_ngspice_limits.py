"""ngspice under a time limit and under signals: its process group is killed and its temp directory removed, by a real
`imcsim xbar compare` process timed out or sent SIGTERM. And the crossbar solver's choice of route: per-vector solves
for a few vectors, the same currents and power as the transfer matrix."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import imcsim
from imcsim.circuit.crossbar import Crossbar
from imcsim.cli.app import main

SRC = str(Path(imcsim.__file__).resolve().parents[1])
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


@pytest.fixture
def slow_case(tmp_path) -> tuple[Path, Path, Path]:
    """A 64x64 crossbar with 9 nm wires and 3 input vectors: about 50 s of ngspice on this machine (measured), far
    beyond the limits used below; and an empty private TMPDIR to see ngspice's temp directories in."""
    rng = np.random.default_rng(0)
    w, x = tmp_path / "W.csv", tmp_path / "X.csv"
    np.savetxt(w, rng.integers(-1, 2, (64, 64)), fmt="%d", delimiter=",")
    np.savetxt(x, rng.uniform(-0.8, 0.8, (3, 64)), fmt="%.4f", delimiter=",")
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    return w, x, tmp


def _ngspice_in(tmp: Path) -> list[int]:
    """Pids of live processes whose working directory is under ``tmp`` (ngspice runs in its temp directory)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.readlink(d / "cwd").startswith(str(tmp)):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def _imcsim(argv: list[str], tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC, TMPDIR=str(tmp))
    return subprocess.Popen([sys.executable, "-m", "imcsim", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@needs_ngspice
def test_ngspice_beyond_its_time_limit_is_killed_and_cleaned_up(slow_case):
    w, x, tmp = slow_case
    t0 = time.monotonic()
    proc = _imcsim(["xbar", "compare", "-w", str(w), "-x", str(x), "--tech", "9nm", "--timeout", "2"], tmp)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.startswith("error: ngspice did not finish within the time limit of 2 s") and err.count("\n") == 1
    assert time.monotonic() - t0 < 40  # not the ~50 s ngspice needs
    assert list(tmp.iterdir()) == [] and _ngspice_in(tmp) == []


@needs_ngspice
def test_sigterm_kills_ngspice_and_removes_its_temp_directory(slow_case):
    w, x, tmp = slow_case
    proc = _imcsim(["xbar", "compare", "-w", str(w), "-x", str(x), "--tech", "9nm"], tmp)
    try:
        t0 = time.monotonic()
        while not _ngspice_in(tmp):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 60, "ngspice never started"
            time.sleep(0.05)
        time.sleep(0.3)
        spice_pids = _ngspice_in(tmp)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert _ngspice_in(tmp) == [] and not any(Path(f"/proc/{p}").exists() for p in spice_pids)
    assert list(tmp.iterdir()) == []  # was: imcsim-ngspice-* left behind, ngspice an orphan


def test_bad_time_limit_is_refused(tmp_path, capsys):
    (tmp_path / "W.csv").write_text("1,-1\n")
    (tmp_path / "X.csv").write_text("0.5\n")
    assert main(["xbar", "compare", "-w", str(tmp_path / "W.csv"), "-x", str(tmp_path / "X.csv"),
                 "--timeout", "0"]) == 2
    assert "--timeout: 0.0 must be a positive" in capsys.readouterr().err


# ----- solver route ---------------------------------------------------------------------------------------------------

def _crossbar(rows: int, cols: int, seed: int = 0) -> Crossbar:
    rng = np.random.default_rng(seed)
    return Crossbar.from_weights(rng.integers(-1, 2, (rows, cols)), r_in_ohm=9.24, r_out_ohm=11.55, r_amp_ohm=50.0)


@pytest.mark.parametrize("batch", [1, 5, 40])
def test_outputs_equal_the_direct_solve_and_the_input_admittance(batch):
    # Reference: node voltages by direct solves (Crossbar.solve) for the currents, and for the power the source
    # currents from Ohm's law on the first wire segment of each input line: (v - V(first node)) / r_in.
    xb = _crossbar(24, 6)
    v = np.random.default_rng(1).uniform(-0.8, 0.8, (batch, 24))
    ip, im, pw = xb.outputs(v)
    ref_p, ref_m = xb.solve(v)
    nodes = xb.node_voltages(v)
    first = nodes[:, xb.node_input[:, 0]]
    ref_power = np.sum(v * (v - first) / 9.24, axis=1)
    np.testing.assert_allclose(ip, ref_p, rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(im, ref_m, rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(pw, ref_power, rtol=1e-9)
    # A few vectors take the per-vector route: the (rows x rows) matrices are never built.
    assert ("_both" in xb.__dict__) == (batch >= 24)


def test_outputs_reuse_the_transfer_matrix_once_built():
    xb = _crossbar(16, 4)
    v = np.random.default_rng(2).uniform(-0.8, 0.8, (2, 16))
    xb.transfer_matrix(method="direct")
    ip, _, pw = xb.outputs(v)
    np.testing.assert_allclose(pw, xb.power(v), rtol=1e-12)
    np.testing.assert_allclose(ip, xb.solve(v)[0], rtol=1e-10, atol=1e-18)


def test_overflowing_inputs_are_refused(tmp_path, capsys):
    # Was: "power_w": ["inf"] with exit 0.
    (tmp_path / "W.csv").write_text("1,-1\n0,1\n")
    (tmp_path / "X.csv").write_text("1e200,-1e200\n")
    assert main(["xbar", "solve", "-w", str(tmp_path / "W.csv"), "-x", str(tmp_path / "X.csv"), "--tech", "9nm"]) == 2
    err = capsys.readouterr().err
    assert "X.csv: input voltages up to 1e+200 V give currents or power beyond floating point" in err
