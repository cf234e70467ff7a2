"""A run directory belongs to one run: refusal without --resume/--overwrite, a lock for the life of a run (real
concurrent processes, a killed one's stale lock taken over), the output location checked before any training,
divergence kept out of the run's files, and configurations whose results nothing could load refused up front."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import imcsim
from imcsim.cli.app import main
from imcsim.errors import ConfigError, DivergenceError
from imcsim.io_lock import LOCK_NAME
from imcsim.train.data import load_dataset
from imcsim.train.trainer import CHECKPOINT, TrainConfig, _load_checkpoint, train

SRC = str(Path(imcsim.__file__).resolve().parents[1])
TINY = ["--model", "lenet5", "--dataset", "mnist-5k", "--train-limit", "128", "--test-limit", "64", "--batch-size",
        "64", "--quiet"]


@pytest.fixture(scope="module")
def data():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_dataset("mnist-5k")
    torch.set_num_threads(n)


def _cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "imcsim", *argv], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _one_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_a_second_run_into_a_finished_run_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert _cli("train", "--out", str(out), "--epochs", "1", "--seed", "21", *TINY).returncode == 0
    before = _files(out)
    assert set(before) == {"checkpoint.pt", "deployment.json", "weights.npz", "model.pt", "metrics.json"}
    _one_line(_cli("train", "--out", str(out), "--epochs", "1", "--seed", "22", *TINY), "holds another run",
              "checkpoint.pt")
    assert _files(out) == before  # nothing of the first run touched
    assert main(["train", "--out", str(out), "--epochs", "1", "--resume", "--overwrite", *TINY]) == 2
    assert "choose one" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--epochs", "1", "--seed", "22", "--overwrite", *TINY]) == 0
    after = _files(out)
    assert set(after) == set(before) and after["checkpoint.pt"] != before["checkpoint.pt"]
    assert json.loads(after["deployment.json"])["config"]["train"]["seed"] == 22


def test_concurrent_runs_exclude_each_other_and_a_killed_runs_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    long_run = ["train", "--out", str(out), "--model", "lenet5", "--dataset", "mnist-5k", "--epochs", "200",
                "--train-limit", "512", "--test-limit", "64", "--batch-size", "64", "--seed", "21", "--quiet"]
    first = subprocess.Popen([sys.executable, "-m", "imcsim", *long_run], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not (out / CHECKPOINT).is_file():  # locked, and at least one epoch checkpointed
            assert first.poll() is None, first.communicate()
            assert time.monotonic() - t0 < 240, "first run wrote no checkpoint"
            time.sleep(0.1)
        second = _cli("train", "--out", str(out), "--epochs", "1", "--seed", "22", *TINY[:-1], "--overwrite",
                      "--quiet")
        _one_line(second, "run directory is in use by another process", f"pid {first.pid} ")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert (out / LOCK_NAME).is_file()  # left behind by kill -9
    ckpt = _load_checkpoint(out / CHECKPOINT)
    done = ckpt["epoch"]
    # Resume with fewer epochs than the run asked for, so that it finishes now: takes the stale lock over with a note.
    resumed = _cli(*[a if a != "200" else str(done + 1) for a in long_run], "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"note: {out}: took over the stale lock of pid {first.pid} " in resumed.stderr
    assert not (out / LOCK_NAME).exists()
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == done + 1


@pytest.mark.parametrize("where, needle", [
    ("", "--out: the run directory is empty"),
    ("FILE", "exists and is not a directory"),
    ("FILE/sub", "cannot create the run directory"),
    ("/proc/imcsim-run", "cannot create the run directory"),
])
def test_output_location_is_checked_before_training(tmp_path, capsys, where, needle):
    (tmp_path / "FILE").write_text("not a directory")
    out = where.replace("FILE", str(tmp_path / "FILE")) if where else ""
    t0 = time.perf_counter()
    # 60,000 training images would take minutes: a refusal within seconds shows nothing was read or trained.
    rc = main(["train", "--out", out, "--dataset", "mnist-5k", "--epochs", "50", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 2 and needle in captured.err and captured.err.count("\n") == 1, captured.err
    assert "epoch" not in captured.out and time.perf_counter() - t0 < 20
    assert (tmp_path / "FILE").read_text() == "not a directory"


def test_target_epochs_zero_is_refused_before_anything_is_written(tmp_path, capsys):
    # Was: a float model labelled tpu-imac, which evaluate then could not load.
    assert main(["train", "--out", str(tmp_path / "r"), "--target", "tpu-imac", "--epochs", "0",
                 "--pretrain-epochs", "1", *TINY]) == 2
    assert "epochs = 0 with target 'tpu-imac'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_data_dir_for_the_bundled_dataset_is_refused(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--data-dir", str(tmp_path), "--epochs", "1", *TINY]) == 2
    err = capsys.readouterr().err
    assert "data_dir" in err and "does not apply to dataset 'mnist-5k'" in err


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, data):
    # One float epoch at a sane rate, then the converted model at lr 1e30: the loss overflows in epoch 2.
    cfg = TrainConfig(dataset="mnist-5k", target="tpu-imac", pretrain_epochs=1, epochs=2, lr=1e30, batch_size=64,
                      train_limit=128, test_limit=64)
    with pytest.raises(DivergenceError, match=r"diverged in epoch 2 \(tpu-imac\).*checkpoint.pt keeps epoch 1"):
        train(cfg, tmp_path, progress=False, data=data)
    ckpt = _load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "deployment.json").exists()
    assert not (tmp_path / LOCK_NAME).exists()


def test_divergence_on_the_command_line_is_one_line_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--target", "float", "--epochs", "1", "--lr", "1e30", *TINY]) == 2
    err = capsys.readouterr().err
    assert "training diverged in epoch 1 (float)" in err and "nothing was saved" in err and err.count("\n") == 1
    assert not any(p.name in ("metrics.json", "deployment.json") for p in out.iterdir())


def test_resume_with_more_epochs_notes_the_schedule(tmp_path, data):
    cfg = TrainConfig(dataset="mnist-5k", target="float", epochs=1, batch_size=64, train_limit=128, test_limit=64)
    train(cfg, tmp_path, progress=False, data=data)
    notes: list[str] = []
    res = train(cfg.model_copy(update={"epochs": 2}), tmp_path, resume=True, progress=False, data=data,
                note=notes.append)
    assert len(res.history) == 2
    assert len(notes) == 1 and "epochs changed from 1 to 2" in notes[0] and "cosine" in notes[0]
    with pytest.raises(Exception, match="has done 2 epochs, more than the 1 asked for"):
        train(cfg, tmp_path, resume=True, progress=False, data=data)


def test_metrics_are_strict_json(tmp_path, data):
    cfg = TrainConfig(dataset="mnist-5k", target="float", epochs=1, batch_size=64, train_limit=128, test_limit=64)
    train(cfg, tmp_path, progress=False, data=data)

    def refuse(name):
        raise ValueError(name)
    hist = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=refuse)["history"]
    assert len(hist) == 1 and 0 <= hist[0]["test_accuracy"] <= 1


def test_resume_and_overwrite_exclude_each_other_in_the_library(tmp_path, data):
    cfg = TrainConfig(dataset="mnist-5k", target="float", epochs=1, batch_size=64, train_limit=128, test_limit=64)
    with pytest.raises(ConfigError, match="choose one"):
        train(cfg, tmp_path, resume=True, overwrite=True, progress=False, data=data)


@pytest.mark.parametrize("target, extra, needle", [
    ("float", ["--variation", "0.1"], "imac = {'device': {'variation': 0.1}} does not apply to target 'float'"),
    ("digital", ["--noise-aware"], "noise_aware = True does not apply to target 'digital'"),
    ("digital", ["--precision", "ternary"], "precision = 'ternary' does not apply to target 'digital'"),
    ("float", ["--ir-drop", "first-order"], "ir_drop = 'first-order' does not apply"),
    ("float", ["--init-from", "elsewhere"], "init_from = 'elsewhere'"),
])
def test_settings_that_do_not_apply_to_the_target_are_refused(tmp_path, capsys, target, extra, needle):
    assert main(["train", "--out", str(tmp_path / "r"), "--target", target, "--epochs", "1", *extra, *TINY]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


def test_an_empty_run_directory_path_is_refused_in_the_library(data):
    cfg = TrainConfig(dataset="mnist-5k", target="float", epochs=1, batch_size=64, train_limit=128, test_limit=64)
    with pytest.raises(Exception, match="run directory: the path is empty"):
        train(cfg, "", progress=False, data=data)
