"""load_dataset: splits, normalization from the training split only, npz and csv, clear errors."""

import numpy as np
import pytest

from layerwise.data import load_dataset
from layerwise.errors import DataError


def test_digits_split_is_stratified_and_fixed_by_the_seed():
    a, b = load_dataset("digits", seed=1), load_dataset("digits", seed=1)
    c = load_dataset("digits", seed=2)
    assert np.array_equal(a.X_test, b.X_test) and not np.array_equal(a.X_test, c.X_test)
    assert a.X_train.shape[1:] == (1, 8, 8) and len(a.X_test) == 360
    assert len(a.X_train) + len(a.X_val) + len(a.X_test) == 1797
    counts = np.bincount(a.y_test) / len(a.y_test)
    assert np.all(np.abs(counts - 0.1) < 0.02)
    assert a.X_train.max() == 1.0 and a.X_train.dtype == np.float32


def test_standardize_uses_training_statistics_only(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, size=(200, 4))
    y = np.arange(200) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=X[:20] + 100, y_test=y[:20])
    d = load_dataset("npz", path=str(tmp_path / "d.npz"), normalize="standardize", val_fraction=0.2)
    assert np.allclose(d.X_train.mean(0), 0, atol=1e-5) and np.allclose(d.X_train.std(0), 1, atol=1e-4)
    assert d.X_test.mean() > 20  # shifted test data stays shifted: no statistics came from it
    s = load_dataset("npz", path=str(tmp_path / "d.npz"), normalize="scale", val_fraction=0.2)
    assert s.X_train.min() == 0 and s.X_train.max() == 1 and s.X_test.min() > 1


def test_csv_with_header_string_labels_and_named_label_column(tmp_path):
    path = tmp_path / "iris.csv"
    rows = ["sepal,species,petal"] + [f"{i % 7}.5,{'ab'[i % 2]},{i}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    d = load_dataset("csv", path=str(path), label_column="species", normalize="none", val_fraction=0)
    assert list(d.classes) == ["a", "b"] and d.X_train.shape[1] == 2 and len(d.X_val) == 0
    assert len(d.X_test) == 8


def test_csv_without_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("\n".join(f"{i},{i * 2},{i % 3}" for i in range(30)))
    d = load_dataset("csv", path=str(path), normalize="none", val_fraction=0)
    assert d.X_train.shape[1] == 2 and list(d.classes) == [0, 1, 2]


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,x\n2,3\n", "line 2, column 2 \\('b'\\): 'x' is not a number"),
    ("1,2,0\n1,0\n", "line 2 has 2 columns, expected 3"),
    ("", "the file is empty"),
])
def test_bad_csv_files_name_line_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_dataset("csv", path=str(path), label_column=0)


def test_bad_npz_files(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros((4, 2)))
    with pytest.raises(DataError, match="no array 'y'"):
        load_dataset("npz", path=str(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", X=np.zeros((4, 2)), y=np.zeros(3))
    with pytest.raises(DataError, match="X has 4 rows but y has shape"):
        load_dataset("npz", path=str(tmp_path / "b.npz"))
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset("npz", path=str(tmp_path / "c.npz"))
    with pytest.raises(DataError, match="no such file"):
        load_dataset("npz", path=str(tmp_path / "missing.npz"))
