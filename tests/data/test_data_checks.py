"""Data that passes a file's own checks but not the experiment's: test arrays of another shape, values that
normalizing or float32 cannot hold, damaged or resized MNIST files at validate and evaluate. Each is one line
naming the file, and exit 2, before anything trains (a reviewer's cases)."""

import json
import math

import numpy as np
import pytest
import yaml

from layerwise.cli import main
from layerwise.data import DATASETS, load_dataset, write_idx
from layerwise.errors import DataError

NET = {"layers": [{"type": "flatten"}, {"type": "linear", "units": 8}, {"type": "relu"},
                  {"type": "linear", "units": 3}]}


def config(folder, data, *, model=NET, loss="cross_entropy", name="c.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump({"name": "c", "seed": 0, "data": data, "model": model, "loss": loss,
                                    "optimizer": {"type": "sgd", "lr": 0.05},
                                    "training": {"epochs": 1, "batch_size": 16}}))
    return path


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_test_targets_of_another_width_are_refused_before_training(tmp_path, capsys):
    """y of 2 targets and y_test of 3 validated, trained every epoch, then ended in a traceback at the test set."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", X=rng.normal(size=(60, 4)), y=rng.normal(size=(60, 2)),
             X_test=rng.normal(size=(20, 4)), y_test=rng.normal(size=(20, 3)))
    model = {"layers": [{"type": "linear", "units": 2}]}
    path = config(tmp_path, {"dataset": "npz", "path": "r.npz", "task": "regression"}, model=model, loss="mse")
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 2
    err = one_error_line(capsys)
    assert "r.npz: the test targets are 3 per sample (shape (20, 3)) but the training targets 2 per sample" in err
    assert not (tmp_path / "run").exists()
    # one target each, written (N,) and (M, 1): the same thing
    np.savez(tmp_path / "r.npz", X=rng.normal(size=(60, 4)), y=rng.normal(size=60),
             X_test=rng.normal(size=(20, 4)), y_test=rng.normal(size=(20, 1)))
    data = load_dataset("npz", path=tmp_path / "r.npz", task="regression")
    assert data.y_test.shape == (20,) and data.y_train.ndim == 1


def test_a_plugin_whose_test_samples_have_another_shape_is_one_error(monkeypatch):
    """NumPy's broadcast error from the normalization, in a traceback."""
    rng = np.random.default_rng(0)

    def mismatch(path):
        return rng.normal(size=(60, 4)), np.arange(60) % 3, rng.normal(size=(20, 5)), np.arange(20) % 3
    monkeypatch.setitem(DATASETS, "mismatch", mismatch)
    with pytest.raises(DataError, match=r"^mismatch: the test samples have shape \(5,\) but the training samples "
                                        r"\(4,\): both must be samples of one shape\.$"):
        load_dataset("mismatch")


def test_values_that_normalizing_overflows_are_named_not_trained_on(tmp_path, capsys):
    """Finite float32 values whose min-max span overflowed gave NaN: a traceback from the trainer for the validation
    split, and for the test split a run that ended with exit 0 and test_loss NaN."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    X[:, 1] = np.where(np.arange(60) % 2, 3e38, -3e38)
    np.savetxt(tmp_path / "huge.csv", np.c_[X, np.arange(60) % 3], delimiter=",")
    path = config(tmp_path, {"dataset": "csv", "path": "huge.csv"})
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 2
    err = one_error_line(capsys)
    assert "huge.csv: normalize: scale made feature 1 of sample " in err and "RuntimeWarning" not in err
    assert "too large, or its training values too close together, for float32" in err
    # a feature with a tiny training span, and a large value in the test set
    X = rng.normal(size=(100, 4))
    X[:, 0] = rng.uniform(0, 1e-30, 100)
    X_test = rng.normal(size=(30, 4))
    X_test[:, 0] = 1e10
    np.savez(tmp_path / "tiny.npz", X=X, y=np.arange(100) % 3, X_test=X_test, y_test=np.arange(30) % 3)
    with pytest.raises(DataError, match=r"tiny.npz: normalize: scale made feature 0 of test sample 0 inf in float32"):
        load_dataset("npz", path=tmp_path / "tiny.npz")
    with pytest.raises(DataError, match=r"normalize: standardize made feature 0 of test sample 0 inf"):
        load_dataset("npz", path=tmp_path / "tiny.npz", normalize="standardize")
    assert np.isfinite(load_dataset("npz", path=tmp_path / "tiny.npz", dtype=np.float64).X_test).all()


def test_a_value_too_large_for_float32_is_called_that(tmp_path):
    """'holds NaN or infinite values', with NumPy's overflow warning, for a file holding neither."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    y[5] = 1e39
    np.savez(tmp_path / "y.npz", X=X, y=y)
    with _no_warning():
        with pytest.raises(DataError, match=r"y.npz: a regression target holds 1e\+39, too large for float32 \(whose "
                                            r"largest value is 3.403e\+38\)\.$"):
            load_dataset("npz", path=tmp_path / "y.npz", task="regression")
    X[7, 2], y[5] = -2e39, 0.5
    np.savez(tmp_path / "x.npz", X=X, y=np.arange(40) % 2)
    with _no_warning(), pytest.raises(DataError, match=r"sample 7 \(counting from 0\) holds -2e\+39, too large for "
                                                       r"float32"):
        load_dataset("npz", path=tmp_path / "x.npz")
    X[7, 2] = np.nan
    np.savez(tmp_path / "x.npz", X=X, y=np.arange(40) % 2)
    with pytest.raises(DataError, match=r"x.npz: X holds NaN or infinite values \(first in sample 7\)"):
        load_dataset("npz", path=tmp_path / "x.npz")


class _no_warning:
    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def _mnist(folder, side=28, labels_of=None):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, side, side), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels_of(n) if labels_of else
                  np.arange(n, dtype=np.uint8) % 10)


MNIST_NET = {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10}]}


def test_validate_reports_damaged_mnist_files_as_damaged_not_missing(tmp_path, capsys):
    """'the model is ok ... its data is not there yet:' and the model table, then the real error."""
    _mnist(tmp_path / "bad", labels_of=lambda n: np.full(n, 10, np.uint8))
    path = config(tmp_path, {"dataset": "mnist", "path": "bad"}, model=MNIST_NET)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert "not there yet" not in captured.out and "labels must be 0 to 9, found 10" in captured.err


def test_evaluate_on_images_of_another_size_blames_the_data_not_the_weights(tmp_path, capsys):
    _mnist(tmp_path / "m28")
    _mnist(tmp_path / "m14", side=14)
    path = config(tmp_path, {"dataset": "mnist", "path": "m28"}, model=MNIST_NET)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--set", f"data.path={tmp_path / 'm14'}"]) == 2
    err = one_error_line(capsys)
    assert f"{tmp_path / 'm14'}: samples of shape (1, 14, 14), but " in err
    assert "was trained on samples of shape (1, 28, 28): this is not the data the run was trained on." in err
    assert "do not fit the model" not in err


def test_evaluate_calls_a_nan_figure_that_comes_back_nan_reproduced(tmp_path, capsys, monkeypatch):
    """NaN != NaN: 'summary.json test_loss nan is DIFFERENT from the reloaded model's nan', exit 1."""
    _mnist(tmp_path / "m28")
    path = config(tmp_path, {"dataset": "mnist", "path": "m28"}, model=MNIST_NET)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    (tmp_path / "run" / "summary.json").write_text(json.dumps({**summary, "test_loss": math.nan}))
    import layerwise.run
    real = layerwise.run.evaluate
    monkeypatch.setattr(layerwise.run, "evaluate", lambda *a, **k: {**real(*a, **k), "test_loss": math.nan})
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert "summary.json test_loss nan: reproduced" in capsys.readouterr().out
    monkeypatch.setattr(layerwise.run, "evaluate", lambda *a, **k: {**real(*a, **k), "test_loss": 0.5})
    assert main(["evaluate", str(tmp_path / "run")]) == 1


def test_predict_names_a_raw_value_float32_or_the_run_s_normalization_cannot_hold(tmp_path, capsys):
    import layerwise as lw
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    X[:, 0] = rng.uniform(0, 1e-30, 60)             # a feature of a tiny span: min-max divides by it
    np.savetxt(tmp_path / "d.csv", np.c_[X, np.arange(60) % 3], delimiter=",")
    path = config(tmp_path, {"dataset": "csv", "path": "d.csv"})
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    saved = lw.load_run(tmp_path / "run")
    with _no_warning(), pytest.raises(DataError, match=r"^X: sample 1 holds 1e\+39, too large for float32"):
        saved.transform(np.array([[0.0, 1, 2], [0, 1e39, 2]]))
    with _no_warning(), pytest.raises(DataError, match=r"^X: sample 0 becomes inf once normalized with the statistics "
                                                       r"of .*run's training data \(scale\): its feature 0 is too far"):
        saved.transform(np.array([[1e10, 1, 2]]))
    assert np.isfinite(saved.transform(X[:2])).all()
