"""Datasets as arrays, split and normalized: digits, mnist, fashion_mnist, npz, csv.

Images keep the shape (N, 1, H, W); flattening is a layer. Normalization statistics come from the
training split only.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import DataError
from .download import FILES, cache_dir, fetch_dataset_files
from .idx import read_idx

DATASETS = ("digits", "mnist", "fashion_mnist", "npz", "csv")


@dataclass
class Dataset:
    """Train / validation / test arrays; ``y_*`` are int64 codes into ``classes``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray
    name: str

    @property
    def input_shape(self):
        return tuple(self.X_train.shape[1:])

    @property
    def n_classes(self):
        return len(self.classes)


def _split(n, y, fraction, seed, what):
    """Stratified index split; falls back to a plain shuffle split when a class is too small."""
    idx = np.arange(n)
    if fraction == 0:
        return idx, idx[:0]
    try:
        return train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:
        try:
            return train_test_split(idx, test_size=fraction, random_state=seed)
        except ValueError as e:
            raise DataError(f"cannot split {n} samples for {what}: {e}") from None


def _mnist_arrays(name, path, download, mirrors):
    folder = Path(path) if path else cache_dir() / name
    files = FILES[name]
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        if not download:
            raise DataError(f"{folder}: missing {', '.join(missing)}. Put the four IDX .gz files there, set "
                            "data.path to their folder, or set data.download: true to fetch them.")
        fetch_dataset_files(name, folder, mirrors)
    X, y = read_idx(folder / "train-images-idx3-ubyte.gz"), read_idx(folder / "train-labels-idx1-ubyte.gz")
    X_te, y_te = read_idx(folder / "t10k-images-idx3-ubyte.gz"), read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    for images, labels, part in ((X, y, "train"), (X_te, y_te, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {part}-images has shape {images.shape} but {part}-labels has shape "
                            f"{labels.shape}; expected (N, H, W) images and N labels.")
        if labels.size and labels.max() > 9:
            raise DataError(f"{folder}: {part}-labels holds label {labels.max()}; expected 0 to 9.")
    return X[:, None], y, X_te[:, None], y_te


def _npz_arrays(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e}).") from None
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(f"{path}: no array '{key}' (found {', '.join(arrays) or 'none'}); expected X and y.")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: X_test and y_test must come together.")
    for xs, ys in (("X", "y"), ("X_test", "y_test")):
        if xs in arrays and (arrays[ys].ndim != 1 or len(arrays[xs]) != len(arrays[ys])):
            raise DataError(f"{path}: {xs} has {len(arrays[xs])} rows but {ys} has shape {arrays[ys].shape}.")
        if xs in arrays and not np.issubdtype(arrays[xs].dtype, np.number):
            raise DataError(f"{path}: {xs} must be numeric, got dtype {arrays[xs].dtype}.")
    if "X_test" in arrays and arrays["X_test"].shape[1:] != arrays["X"].shape[1:]:
        raise DataError(f"{path}: X_test samples have shape {arrays['X_test'].shape[1:]}, X has {arrays['X'].shape[1:]}.")
    return arrays["X"], arrays["y"], arrays.get("X_test"), arrays.get("y_test")


def _csv_arrays(path, label_column):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: the file is empty.")

    def numeric(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = None if all(numeric(c) for c in rows[0] if c.strip()) else rows[0]
    body = rows[1:] if header else rows
    width = len(rows[0])
    if isinstance(label_column, str):
        if header is None or label_column not in header:
            raise DataError(f"{path}: no column named {label_column!r} (columns: "
                            f"{', '.join(header) if header else 'no header row'}).")
        label_column = header.index(label_column)
    if not -width <= label_column < width:
        raise DataError(f"{path}: label_column {label_column} is out of range for {width} columns.")
    label_column %= width
    X = np.empty((len(body), width - 1))
    y = []
    for i, row in enumerate(body):
        line = i + (2 if header else 1)
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} columns, expected {width}.")
        y.append(row[label_column].strip())
        for j, cell in enumerate(c for k, c in enumerate(row) if k != label_column):
            try:
                X[i, j] = float(cell)
            except ValueError:
                col = j if j < label_column else j + 1
                name = f" ({header[col]!r})" if header else ""
                raise DataError(f"{path}: line {line}, column {col + 1}{name}: {cell!r} is not a number.") from None
    if not body:
        raise DataError(f"{path}: no data rows.")
    y = np.array(y)
    if all(numeric(v) for v in y):
        yf = y.astype(np.float64)
        y = yf.astype(np.int64) if np.all(yf == np.round(yf)) else yf
    return X, y, None, None


def _encode(y_parts, where):
    y_all = np.concatenate([np.asarray(p) for p in y_parts])
    if np.issubdtype(y_all.dtype, np.floating) and not np.all(y_all == np.round(y_all)):
        raise DataError(f"{where}: labels must be class labels (ints or strings); got non-integer values.")
    classes, codes = np.unique(y_all, return_inverse=True)
    out, start = [], 0
    for p in y_parts:
        out.append(codes[start:start + len(p)].astype(np.int64))
        start += len(p)
    return classes, out


def load_dataset(dataset, *, path=None, download=False, val_fraction=0.1, test_fraction=0.2, normalize="scale",
                 seed=0, label_column=-1, dtype=np.float32, mirrors=None):
    """Load, split and normalize a dataset.

    Parameters
    ----------
    dataset : {"digits", "mnist", "fashion_mnist", "npz", "csv"}
    path : str, optional
        MNIST-style: the folder of the four IDX .gz files (default: the cache folder);
        npz / csv: the file.
    download : bool
        MNIST-style: fetch missing files (sha256-checked) from ``mirrors``.
    val_fraction, test_fraction : float
        Stratified hold-outs; the test split is only made for datasets without an official one.
    normalize : {"scale", "standardize", "none"}
        ``scale``: images by their known maximum, other data min-max per feature;
        ``standardize``: per-feature mean and std. Statistics come from the training split.

    Returns
    -------
    Dataset
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}.")
    if normalize not in ("scale", "standardize", "none"):
        raise DataError(f"unknown normalize {normalize!r}; expected scale, standardize or none.")
    image_max = None
    if dataset == "digits":
        from sklearn.datasets import load_digits
        bunch = load_digits()
        X, y, X_test, y_test, image_max = bunch.images[:, None], bunch.target, None, None, 16.0
    elif dataset in ("mnist", "fashion_mnist"):
        X, y, X_test, y_test = _mnist_arrays(dataset, path, download, mirrors)
        image_max = 255.0
    elif path is None:
        raise DataError(f"dataset {dataset!r} needs data.path.")
    elif dataset == "npz":
        X, y, X_test, y_test = _npz_arrays(path)
    else:
        X, y, X_test, y_test = _csv_arrays(path, label_column)
    where = path or dataset
    if len(X) == 0:
        raise DataError(f"{where}: no samples.")
    classes, codes = _encode([y] if X_test is None else [y, y_test], where)
    y = codes[0]
    if X_test is None:
        rest, test = _split(len(X), y, test_fraction, seed, "the test split")
        X_test_idx = test
    else:
        rest, X_test_idx = np.arange(len(X)), None
    tr, va = _split(len(rest), y[rest], val_fraction, seed, "the validation split")
    train_idx, val_idx = np.sort(rest[tr]), np.sort(rest[va])

    def take(source, idx):  # index the raw (uint8 for images) arrays first, then convert: one float copy
        part = source if idx is None else source[idx]
        return np.ascontiguousarray(part, dtype=dtype)

    X_train, X_val = take(X, train_idx), take(X, val_idx)
    X_te = take(X, X_test_idx) if X_test is None else take(X_test, None)
    y_train, y_val = y[train_idx], y[val_idx]
    y_te = y[X_test_idx] if X_test is None else codes[1]
    del X, X_test
    _normalize(normalize, image_max, X_train, X_val, X_te)
    return Dataset(X_train, y_train, X_val, y_val, X_te, y_te, classes, dataset)


def _normalize(how, image_max, *parts):
    train = parts[0]
    if how == "none":
        return
    if how == "scale" and image_max is not None:
        for p in parts:
            p *= 1.0 / image_max
        return
    axis = 0
    if how == "scale":
        low, high = train.min(axis=axis), train.max(axis=axis)
        span = high - low
        span[span == 0] = 1
        shift, factor = low, 1.0 / span
    else:
        shift, std = train.mean(axis=axis, dtype=np.float64), train.std(axis=axis, dtype=np.float64)
        std[std == 0] = 1
        factor = 1.0 / std
    shift, factor = shift.astype(train.dtype), np.asarray(factor).astype(train.dtype)
    for p in parts:
        p -= shift
        p *= factor
