"""Datasets as arrays, split and normalized: digits, mnist, fashion_mnist, diabetes, npz, csv, and plugins.

Images keep the shape (N, 1, H, W); flattening is a layer. Normalization statistics come from the
training split only.

A plugin adds a dataset to :data:`DATASETS` under a name: a function ``load(path)`` (``data.path``,
None when the config gives none) that returns ``(X, y)`` or ``(X, y, X_test, y_test)``; an attribute
``load.task = "regression"`` makes it a regression by default. Splitting, label encoding and
normalization are then the same as for the built-in sets.
"""

import difflib
import hashlib
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .._finite import first_nonfinite_row, nonfinite_words
from ..errors import DataError, MissingDataError
from ..registry import Registry, is_builtin
from .download import FILES, cache_dir, fetch_dataset_files
from .idx import read_idx
from .normalize import NORMALIZATIONS, Normalizer
from .tabular import _is_number, read_csv, read_npz


def _builtin(path=None):
    """The marker registered under each built-in name (it keeps plugins off those names): :func:`load_dataset`
    reads the built-in datasets itself, with their own options, so this is never called for data."""
    raise TypeError("the built-in datasets are read by load_dataset(name, ...), not by calling DATASETS[name]")


#: name -> loader; plugins add to it (see the module's docstring)
DATASETS = Registry("dataset", {name: _builtin for name in ("digits", "mnist", "fashion_mnist", "diabetes", "npz",
                                                             "csv")})
TASKS = ("classification", "regression")
# The task of the datasets that have one; npz and csv hold what the config says (data.task).
DATASET_TASKS = {"digits": "classification", "mnist": "classification", "fashion_mnist": "classification",
                 "diabetes": "regression"}
# Sample shape and class count of the datasets whose files have a fixed format (before they are read).
KNOWN_SHAPES = {"mnist": ((1, 28, 28), 10), "fashion_mnist": ((1, 28, 28), 10)}
IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


@dataclass(repr=False)
class Dataset:
    """Train / validation / test arrays; ``y_*`` are int64 codes into ``classes`` (classification)
    or real-valued targets (regression).

    Attributes
    ----------
    X_train, X_val, X_test : ndarray of shape (N, ...), C-contiguous
    y_train, y_val, y_test : ndarray of int64, shape (N,); regression: float, (N,) or (N, targets)
    classes : ndarray or None
        The original label values; ``classes[y]`` gives them back. None for a regression.
    name : str
    normalizer : Normalizer
        What was applied to every split; apply it to raw inputs of the same units.
    task : {"classification", "regression"}
    feature_names : list of str or None
        A csv file's header names of the feature columns (None for other datasets or without a header).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray
    name: str
    normalizer: Normalizer = None
    task: str = "classification"
    feature_names: list = None      # a csv file's header names of the feature columns
    fingerprint: str = None         # sha256 of the samples as read, before splitting (see fingerprint())

    @property
    def input_shape(self):
        """The shape of one sample, ``X_train.shape[1:]``."""
        return tuple(self.X_train.shape[1:])

    @property
    def n_classes(self):
        """The number of classes; None for a regression."""
        return None if self.classes is None else len(self.classes)

    @property
    def n_targets(self):
        """Regression: values to predict per sample (1 for targets of shape (N,)); None for a classification."""
        if self.task != "regression":
            return None
        return 1 if self.y_train.ndim == 1 else self.y_train.shape[1]

    def __repr__(self):
        what = f"n_classes={self.n_classes}" if self.task == "classification" else f"n_targets={self.n_targets}"
        return (f"Dataset({self.name!r}, train={len(self.X_train)}, val={len(self.X_val)}, "
                f"test={len(self.X_test)}, input_shape={self.input_shape}, {what})")


def _choice(what, value, valid):
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return DataError(f"Unknown {what} {value!r}; expected one of {', '.join(map(repr, valid))}.{hint}")


def _check_fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise DataError(f"The '{name}' parameter of load_dataset must be a float in [0, 1). Got {value!r} instead.")


def _split(idx, y, fraction, seed, where, what):
    """``(kept, held_out)`` sorted index arrays; stratified by ``y`` when every class allows it."""
    if fraction == 0:
        return idx, idx[:0]
    try:
        kept, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class with one sample, or fewer held-out slots than classes
        try:
            kept, held = train_test_split(idx, test_size=fraction, random_state=seed)
        except ValueError as e:
            raise DataError(f"{where}: cannot hold out a {what} split of {fraction} from {len(idx)} "
                            f"samples ({e}).") from None
    return np.sort(kept), np.sort(held)


def _idx_folder_arrays(name, path, download, mirrors, files):
    """uint8 images (N, 1, H, W) and labels for train and test from the four IDX files."""
    folder = Path(path) if path is not None else cache_dir() / name
    if folder.is_file():
        raise DataError(f"{folder}: is a file; for {name}, data.path must be the folder that holds "
                        f"{', '.join(IDX_FILES['train'] + IDX_FILES['test'])}.")
    if download:     # (a file there unpacked, without .gz, is taken as it is: not fetched again)
        wanted = FILES.get(name, {}) if files is None else files
        unpacked = {f for f in wanted if not (folder / f).is_file() and _idx_file(folder, f) is not None}
        if not unpacked:
            fetch_dataset_files(name, folder, mirrors, files)
        elif set(wanted) - unpacked:
            fetch_dataset_files(name, folder, mirrors, {f: d for f, d in wanted.items() if f not in unpacked})
    found = {f: _idx_file(folder, f) for f in IDX_FILES["train"] + IDX_FILES["test"]}
    missing = [f for f, p in found.items() if p is None]
    if missing:
        state = "" if folder.is_dir() else " (the folder does not exist)"
        raise MissingDataError(f"{name}: missing {', '.join(missing)} in {folder}{state} (gzipped, or unpacked without "
                               ".gz). Set data.download: true to fetch them (sha256-checked), or set data.path to a "
                               "folder that has them.")
    parts = []
    for images_file, labels_file in IDX_FILES.values():
        images_file, labels_file = found[images_file].name, found[labels_file].name
        images, labels = read_idx(folder / images_file), read_idx(folder / labels_file)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"{folder / images_file}: expected uint8 images of shape (N, H, W), got "
                            f"{images.dtype} of shape {images.shape}.")
        if labels.dtype.kind not in "iu":
            raise DataError(f"{folder / labels_file}: labels must be integers (IDX type uint8, int8, int16 or "
                            f"int32), got {labels.dtype}.")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{folder}: {images_file} holds {len(images)} images but {labels_file} holds "
                            f"labels of shape {labels.shape}; expected ({len(images)},).")
        bad = labels[(labels < 0) | (labels > 9)]
        if bad.size:
            raise DataError(f"{folder / labels_file}: labels must be 0 to 9, found {bad[0]} "
                            f"({bad.size} such labels).")
        parts += [images[:, None], labels.astype(np.int64)]
    if parts[0].shape[1:] != parts[2].shape[1:]:
        raise DataError(f"{folder}: train images are {parts[0].shape[2:]} but test images are "
                        f"{parts[2].shape[2:]}.")
    return parts


def _idx_file(folder, name):
    """``folder / name`` (``train-images-idx3-ubyte.gz``) if it is a file, else the same file unpacked (without
    .gz) if that is one, else None."""
    for path in (folder / name, folder / name.removesuffix(".gz")):
        if path.is_file():
            return path
    return None


def _encode(where, *ys):
    """Classes and int64 codes for each label array, over their union."""
    if len({y.dtype.kind in "US" for y in ys}) > 1:
        raise DataError(f"{where}: y holds {ys[0].dtype} labels but y_test holds {ys[1].dtype}; use one label "
                        "type for both.")
    if any(y.ndim != 1 for y in ys):
        raise DataError(f"{where}: class labels must be one per sample, shape (N,); got shape "
                        f"{next(y.shape for y in ys if y.ndim != 1)}. For several real-valued targets set "
                        "data.task: regression.")
    y_all = np.concatenate(ys)
    if np.issubdtype(y_all.dtype, np.floating) and not np.all(np.isfinite(y_all)):
        raise DataError(f"{where}: labels must be finite; found {y_all[~np.isfinite(y_all)][0]} "
                        f"({np.count_nonzero(~np.isfinite(y_all))} such labels).")
    if np.issubdtype(y_all.dtype, np.floating) and not np.all(y_all == np.round(y_all)):
        raise DataError(f"{where}: labels must be class labels (integers or strings); got non-integer "
                        "numbers. For real-valued targets set data.task: regression (loss mse, l1 or huber).")
    classes, codes = np.unique(y_all, return_inverse=True)
    bounds = np.cumsum([len(y) for y in ys])[:-1]
    return classes, [c.astype(np.int64) for c in np.split(codes.reshape(-1), bounds)]


def _check_finite(X, rows, where, which, source):
    """A DataError naming the first sample of ``X`` (rows ``rows`` of the array ``source`` it was cast from, or
    all) that holds NaN or inf, before any normalization spreads it; a value too large for ``X``'s dtype (1e39 in
    float32) counts, and is called that."""
    if source.dtype.kind in "bu" and source.dtype.itemsize == 1:
        return                  # (images: uint8 values are finite in every float dtype)
    i = first_nonfinite_row(X)
    if i is not None:
        row = i if rows is None else int(rows[i])
        raise DataError(f"{where}: {which}sample {row} (counting from 0) {nonfinite_words(X[i], source[row])}; every "
                        "feature must be a finite number.")


def _check_normalized(X, rows, where, which, how):
    """A DataError when normalizing made a value of ``X`` NaN or inf (finite before: :func:`_check_finite`): a
    min-max span or a value past the dtype's range, or a training span so small that dividing by it overflows."""
    i = first_nonfinite_row(X)
    if i is not None:
        j = int(np.argmin(np.isfinite(X[i]).reshape(-1)))
        raise DataError(f"{where}: normalize: {how} made feature {j} of {which}sample {i if rows is None else int(rows[i])} "
                        f"{X[i].reshape(-1)[j]} in {X.dtype.name}: that feature's values are too large, or its training "
                        f"values too close together, for {X.dtype.name}. Rescale the feature in the data, or set "
                        "training.dtype: float64.")


def _regression_targets(where, dtype, *ys):
    """Each target array as ``dtype``; a DataError when one is not numbers."""
    out = []
    for y in ys:
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            bad = next((v for v in y.reshape(-1) if not _is_number(v)), y.reshape(-1)[0])
            raise DataError(f"{where}: regression targets must be numbers; got {str(bad)!r}.")
        with np.errstate(over="ignore"):
            cast = y.astype(dtype)
        if not np.isfinite(cast).all():
            raise DataError(f"{where}: a regression target {nonfinite_words(cast, y)}.")
        out.append(cast)
    if len(out) == 2 and {out[0].shape[1:], out[1].shape[1:]} == {(), (1,)}:    # one target each, two ways
        out[1] = out[1].reshape(len(out[1]), *out[0].shape[1:])
    if len(out) == 2 and out[0].shape[1:] != out[1].shape[1:]:
        each = [f"{s[0]} per sample" if s else "one per sample" for s in (out[0].shape[1:], out[1].shape[1:])]
        raise DataError(f"{where}: the test targets are {each[1]} (shape {out[1].shape}) but the training targets "
                        f"{each[0]} (shape {out[0].shape}): give both as many targets per sample.")
    return out


def is_plugin_dataset(name):
    """True for a name a plugin put in :data:`DATASETS` (its loader reads ``data.path``, if it wants one)."""
    return DATASETS.get(name, _builtin) is not _builtin


def dataset_task(name):
    """The task a dataset is of by itself (``DATASET_TASKS``, a plugin loader's ``task``), or None (npz, csv)."""
    if is_plugin_dataset(name):
        return getattr(DATASETS[name], "task", None)
    return DATASET_TASKS.get(name)


def _plugin_arrays(dataset, path):
    """``(X, y, X_test, y_test)`` from a plugin's loader, or a DataError naming it and what it returned."""
    loader = DATASETS[dataset]
    name = getattr(loader, "__name__", repr(loader))       # a functools.partial has none
    try:
        out = loader(path)
    except DataError:
        raise
    except Exception as e:      # the plugin's own code: its error on one line (a built-in's is a bug)
        if is_builtin(loader):
            raise
        raise DataError(f"dataset {dataset!r}: {name}(path={path!r}) raised {type(e).__name__}: {e}") from e
    if not isinstance(out, tuple) or len(out) not in (2, 4):
        raise DataError(f"dataset {dataset!r}: {name} returned {type(out).__name__}"
                        f"{f' of {len(out)}' if isinstance(out, tuple) else ''}; a dataset loader returns (X, y) "
                        "or (X, y, X_test, y_test).")
    arrays = [np.asarray(a) for a in out] + [None] * (4 - len(out))
    for part, X, y in (("", arrays[0], arrays[1]), ("test ", arrays[2], arrays[3])):
        if X is not None and (X.ndim < 2 or X.dtype.kind not in "biuf" or y.ndim == 0 or len(X) != len(y)):
            raise DataError(f"dataset {dataset!r}: the {part}samples must be a numeric array (N, features...) with "
                            f"one target each; got X of shape {X.shape} ({X.dtype}) and y of shape {y.shape}.")
    return tuple(arrays)


def load_dataset(dataset, *, path=None, download=False, val_fraction=0.1, test_fraction=None, normalize="scale",
                 seed=0, label_column=-1, dtype=np.float32, mirrors=None, files=None, task=None, delimiter=",",
                 strict_test_fraction=True):
    """Load, split and normalize a dataset.

    Parameters
    ----------
    dataset : {"digits", "mnist", "fashion_mnist", "diabetes", "npz", "csv"}
        digits: scikit-learn's bundled 8x8 digits (no network). mnist, fashion_mnist: the four gzipped
        IDX files. diabetes: scikit-learn's bundled diabetes regression set (442 x 10, in its original
        units). npz: arrays ``X``, ``y`` and optionally ``X_test``, ``y_test``. csv: numeric
        features and a label column, header row optional.
    path : str or path-like, optional
        mnist, fashion_mnist: the folder of the IDX files (default ``cache_dir() / dataset``);
        npz, csv: the file (required).
    download : bool, default False
        mnist, fashion_mnist: fetch missing or damaged files, sha256-checked, from ``mirrors``.
    val_fraction : float in [0, 1), default 0.1
        Share of the training part held out for validation.
    test_fraction : float in (0, 1), default 0.2
        Share held out for testing, for datasets without an official test split (digits, csv, npz
        without ``X_test``). Given for data with its own test split, it is refused: it would do nothing (unless
        ``strict_test_fraction`` is False: a run read back, whose config records the value it was made with).
    normalize : {"scale", "standardize", "none"}, default "scale"
        scale: images divided by their known maximum (16 for digits, 255 for the IDX sets), other
        data min-max scaled per feature; standardize: per-feature mean 0 and std 1 (a std of 0 is
        taken as 1). Statistics come from the training split only.
    seed : int, default 0
        ``random_state`` of the splits.
    label_column : int or str, default -1
        csv: the label column's index (negative counts from the end) or header name.
    dtype : float dtype, default np.float32
        dtype of ``X_*``.
    mirrors : list of str, optional
        Base URLs to download from, overriding ``MIRRORS[dataset]``.
    files : dict of str to str, optional
        Filename to sha256 for the download, overriding the published checksums.
    task : {"classification", "regression"}, optional
        regression: ``y`` holds real-valued targets, kept as numbers (``dtype``), (N,) or (N, targets),
        and the splits are not stratified. Default: the dataset's own (``DATASET_TASKS``), else
        classification.
    delimiter : str, default ","
        csv: the one-character field separator (``";"``, ``"\\t"``).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown names or bad parameters, missing or damaged files; the message names the file.

    Notes
    -----
    Splits are stratified by class (``train_test_split`` with ``random_state=seed``); when a class is
    too small to stratify, that split falls back to a plain seeded shuffle split. Image sets are split
    by index while still uint8, and each part is converted to ``dtype`` and scaled in place, so an
    MNIST-sized set is never held twice in floating point.
    """
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise _choice("dataset", dataset, DATASETS)
    if normalize not in NORMALIZATIONS:
        raise _choice("normalize", normalize, NORMALIZATIONS)
    _check_fraction("val_fraction", val_fraction)
    given_test_fraction = test_fraction is not None
    test_fraction = 0.2 if test_fraction is None else test_fraction
    _check_fraction("test_fraction", test_fraction)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise DataError(f"The 'dtype' parameter of load_dataset must be a float dtype. Got {dtype} instead.")
    task = task or dataset_task(dataset) or "classification"
    if task not in TASKS:
        raise _choice("task", task, TASKS)
    image_max, classes, names = None, None, None
    if dataset == "digits":
        from sklearn.datasets import load_digits
        bunch = load_digits()
        X, y, X_test, y_test, image_max = bunch.images[:, None], bunch.target, None, None, 16.0
    elif dataset in ("mnist", "fashion_mnist"):
        X, y, X_test, y_test = _idx_folder_arrays(dataset, path, download, mirrors, files)
        image_max, classes = 255.0, np.arange(10)
    elif dataset == "diabetes":
        from sklearn.datasets import load_diabetes
        X, y = load_diabetes(return_X_y=True, scaled=False)
        X_test = y_test = None
    elif is_plugin_dataset(dataset):
        X, y, X_test, y_test = _plugin_arrays(dataset, path)
    elif path is None:
        raise DataError(f"Dataset {dataset!r} needs a path to its file (data.path).")
    elif dataset == "npz":
        X, y, X_test, y_test = read_npz(path)
    else:
        X, y, X_test, y_test, names = read_csv(path, label_column, delimiter=delimiter, feature_names=True)
    where = str(path) if path is not None else dataset
    if X_test is not None and X_test.shape[1:] != X.shape[1:]:
        raise DataError(f"{where}: the test samples have shape {X_test.shape[1:]} but the training samples "
                        f"{X.shape[1:]}: both must be samples of one shape.")
    if len(X) == 0:
        raise DataError(f"{where}: no samples.")
    if X_test is not None and len(X_test) == 0:
        own = "X_test" if dataset == "npz" else "the test files (t10k-*)"
        raise DataError(f"{where}: no test samples: {own} hold none"
                        f"{'; leave X_test and y_test out to hold out data.test_fraction instead' if dataset == 'npz' else ''}.")
    if X_test is not None and given_test_fraction and strict_test_fraction:
        raise DataError(f"{where}: test_fraction {test_fraction:g} does nothing: the data has its own test split "
                        f"({'X_test and y_test' if dataset == 'npz' else 'its test files'}); remove it.")
    regression = task == "regression"
    if regression:
        classes, (y, *rest) = None, _regression_targets(where, dtype, y, *([] if y_test is None else [y_test]))
        y_test = rest[0] if rest else None
    elif classes is None:
        classes, codes = _encode(where, y, *([] if y_test is None else [y_test]))
        y, y_test = codes[0], (codes[1] if len(codes) > 1 else None)
    fp = fingerprint(X, y, X_test, y_test, classes)
    strata = None if regression else y
    idx = np.arange(len(X))
    test_idx = None
    if X_test is None:
        idx, test_idx = _split(idx, strata, test_fraction, seed, where, "test")
    train_idx, val_idx = _split(idx, None if regression else y[idx], val_fraction, seed, where, "validation")
    if len(train_idx) == 0:
        raise DataError(f"{where}: no training samples are left after the validation and test splits.")

    def take(source, rows):  # index the raw (uint8 for images) array first, then convert only that part
        with np.errstate(over="ignore"):    # a value too large for dtype: _check_finite names its sample
            return np.ascontiguousarray(source if rows is None else source[rows], dtype=dtype)

    X_train, X_val = take(X, train_idx), take(X, val_idx)
    X_te = take(X, test_idx) if X_test is None else take(X_test, None)
    for part, rows, separate in ((X_train, train_idx, False), (X_val, val_idx, False), (X_te, test_idx, X_test is not None)):
        # rows of X are named by their place in X; those of a separate test set by theirs, as test samples
        _check_finite(part, rows, where, "test " if separate else "", X_test if separate else X)
    y_te = y[test_idx] if X_test is None else y_test
    del X, X_test
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):    # _check_normalized says it in words
        normalizer = Normalizer.fit(normalize, X_train, image_max)
        for part in (X_train, X_val, X_te):
            normalizer(part)
    for part, rows, which in ((X_train, train_idx, ""), (X_val, val_idx, ""),
                              (X_te, test_idx, "" if test_idx is not None else "test ")):
        _check_normalized(part, rows, where, which, normalize)
    y_te = np.asarray(y_te, y.dtype if regression else np.int64)
    return Dataset(X_train, y[train_idx], X_val, y[val_idx], X_te, y_te, classes, dataset, normalizer, task, names,
                   fp)


def fingerprint(*parts):
    """sha256 (hex) of arrays as read from their files (before splitting and normalizing, which are computed
    in floating point, so may differ in the last bit from one machine to another): a resumed run checks that
    ``data.path`` still holds the data it was trained on. None parts count as absent; object arrays (string
    labels) by their text."""
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"none;")
            continue
        a = np.asarray(part)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        if a.dtype.kind == "O":
            digest.update(repr(a.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8) if a.size else b"")
    return digest.hexdigest()
