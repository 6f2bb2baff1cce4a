"""CSV options (delimiter, a pandas index column) and regression targets in load_dataset."""

import warnings

import numpy as np
import pytest

from layerwise.data import load_dataset
from layerwise.errors import DataError, LayerwiseWarning


def test_a_delimiter_reads_a_semicolon_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a;b;label\n1;2;x\n3;4;y\n5;6;x\n7;8;y\n")
    d = load_dataset("csv", path=str(path), label_column="label", delimiter=";", normalize="none",
                     val_fraction=0, test_fraction=0.5)
    assert d.input_shape == (2,) and list(d.classes) == ["x", "y"]
    assert np.array_equal(np.sort(np.concatenate([d.X_train, d.X_test]), axis=0), [[1, 2], [3, 4], [5, 6], [7, 8]])


@pytest.mark.parametrize("text, delimiter, hint", [
    ("a;b;label\n1;2;0\n3;4;1\n", ",", '";"'),
    ("a\tb\tlabel\n1\t2\t0\n3\t4\t1\n", ",", '"\\t"'),        # as YAML writes a tab
    ("a,b,label\n1,2,0\n3,4,1\n", ";", '","'),
])
def test_a_file_split_by_another_delimiter_gets_a_hint_not_a_header_message(tmp_path, text, delimiter, hint):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        load_dataset("csv", path=str(path), label_column="label", delimiter=delimiter)
    assert str(caught.value).endswith(f"s.csv: every line is one column when split at \"{delimiter}\", but {hint} "
                                      f"splits them evenly; set data.delimiter: {hint}.")


def test_a_pandas_index_column_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "p.csv"
    rows = [",a,b,label"] + [f"{i},{i % 3}.5,{i * 2},{i % 2}" for i in range(10)]   # as DataFrame.to_csv writes
    path.write_text("\n".join(rows) + "\n")
    with pytest.warns(LayerwiseWarning, match="p.csv: the first column has no name and holds whole numbers such as "
                                              "0, 1, 2: a pandas index .* it is not used as a feature."):
        d = load_dataset("csv", path=str(path), normalize="none", val_fraction=0, test_fraction=0.2)
    assert d.input_shape == (2,)          # a and b only
    # a named first column, or one that is not distinct whole numbers, is a feature like any other
    for first in ("id", ""):
        values = [f"{i}" if first else f"{i % 3}" for i in range(10)]
        path.write_text("\n".join([f"{first},a,label"] + [f"{v},{i}.5,{i % 2}" for i, v in enumerate(values)]) + "\n")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert load_dataset("csv", path=str(path), val_fraction=0).input_shape == (2,)


def test_the_cli_prints_the_index_warning_on_one_line_and_trains(tmp_path, capsys):
    import yaml
    from layerwise.cli import main
    rows = [",a,b,label"] + [f"{i},{i % 7}.5,{(i * 5) % 11},{i % 2}" for i in range(60)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "data": {"dataset": "csv", "path": "p.csv"}, "loss": "bce_with_logits",
        "model": {"layers": [{"type": "linear", "units": 1}]}}))
    assert main(["validate", str(tmp_path / "c.yaml")]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"layerwise: warning: {tmp_path / 'p.csv'}: the first column has no name")
    assert "a pandas index" in err and err.count("\n") == 1


def test_regression_targets_stay_numbers_and_are_not_stratified(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.round(X.sum(axis=1) * 10)          # whole numbers: still targets, not 50 classes
    np.savez(tmp_path / "r.npz", X=X, y=y)
    d = load_dataset("npz", path=str(tmp_path / "r.npz"), task="regression", dtype=np.float64, normalize="none")
    assert d.task == "regression" and d.classes is None and d.n_classes is None and d.n_targets == 1
    assert d.y_train.dtype == np.float64 and sorted(np.concatenate([d.y_train, d.y_val, d.y_test])) == sorted(y)
    assert "n_targets=1" in repr(d)
    np.savez(tmp_path / "s.npz", X=X, y=np.array(["a", "b"] * 25))
    with pytest.raises(DataError, match="regression targets must be numbers; got 'a'"):
        load_dataset("npz", path=str(tmp_path / "s.npz"), task="regression")
    np.savez(tmp_path / "m.npz", X=X, y=np.stack([y, y], axis=1))
    with pytest.raises(DataError, match="class labels must be one per sample, shape \\(N,\\); got shape \\(50, 2\\)"):
        load_dataset("npz", path=str(tmp_path / "m.npz"))
    assert load_dataset("npz", path=str(tmp_path / "m.npz"), task="regression").n_targets == 2


def test_diabetes_is_a_bundled_regression_set():
    d = load_dataset("diabetes", val_fraction=0, test_fraction=0.2)
    assert d.task == "regression" and d.input_shape == (10,) and len(d.X_train) + len(d.X_test) == 442


def test_a_data_path_given_with_set_resolves_against_the_configs_folder(tmp_path, monkeypatch, capsys):
    import yaml
    from layerwise.cli import main
    rng = np.random.default_rng(0)
    (tmp_path / "experiments" / "own").mkdir(parents=True)
    X = rng.normal(size=(60, 3))
    np.savez(tmp_path / "experiments" / "own" / "wine.npz", X=X, y=np.arange(60) % 3)
    (tmp_path / "experiments" / "wine.yaml").write_text(yaml.safe_dump({
        "data": {"dataset": "npz", "path": "elsewhere.npz"}, "model": {"layers": [{"type": "linear", "units": 3}]}}))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")       # docs/config.md, "Relative paths": not the current directory
    assert main(["validate", "../experiments/wine.yaml", "--set", "data.path=own/wine.npz"]) == 0
    assert "with 43 train / 5 val / 12 test samples of shape (3,), 3 classes" in capsys.readouterr().out
