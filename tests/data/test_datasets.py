"""load_dataset: splits, normalization from the training split only, IDX folders, npz and csv, errors."""

import gzip
import tracemalloc

import numpy as np
import pytest

from layerwise.data import DATASETS, Dataset, load_dataset, write_idx
from layerwise.errors import DataError, DownloadError

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def check_layout(d, dtype=np.float32):
    for X, y in ((d.X_train, d.y_train), (d.X_val, d.y_val), (d.X_test, d.y_test)):
        assert X.dtype == dtype and X.flags.c_contiguous and X.shape[1:] == d.input_shape
        assert y.dtype == np.int64 and y.shape == (len(X),)
        assert len(y) == 0 or 0 <= y.min() <= y.max() < d.n_classes


# -- digits ---------------------------------------------------------------------------------------
def test_digits_split_is_stratified_and_fixed_by_the_seed():
    a, b, c = load_dataset("digits", seed=1), load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert np.array_equal(a.X_test, b.X_test) and np.array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.X_test, c.X_test)
    check_layout(a)
    assert a.input_shape == (1, 8, 8) and a.n_classes == 10 and list(a.classes) == list(range(10))
    assert (len(a.X_train), len(a.X_val), len(a.X_test)) == (1293, 144, 360)
    whole = np.bincount(np.concatenate([a.y_train, a.y_val, a.y_test])) / 1797
    for y in (a.y_train, a.y_val, a.y_test):
        assert np.abs(np.bincount(y, minlength=10) / len(y) - whole).max() < 0.01
    assert a.X_train.min() == 0 and a.X_train.max() == 1.0  # divided by 16
    assert repr(a) == "Dataset('digits', train=1293, val=144, test=360, input_shape=(1, 8, 8), n_classes=10)"


def test_val_fraction_zero_gives_empty_arrays_of_the_right_shape():
    d = load_dataset("digits", val_fraction=0, normalize="none", dtype=np.float64)
    check_layout(d, np.float64)
    assert d.X_val.shape == (0, 1, 8, 8) and d.y_val.shape == (0,) and d.X_train.max() == 16


def test_digits_standardize_uses_training_statistics():
    d = load_dataset("digits", normalize="standardize", dtype=np.float64)
    flat = d.X_train.reshape(len(d.X_train), -1)
    assert np.allclose(flat.mean(0), 0, atol=1e-9)
    assert np.allclose(flat.std(0)[flat.std(0) > 0], 1)


# -- mnist-style IDX folders ----------------------------------------------------------------------
def test_mnist_from_a_folder(tmp_path, fake_mnist):
    fake_mnist(tmp_path, n_train=50, n_test=10)
    d = load_dataset("mnist", path=str(tmp_path), val_fraction=0.2)
    check_layout(d)
    assert d.X_train.shape == (40, 1, 28, 28) and d.X_val.shape == (10, 1, 28, 28)
    assert d.X_test.shape == (10, 1, 28, 28) and list(d.classes) == list(range(10))
    assert np.bincount(d.y_val).tolist() == [1] * 10  # stratified
    assert d.X_train.min() >= 0 and d.X_train.max() <= 1 and d.X_test.max() == 1.0  # divided by 255
    assert d.name == "mnist"


def test_mnist_whose_test_files_hold_no_images_is_refused(tmp_path, fake_mnist):
    fake_mnist(tmp_path, n_train=50, n_test=0)
    with pytest.raises(DataError, match=r"no test samples: the test files \(t10k-\*\) hold none"):
        load_dataset("mnist", path=str(tmp_path))


def test_fashion_mnist_with_small_images(tmp_path, fake_mnist):
    fake_mnist(tmp_path, side=4)
    d = load_dataset("fashion_mnist", path=tmp_path, val_fraction=0)
    assert d.input_shape == (1, 4, 4) and len(d.X_train) == 40 and len(d.X_test) == 10


def test_mnist_download_then_load_from_the_cache(server, tmp_path, monkeypatch, fake_mnist):
    files = fake_mnist(server.folder)
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "cache"))
    d = load_dataset("mnist", download=True, mirrors=[server.url], files=files, val_fraction=0.25)
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(IDX_NAMES)
    assert d.X_train.shape == (30, 1, 28, 28) and d.X_val.shape == (10, 1, 28, 28)
    assert len(server.hits) == 4
    again = load_dataset("mnist", download=True, mirrors=[server.url], files=files, val_fraction=0.25)
    assert len(server.hits) == 4 and np.array_equal(again.X_train, d.X_train)  # intact files are kept


def test_mnist_download_failure_is_a_download_error(closed_port, tmp_path, fake_mnist):
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz: no mirror delivered it: .*refused"):
        load_dataset("mnist", path=tmp_path / "new", download=True, mirrors=[closed_port])


def test_mnist_missing_files_without_download_say_what_to_do(tmp_path, fake_mnist):
    with pytest.raises(DataError, match=f"missing {', '.join(IDX_NAMES)} in {tmp_path}.*data.download: true"):
        load_dataset("mnist", path=str(tmp_path))
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"^mnist: missing t10k-labels-idx1-ubyte.gz in "):
        load_dataset("mnist", path=str(tmp_path))
    with pytest.raises(DataError, match="the folder does not exist"):
        load_dataset("mnist", path=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="is a file; for mnist, data.path must be the folder"):
        load_dataset("mnist", path=str(tmp_path / "train-images-idx3-ubyte.gz"))


def test_mnist_inconsistent_files_are_named(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz holds 40 images but "
                                        r"train-labels-idx1-ubyte.gz holds labels of shape \(39,\)"):
        load_dataset("mnist", path=tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(40, 12, np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: labels must be 0 to 9, found 12"):
        load_dataset("mnist", path=tmp_path)
    # float labels (IDX type 0x0D) would be cut to integers: 3.7 read as 3, NaN as a huge negative number
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(40, 3.7, np.float32))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: labels must be integers .*, got float32"):
        load_dataset("mnist", path=tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(40, np.uint8))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bjunk")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        load_dataset("mnist", path=tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"junk")       # not gzip at all: read as IDX
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: bad IDX magic number 0x6a756e6b"):
        load_dataset("mnist", path=tmp_path)


def test_mnist_files_unpacked_without_gz_are_read(tmp_path, fake_mnist):
    """The folder had the four files gunzipped (as some tools leave them): 'missing train-images-idx3-ubyte.gz,
    ...', with no word that the unpacked files were right there."""
    sha = fake_mnist(tmp_path / "packed")
    packed = load_dataset("mnist", path=tmp_path / "packed")
    (tmp_path / "mixed").mkdir()
    for i, f in enumerate(sorted((tmp_path / "packed").iterdir())):
        data = f.read_bytes()
        if i % 2:
            (tmp_path / "mixed" / f.name).write_bytes(data)
        else:
            (tmp_path / "mixed" / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    mixed = load_dataset("mnist", path=tmp_path / "mixed")
    np.testing.assert_array_equal(mixed.X_train, packed.X_train)
    np.testing.assert_array_equal(mixed.y_test, packed.y_test)
    assert mixed.fingerprint == packed.fingerprint
    # unpacked files are not fetched again: offline, with download on, the folder loads as it is
    offline = load_dataset("mnist", path=tmp_path / "mixed", download=True, mirrors=["http://127.0.0.1:1/"],
                           files=sha)
    np.testing.assert_array_equal(offline.X_train, packed.X_train)
    (tmp_path / "mixed" / "t10k-labels-idx1-ubyte").unlink(missing_ok=True)
    (tmp_path / "mixed" / "t10k-labels-idx1-ubyte.gz").unlink(missing_ok=True)
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte.gz in .* \(gzipped, or unpacked without "):
        load_dataset("mnist", path=tmp_path / "mixed")


@pytest.mark.parametrize("normalize", ["scale", "standardize"])
def test_mnist_sized_data_is_never_held_twice_in_float32(tmp_path, fake_mnist, normalize):
    n = 6000
    fake_mnist(tmp_path, n_train=n, n_test=10)
    float_bytes = (n + 10) * 28 * 28 * 4
    tracemalloc.start()
    try:
        load_dataset("mnist", path=tmp_path, normalize=normalize)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the float32 parts, the uint8 images and small change; converting before splitting needs 2x
    assert peak < 1.5 * float_bytes


# -- npz ------------------------------------------------------------------------------------------
def test_npz_keeps_the_sample_shape_and_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array(["cat", "dog", "emu"])[np.arange(60) % 3]
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(60, 2, 3)), y=y)
    d = load_dataset("npz", path=tmp_path / "d.npz")
    check_layout(d)
    assert d.input_shape == (2, 3) and list(d.classes) == ["cat", "dog", "emu"] and len(d.X_test) == 12
    np.savez(tmp_path / "t.npz", X=rng.normal(size=(30, 4)), y=np.arange(30) % 2, X_test=np.ones((5, 4)),
             y_test=np.array([0, 1, 2, 1, 0]))
    t = load_dataset("npz", path=tmp_path / "t.npz", val_fraction=0)
    assert len(t.X_train) == 30 and len(t.X_test) == 5 and t.n_classes == 3  # official test split kept


def test_normalization_uses_training_statistics_only(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, size=(200, 4))
    X[:, 3] = 7.0  # a constant feature
    y = np.arange(200) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=X[:20] + 100, y_test=y[:20])
    d = load_dataset("npz", path=tmp_path / "d.npz", normalize="standardize", val_fraction=0.2, dtype=np.float64)
    assert np.allclose(d.X_train.mean(0), 0) and np.allclose(d.X_train.std(0)[:3], 1)
    assert np.all(d.X_train[:, 3] == 0) and np.allclose(d.X_test[:, 3], 100)  # std 0 taken as 1
    assert d.X_test[:, :3].mean() > 20 and abs(d.X_val.mean()) < 0.5  # nothing learned from val or test
    s = load_dataset("npz", path=tmp_path / "d.npz", normalize="scale", val_fraction=0.2)
    assert s.X_train[:, :3].min() == 0 and s.X_train[:, :3].max() == 1 and s.X_test[:, :3].min() > 1
    assert np.all(s.X_train[:, 3] == 0)
    raw = load_dataset("npz", path=tmp_path / "d.npz", normalize="none", val_fraction=0.2)
    assert raw.X_test.min() > 80


@pytest.mark.parametrize("arrays, message", [
    (dict(X=np.zeros((4, 2))), "no array 'y' \\(found X\\)"),
    (dict(X=np.zeros((4, 2)), y=np.zeros(3)), r"X has 4 rows but y has shape \(3,\); expected \(4,\)"),
    (dict(X=np.zeros(4), y=np.zeros(4)), r"X has shape \(4,\); expected \(N, features...\)"),
    (dict(X=np.zeros((4, 2)), y=np.zeros(4), X_test=np.zeros((2, 2))), "has X_test but no y_test"),
    (dict(X=np.zeros((4, 2)), y=np.zeros(4), X_test=np.zeros((2, 3)), y_test=np.zeros(2)),
     r"X_test samples have shape \(3,\) but X samples have \(2,\)"),
    (dict(X=np.array([[1.0], [np.nan]]), y=np.zeros(2)), r"X holds NaN or infinite values \(first in sample 1\)"),
    (dict(X=np.zeros((4, 1)), y=np.array([0.5, 1, 2, 3])), "labels must be class labels"),
    (dict(X=np.zeros((4, 1)), y=np.array(list("abab")), X_test=np.zeros((1, 1)), y_test=np.array([1])),
     "y holds <U1 labels but y_test holds int64"),
    (dict(X=np.zeros((4, 1)), y=np.array([0, 1, 0, 1]), X_test=np.zeros((0, 1)), y_test=np.zeros(0, int)),
     "no test samples: X_test hold none; leave X_test and y_test out"),
])
def test_bad_npz_files(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        load_dataset("npz", path=str(tmp_path / "bad.npz"))
    assert str(tmp_path / "bad.npz") in str(err.value)


def test_unreadable_or_missing_npz(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="c.npz: not a readable .npz"):
        load_dataset("npz", path=str(tmp_path / "c.npz"))
    with pytest.raises(DataError, match="missing.npz: no such file"):
        load_dataset("npz", path=str(tmp_path / "missing.npz"))
    with pytest.raises(DataError, match="needs a path to its file"):
        load_dataset("npz")


# -- csv ------------------------------------------------------------------------------------------
def test_csv_with_header_string_labels_and_named_label_column(tmp_path):
    path = tmp_path / "iris.csv"
    rows = ["sepal,species,petal"] + [f"{i % 7}.5,{'ab'[i % 2]},{i}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    d = load_dataset("csv", path=str(path), label_column="species", normalize="none", val_fraction=0)
    assert list(d.classes) == ["a", "b"] and d.X_train.shape == (32, 2) and len(d.X_test) == 8
    assert set(d.X_train[:, 1]) <= set(range(40))  # the petal column


def test_csv_without_header_and_with_string_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("\n".join(f"{i},{i * 2},{'xyz'[i % 3]}" for i in range(30)))
    d = load_dataset("csv", path=str(path), normalize="none", val_fraction=0)
    assert d.X_train.shape[1] == 2 and list(d.classes) == ["x", "y", "z"] and len(d.X_train) == 24
    path.write_text("\n".join(f"{i % 3},{i},{i * 2}" for i in range(30)))
    d = load_dataset("csv", path=str(path), label_column=0, val_fraction=0)
    assert list(d.classes) == [0, 1, 2] and d.X_train.min() == 0 and d.X_train.max() == 1


@pytest.mark.parametrize("text, label_column, message", [
    ("a,b,c\n1,x,0\n2,3,1\n", -1, r"line 2, column 2 \('b'\): 'x' is not a number"),
    ("a,b,c\n1,,0\n", -1, r"line 2, column 2 \('b'\): an empty cell"),
    ("1,,0\n1,2,0\n", -1, r"line 1, column 2: an empty cell"),      # a data row, not a header
    ("1,2,0\n\n1,inf,0\n", -1, "line 3, column 2: 'inf' is not a finite number"),
    # labels: inf and NaN are numbers but no class (inf was a class of its own, as int64's smallest value)
    ("1,2,0\n1,3,inf\n1,4,1\n", -1, r"line 2, column 3: the label 'inf' is not a finite number \(1 such"),
    ("1,2,nan\n1,3,0\n1,4,1\n", -1, r"line 1, column 3: the label 'nan' is not a finite number"),
    ("1,2,0\n1,0\n", -1, "line 2 has 2 columns, expected 3"),
    ("1,2,\n", -1, "line 1, column 3: the label is empty"),
    ("", -1, "the file is empty"),
    ("a,b\n", -1, "no data rows after the header"),
    ("a,b\n1,0\n", "label", r"no column named 'label'; the columns are 'a', 'b'"),
    ("1,0\n2,1\n", "label", "is a column name, but the file has no header row"),
    ("1,0\n2,1\n", 5, "label_column 5 is out of range for 2 columns"),
])
def test_bad_csv_files_name_line_and_column(tmp_path, text, label_column, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        load_dataset("csv", path=str(path), label_column=label_column)
    assert str(err.value).startswith(f"{path}: ")


# -- parameters and splits ------------------------------------------------------------------------
def test_a_class_too_small_to_stratify_falls_back_to_a_plain_split(tmp_path):
    y = np.array([0] * 20 + [1] * 20 + [2])
    np.savez(tmp_path / "d.npz", X=np.arange(41.0)[:, None], y=y)
    d = load_dataset("npz", path=tmp_path / "d.npz")
    assert len(d.X_train) + len(d.X_val) + len(d.X_test) == 41 and d.n_classes == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="mnst"), "Unknown dataset 'mnst'; expected one of 'digits', 'mnist', 'fashion_mnist', 'diabetes', "
                           "'npz', 'csv'. Did you mean 'mnist'?"),
    (dict(dataset="digits", normalize="minmax"), "Unknown normalize 'minmax'; expected one of 'scale'"),
    (dict(dataset="digits", val_fraction=1.0), "The 'val_fraction' parameter of load_dataset must be a float "
                                               r"in \[0, 1\). Got 1.0 instead."),
    (dict(dataset="digits", test_fraction=-0.1), "'test_fraction' parameter"),
    (dict(dataset="digits", dtype=np.int32), "must be a float dtype. Got int32 instead."),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(DataError, match=message):
        load_dataset(**kwargs)


def test_public_names():
    assert list(DATASETS) == ["digits", "mnist", "fashion_mnist", "diabetes", "npz", "csv"]
    assert {"input_shape", "n_classes"} <= set(dir(Dataset))


@pytest.mark.parametrize("first, warning", [
    ("5.1,abc,0", r"line 1 is read as the header .* but its column 1 holds a number, 5.1: if line 1 is data"),
    ("0,1,species", r"line 1 is read as data, and its label 'species' is in no other row"),
])
def test_an_ambiguous_first_csv_row_is_read_one_way_and_said_so(tmp_path, first, warning):
    from layerwise.errors import LayerwiseWarning
    path = tmp_path / "d.csv"
    path.write_text(first + "\n" + "\n".join(f"{i},{i / 2},{'ab'[i % 2]}" for i in range(20)) + "\n")
    with pytest.warns(LayerwiseWarning, match=warning):
        load_dataset("csv", path=str(path), val_fraction=0)


def test_a_plain_header_or_a_headerless_file_gives_no_warning(tmp_path):
    import warnings
    path = tmp_path / "d.csv"
    body = "\n".join(f"{i},{i / 2},{'ab'[i % 2]}" for i in range(20)) + "\n"
    for text in ("x,y,label\n" + body, body, "5.0,3.0,rare\n" + body):    # a rare class in row 1 is data
        path.write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_dataset("csv", path=str(path), val_fraction=0)


def damaged_npz_files(folder):
    """``name -> (path, the message's end)`` for npz files that NumPy reads with a traceback or misreads."""
    X, y = np.zeros((4, 3)), np.arange(4)
    np.savez(folder / "good.npz", X=X, y=y)
    (folder / "truncated.npz").write_bytes((folder / "good.npz").read_bytes()[:300])
    np.save(folder / "single.npy", X)
    (folder / "single.npy").rename(folder / "single.npz")
    np.savez(folder / "objects.npz", X=np.array([[1, "a"]], dtype=object), y=np.array([1]))   # pickled
    np.savez(folder / "complex.npz", X=X + 1j, y=y)
    return {"truncated": "not a readable .npz file (a damaged or truncated zip archive).",
            "single": "holds a single array (an .npy file); expected an .npz archive with X and y.",
            "objects": "array 'X' holds Python objects, which only pickle can read (never done here)",
            "complex": "X must hold real numbers, got dtype complex128."}


def test_damaged_or_unusual_npz_files_are_one_clear_error(tmp_path):
    for name, says in damaged_npz_files(tmp_path).items():
        with pytest.raises(DataError) as err:
            load_dataset("npz", path=str(tmp_path / f"{name}.npz"))
        assert str(err.value).startswith(f"{tmp_path / name}.npz: ") and says in str(err.value), name


def test_a_label_beyond_int64_stays_a_class_of_its_own(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("".join(f"{i / 10},{[0, 1, '1e20'][i % 3]}\n" for i in range(30)))
    d = load_dataset("csv", path=str(path), val_fraction=0, test_fraction=0)
    assert list(d.classes) == [0, 1, 1e20]     # a cast to int64 wrapped 1e20 to -9223372036854775808


@pytest.mark.parametrize("kind", ["csv", "plugin", "plugin test"])
def test_a_non_finite_feature_is_refused_naming_its_sample(tmp_path, monkeypatch, kind):
    """NaN, or a value that float32 cannot hold (1e39), is refused before the normalization spreads it over
    every sample, naming the sample wherever the split puts it: the trainer stopped later, at a NaN in every
    row, with a traceback."""
    rng = np.random.default_rng(0)
    for row in range(0, 40, 3):      # rows of the training, validation and test parts alike
        X, y = rng.random((40, 3)), np.arange(40) % 2
        X[row, 1] = 1e39 if kind == "csv" else np.nan
        if kind == "csv":
            where = tmp_path / "big.csv"
            where.write_text("".join(",".join(map(repr, [*map(float, r), int(c)])) + "\n" for r, c in zip(X, y)))
        else:
            where = "nanset"
            # a separate test set holds the value: named as a test sample; X itself is clean
            data = (X, y) if kind == "plugin" else (np.zeros((20, 3)), y[:20], X, y)
            monkeypatch.setitem(DATASETS, "nanset", lambda path, data=data: data)
        with pytest.raises(DataError) as err:
            load_dataset("csv" if kind == "csv" else "nanset", path=str(where) if kind == "csv" else None,
                         normalize="standardize")
        sample = f"test sample {row}" if kind == "plugin test" else f"sample {row}"
        what = ("holds 1e+39, too large for float32 (whose largest value is 3.403e+38)" if kind == "csv"
                else "holds NaN or an infinite value")
        assert str(err.value) == f"{where}: {sample} (counting from 0) {what}; every feature must be a finite number."


@pytest.mark.parametrize("block", [1, 7, 1 << 22])
def test_the_first_non_finite_sample_is_found_in_blocks(block):
    from layerwise._finite import first_nonfinite_row
    X = np.zeros((50, 3, 2))
    assert first_nonfinite_row(X, block) is None and first_nonfinite_row(np.zeros((0, 3)), block) is None
    X[31, 2, 1], X[44, 0, 0] = np.inf, np.nan
    assert first_nonfinite_row(X, block) == 31
    assert first_nonfinite_row(X[::-1], block) == 5           # strided: no copy of the whole array
    assert first_nonfinite_row(X[:, 0, 0], block) == 44       # one value per sample
    assert first_nonfinite_row(np.arange(5), block) is None   # integers are finite


def test_a_test_fraction_given_for_data_with_its_own_test_split_is_refused(tmp_path):
    """It was ignored without a word: an npz file's X_test and y_test were the test split whatever the fraction."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", X=rng.normal(size=(40, 3)), y=np.arange(40) % 2, X_test=rng.normal(size=(8, 3)),
             y_test=np.arange(8) % 2)
    with pytest.raises(DataError, match=r"t\.npz: test_fraction 0\.5 does nothing: the data has its own test split "
                                        r"\(X_test and y_test\); remove it\."):
        load_dataset("npz", path=tmp_path / "t.npz", test_fraction=0.5)
    assert len(load_dataset("npz", path=tmp_path / "t.npz").X_test) == 8
    assert len(load_dataset("digits", test_fraction=0.5).X_test) == 899
