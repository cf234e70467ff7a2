"""Dataset readers on files the tests write themselves (IDX plain and gzipped, CIFAR-10 pickles, CSV)."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from imcsim.errors import DataError
from imcsim.train.data import FASHION_MNIST_DIR, load_dataset, read_csv, read_idx


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">i", d) for d in arr.shape)
    return head + arr.tobytes()


def _write_mnist_dir(d, gz, n_train=12, n_test=5, rng=None):
    rng = rng or np.random.default_rng(0)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        for stem, arr in ((f"{split}-images-idx3-ubyte", x), (f"{split}-labels-idx1-ubyte", y)):
            data = _idx_bytes(arr, 0x08)
            if gz:
                (d / (stem + ".gz")).write_bytes(gzip.compress(data))
            else:
                (d / stem).write_bytes(data)
        out[split] = (x, y)
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_idx_dataset_round_trip(tmp_path, gz):
    ref = _write_mnist_dir(tmp_path, gz)
    ds = load_dataset("mnist", tmp_path)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_train.dtype == np.float32
    assert np.array_equal(ds.x_train[:, 0] * 255, ref["train"][0].astype(np.float32))
    assert np.array_equal(ds.y_test, ref["t10k"][1].astype(np.int64))
    assert ds.input_shape == (1, 28, 28)


def test_idx_other_dtypes_are_big_endian(tmp_path):
    arr = (np.arange(6).reshape(2, 3) * 1000).astype(">i4")
    p = tmp_path / "a.idx"
    p.write_bytes(_idx_bytes(arr, 0x0C))
    assert read_idx(p).tolist() == [[0, 1000, 2000], [3000, 4000, 5000]]


def test_idx_errors_name_file_and_problem(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(DataError, match=r"bad.idx: not an IDX file"):
        read_idx(p)
    p.write_bytes(_idx_bytes(np.zeros((4, 2, 2), np.uint8), 0x08)[:-3])
    with pytest.raises(DataError, match=r"header says shape \(4, 2, 2\)"):
        read_idx(p)
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "missing")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: no such file"):
        load_dataset("mnist", tmp_path)


def _write_cifar(d, n=4):
    rng = np.random.default_rng(1)
    ref = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(d / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f)
        ref[name] = (data, labels)
    return ref


def test_cifar10_batches(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    ref = _write_cifar(sub)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    d0, l0 = ref["data_batch_1"]
    # channel-major rows: the first 1024 bytes are the red plane
    assert np.array_equal(ds.x_train[0, 0] * 255, d0[0, :1024].reshape(32, 32).astype(np.float32))
    assert ds.y_train[:4].tolist() == l0
    (sub / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch: not a CIFAR-10 python batch"):
        load_dataset("cifar10", tmp_path)


def test_csv_reader_and_errors(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text("3," + ",".join(["255"] * 4) + "\n1," + ",".join(["0"] * 4) + "\n")
    x, y = read_csv(p)
    assert x.shape == (2, 1, 2, 2) and y.tolist() == [3, 1] and float(x[0].max()) == 1.0
    (tmp_path / "test.csv").write_text("1,2,3\n")
    with pytest.raises(DataError, match="test.csv: 2 pixel columns do not form a square image"):
        load_dataset("csv", tmp_path)


def test_named_dataset_errors():
    with pytest.raises(DataError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet", "/tmp")
    with pytest.raises(DataError, match=r"no copy ships with imcsim or its dependencies; give its directory "
                                        r"\(data_dir\)"):
        load_dataset("cifar10")


def test_mnist_5k_split_is_stratified_and_shuffled():
    ds = load_dataset("mnist-5k")
    assert len(ds.x_train) == 4000 and len(ds.x_test) == 1000
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert len(set(ds.y_train[:100].tolist())) == 10  # prefixes hold every class


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
