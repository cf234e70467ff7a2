"""Resizing a run's images (``image_size``, ``--image-size``): area averaging checked against hand sums and a
brute-force replicate-then-block-mean reference, and one resize from training to every evaluation of the run."""

import json
import math

import numpy as np
import pytest
import torch

from imcsim.cli.app import main
from imcsim.errors import ConfigError, DataError
from imcsim.train.config import TrainConfig
from imcsim.train.data import Dataset, area_weights, load_dataset, parse_image_size


def _ds(x: np.ndarray) -> Dataset:
    x = np.asarray(x, dtype=np.float32)
    return Dataset("toy", x, np.arange(len(x)), x[::-1].copy(), np.arange(len(x))[::-1].copy(), len(x))


def _brute(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area average by another road: repeat every pixel until both sizes divide the canvas (lcm), then take the
    mean of equal blocks. Each output pixel then averages exactly the sub-pixels it covers."""
    big_h, big_w = x.shape[-2:]
    lh, lw = math.lcm(big_h, h), math.lcm(big_w, w)
    fine = np.repeat(np.repeat(x.astype(np.float64), lh // big_h, axis=-2), lw // big_w, axis=-1)
    return fine.reshape(*x.shape[:-2], h, lh // h, w, lw // w).mean(axis=(-3, -1))


def test_4x4_to_2x2_is_the_mean_of_each_2x2_block():
    img = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    # by hand: top-left block 0, 1, 4, 5 -> 2.5; top-right 2, 3, 6, 7 -> 4.5;
    # bottom-left 8, 9, 12, 13 -> 10.5; bottom-right 10, 11, 14, 15 -> 12.5
    out = _ds(img).resized(2, 2).x_train
    np.testing.assert_array_equal(out, [[[[2.5, 4.5], [10.5, 12.5]]]])


def test_3x3_to_2x2_counts_the_cut_pixels_by_their_fraction():
    # a[i, j] = 9 i + 3 j. Output pixel (0, 0) covers [0, 1.5) x [0, 1.5): a00 whole, a01 and a10 half, a11 a quarter,
    # over the area 2.25: (0 + 0.5*3 + 0.5*9 + 0.25*12) / 2.25 = 9 / 2.25 = 4.
    # (0, 1): (0.5*a01 + a02 + 0.25*a11 + 0.5*a12) / 2.25 = (1.5 + 6 + 3 + 7.5) / 2.25 = 8.
    # (1, 0): (0.5*a10 + 0.25*a11 + a20 + 0.5*a21) / 2.25 = (4.5 + 3 + 18 + 10.5) / 2.25 = 16.
    # (1, 1): (0.25*a11 + 0.5*a12 + 0.5*a21 + a22) / 2.25 = (3 + 7.5 + 10.5 + 24) / 2.25 = 20.
    a = (9 * np.arange(3)[:, None] + 3 * np.arange(3)[None, :]).astype(np.float32)
    out = _ds(a[None, None]).resized(2, 2).x_train[0, 0]
    np.testing.assert_allclose(out, [[4, 8], [16, 20]], rtol=1e-6)


@pytest.mark.parametrize("src, dst", [((28, 28), (20, 20)), ((28, 21), (20, 6)), ((5, 7), (3, 7)), ((28, 28), (7, 14))])
def test_non_integer_ratios_match_replicate_then_block_mean(src, dst):
    x = np.random.default_rng(1).random((3, 2, *src), dtype=np.float32)
    out = _ds(x).resized(*dst)
    np.testing.assert_allclose(out.x_train, _brute(x, *dst), atol=2e-6)
    np.testing.assert_allclose(out.x_test, _brute(x[::-1], *dst), atol=2e-6)
    # area averaging keeps each image's mean intensity
    np.testing.assert_allclose(out.x_train.mean(axis=(-2, -1)), x.mean(axis=(-2, -1)), atol=2e-6)
    assert out.x_train.dtype == np.float32 and out.x_train.shape == (3, 2, *dst)
    np.testing.assert_array_equal(out.y_train, np.arange(3))


def test_integer_ratios_agree_with_torch_area_pooling():
    # for 28 -> 14 and 28 -> 7 the windows are whole pixels, so torch's adaptive average pooling is the same filter
    x = np.random.default_rng(2).random((2, 1, 28, 28), dtype=np.float32)
    for size in (14, 7):
        ref = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), size).numpy()
        np.testing.assert_allclose(_ds(x).resized(size, size).x_train, ref, atol=1e-6)


def test_area_weights_rows_and_columns():
    wts = area_weights(28, 20)
    np.testing.assert_allclose(wts.sum(axis=1), 1, atol=1e-6)            # each output pixel: a mean
    np.testing.assert_allclose(wts.sum(axis=0), 20 / 28, atol=1e-6)      # each input pixel: counted by its area


def test_same_size_is_the_dataset_itself_and_up_sizing_is_refused():
    ds = _ds(np.zeros((2, 1, 28, 28)))
    assert ds.resized(28, 28) is ds
    with pytest.raises(DataError, match=r"image_size = 32x28: larger than the 28x28 images of dataset 'toy'"):
        ds.resized(32, 28)


@pytest.mark.parametrize("value, expect", [("20x20", (20, 20)), ("20", (20, 20)), (20, (20, 20)), ("20X14", (20, 14)),
                                           ([12, 9], (12, 9)), ((3, 4), (3, 4)), ([20], (20, 20))])
def test_parse_image_size(value, expect):
    assert parse_image_size(value) == expect
    assert TrainConfig(image_size=value).image_size == expect


@pytest.mark.parametrize("value", ["abc", "20x", "0x20", "-3", "20x20x1", 2.5, True, [20, 0], (1.5, 2)])
def test_bad_image_size_names_field_and_value(value):
    with pytest.raises(ConfigError, match=r"image_size = "):
        parse_image_size(value)
    from imcsim.config.base import parse_config

    with pytest.raises(ConfigError, match=r"field 'image_size'"):
        parse_config(TrainConfig, {"image_size": value}, source="train config")


# ----- the CLI: the refusal names the flag that fits; bad flag values are one line -----------------------------------

def test_mlp_on_28x28_digits_is_refused_naming_the_image_size_that_fits(tmp_path, capsys):
    code = main(["train", "--model", "mlp", "--dataset", "mnist-5k", "--epochs", "1", "--out", str(tmp_path / "r"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "images of shape (1, 28, 28) do not fit model 'mlp'" in err
    assert "it takes (1, 20, 20): add --image-size 20x20" in err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()  # not resized silently: nothing trained


def test_no_hint_when_the_model_args_change_the_input():
    # in_features = 100 wants 10x10 images: the zoo's 20x20 does not fit it either, so no size is suggested
    from imcsim.train.trainer import train

    cfg = TrainConfig(model="mlp", model_args={"in_features": 100}, dataset="mnist-5k", target="float", epochs=1)
    with pytest.raises(DataError) as info:
        train(cfg, None, progress=False, data=load_dataset("mnist-5k").subset(8, 8))
    assert "do not fit model 'mlp'" in str(info.value) and "image_size" not in str(info.value)


@pytest.mark.parametrize("value, message", [
    ("2Ox20", "--image-size '2Ox20': expected HxW or one size N for NxN"),
    ("0", "--image-size '0': expected HxW"),
    ("32x32", "--image-size 32x32: larger than the 28x28 images of dataset 'mnist-5k'"),
])
def test_bad_image_size_flag_is_one_line_and_status_2(tmp_path, capsys, value, message):
    code = main(["train", "--model", "mlp", "--dataset", "mnist-5k", "--epochs", "1", "--out", str(tmp_path / "r"),
                 "--image-size", value, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


# ----- one resize from training to every evaluation ----------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mlp") / "run"
    # ideal wires in training keep this fast (about 5 s); the evaluations below then use ideal wires too
    code = main(["train", "--model", "mlp", "--dataset", "mnist-5k", "--image-size", "20x20", "--target", "tpu-imac",
                 "--epochs", "3", "--lr", "0.01", "--train-limit", "1000", "--test-limit", "300", "--ir-drop", "off",
                 "--out", str(out), "--quiet"])
    torch.set_num_threads(n)
    assert code == 0
    return out


def test_run_records_its_image_size(mlp_run):
    meta = json.loads((mlp_run / "deployment.json").read_text())
    assert meta["input_shape"] == [1, 20, 20]
    assert meta["config"]["train"]["image_size"] == [20, 20]
    from imcsim.train.deploy import load_deployment

    dep = load_deployment(mlp_run)
    ref = load_dataset("mnist-5k").resized(20, 20)
    got = dep.load_data()
    np.testing.assert_array_equal(got.x_test, ref.x_test)
    np.testing.assert_array_equal(got.y_test, ref.y_test)


def test_evaluate_and_xbar_evaluate_reproduce_the_trained_accuracy(mlp_run, capsys):
    hist = json.loads((mlp_run / "metrics.json").read_text())["history"]
    trained = hist[-1]["test_accuracy"]
    assert trained > 0.4  # it learned something (chance is 0.1): the 20x20 digits are digits
    assert main(["evaluate", str(mlp_run), "--ir-drop", "off", "--test-limit", "300", "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_test"] == 300 and res["accuracy"] == pytest.approx(trained, abs=1e-12)
    # the circuit solver on the same images (ideal wires, nominal chip) classifies the same
    assert main(["xbar", "evaluate", "--deployment", str(mlp_run), "--dataset", "mnist-5k", "--no-parasitics",
                 "--limit", "300", "--format", "json"]) == 0
    xb = json.loads(capsys.readouterr().out)
    assert xb["n"] == 300 and abs(xb["accuracy"] - trained) <= 1 / 300 + 1e-12


def test_sweep_accuracy_objective_reads_the_run_at_its_size(mlp_run, tmp_path):
    from imcsim.explore import open_store, parse_spec, run_sweep

    spec = parse_spec({"name": "mlp", "workload": {"deployment": str(mlp_run)}, "system": "tpu-imac",
                       "axes": {"imac.adc.bits": [8]}, "objectives": ["accuracy"],
                       "evaluate": {"deployment": str(mlp_run), "test_limit": 300}})
    summary = run_sweep(spec, tmp_path / "s.db", workers=1)
    assert (summary.evaluated, summary.failed) == (1, 0)
    with open_store(tmp_path / "s.db") as st:
        (point,) = st.points()
    # the nominal chip with the wires the run trained with (off): the trainer's accuracy on the same 300 images
    trained = json.loads((mlp_run / "metrics.json").read_text())["history"][-1]["test_accuracy"]
    assert point.objectives["accuracy"] == pytest.approx(trained, abs=1e-12)


def test_resume_with_another_image_size_is_refused(mlp_run, capsys):
    code = main(["train", "--model", "mlp", "--dataset", "mnist-5k", "--image-size", "14", "--target", "tpu-imac",
                 "--epochs", "3", "--lr", "0.01", "--train-limit", "1000", "--test-limit", "300", "--ir-drop", "off",
                 "--out", str(mlp_run), "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "image_size = (20, 20), not (14, 14)" in err
