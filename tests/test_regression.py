"""Regression from the command line: float targets from npz and csv, mse / l1 / huber, the metrics in
summary.json, evaluate, and compare against Ridge and a matched MLPRegressor."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from layerwise.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LAYERS = [{"type": "linear", "units": 16}, {"type": "tanh"}, {"type": "linear", "units": 1}]


def linear_data(n=300, features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    return X, X @ rng.normal(size=features) * 10 + 50 + rng.normal(size=n)


def write(folder, data, name="r.yaml"):
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def npz_config(tmp_path):
    X, y = linear_data()
    np.savez(tmp_path / "own.npz", X=X, y=y)
    return write(tmp_path, {"name": "reg", "data": {"dataset": "npz", "path": "own.npz", "normalize": "standardize"},
                            "model": {"layers": LAYERS}, "loss": "huber",
                            "optimizer": {"type": "adam", "lr": 0.05}, "training": {"epochs": 60, "batch_size": 32}})


def test_train_writes_regression_metrics_and_evaluate_reproduces_them(npz_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(npz_config), "--out", str(out), "--progress", "off"]) == 0
    assert "test rmse" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert {"test_rmse", "test_mae", "test_r2", "test_loss", "best_val_loss"} <= set(summary)
    assert "test_accuracy" not in summary and "best_val_accuracy" not in summary
    assert summary["test_r2"] > 0.9 and summary["test_mae"] <= summary["test_rmse"]
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["data"]["task"] == "regression"          # huber implies it, and the resolved config says so
    assert not (out / "confusion_matrix.png").exists()
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    for key in ("test_rmse", "test_mae", "test_r2"):
        assert f"summary.json {key} {summary[key]}: reproduced" in printed


def test_compare_against_ridge_and_a_matched_mlp_regressor(npz_config, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(npz_config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model | test RMSE | test MAE | test R2 | fit s | predict s | parameters |" in printed
    rows = {r["model"]: r for r in json.loads((out / "compare.json").read_text())["rows"]}
    assert set(rows) == {"layerwise (reg)", "ridge", "mlp"}
    assert rows["ridge"]["test_r2"] > 0.99 and rows["layerwise (reg)"]["test_r2"] > 0.9
    assert rows["mlp"]["n_params"] == rows["layerwise (reg)"]["n_params"] == 5 * 16 + 16 + 16 + 1
    summary = json.loads((out / "summary.json").read_text())
    assert rows["layerwise (reg)"]["test_rmse"] == summary["test_rmse"]
    assert (out / "compare_r2.png").is_file() and not (out / "compare_confusion.png").exists()


def test_the_matched_mlp_regressor_takes_the_same_steps():
    from layerwise.config import validate
    from layerwise.estimators import _mlp_matched
    base = {"data": {"dataset": "npz", "path": "x.npz", "task": "regression"}, "model": {"layers": LAYERS},
            "loss": "mse", "training": {"epochs": 7, "batch_size": 20}}
    sgd = _mlp_matched(validate({**base, "optimizer": {"type": "sgd", "lr": 0.01, "weight_decay": 1e-3}}), 100)
    assert type(sgd).__name__ == "MLPRegressor" and sgd.hidden_layer_sizes == (16,) and sgd.activation == "tanh"
    # scikit-learn's squared error is half of mse: twice the rate and half the alpha give the same steps
    assert sgd.learning_rate_init == pytest.approx(0.02) and sgd.alpha == pytest.approx(1e-3 * 20 / 2)
    assert (sgd.solver, sgd.batch_size, sgd.max_iter) == ("sgd", 20, 7)
    adam = _mlp_matched(validate({**base, "optimizer": {"type": "adam", "lr": 0.01}}), 100)
    assert adam.solver == "adam" and adam.learning_rate_init == 0.01      # Adam does not see the scale


def test_csv_float_targets_with_a_semicolon_delimiter(tmp_path, capsys):
    X, y = linear_data(n=120, features=3)
    lines = ["a;b;c;target"] + [";".join(f"{v:.6f}" for v in (*x, t)) for x, t in zip(X, y)]
    (tmp_path / "own.csv").write_text("\n".join(lines) + "\n")
    data = {"data": {"dataset": "csv", "path": "own.csv", "label_column": "target"}, "model": {"layers": LAYERS},
            "loss": "l1", "optimizer": {"type": "adam", "lr": 0.05}, "training": {"epochs": 3}}
    path = write(tmp_path, data)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (f"layerwise: error: r.yaml: data: {tmp_path / 'own.csv'}: every line is one "
                                       'column when split at ",", but ";" splits them evenly; set data.delimiter: '
                                       '";".\n')
    assert main(["validate", str(path), "--set", 'data.delimiter=";"']) == 0
    assert "regression on 1 target(s)" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    ({"loss": "mse"}, "labels must be class labels (integers or strings); got non-integer numbers. For real-valued "
                      "targets set data.task: regression (loss mse, l1 or huber)."),
    ({"loss": "cross_entropy", "data": {"task": "regression"}},
     "r.yaml: loss 'cross_entropy' does not do regression (data.task); use one of 'mse', 'l1', 'huber'."),
    ({"data": {"dataset": "digits", "task": "regression"}},
     "r.yaml: data.task is 'regression', but digits is a classification dataset."),
    ({"training": {"early_stopping": {"monitor": "val_accuracy"}}},
     "r.yaml: training.early_stopping.monitor is val_accuracy, but a regression has no accuracy; use val_loss."),
    ({"model": {"layers": LAYERS[:2] + [{"type": "linear", "units": 3}]}},
     "r.yaml: model.layers[2] (linear): the model outputs shape (3,) per sample, but huber on 1 regression "
     "target(s) needs (1,); set units: 1 on the last linear layer."),
])
def test_regression_configs_that_cannot_train_fail_at_validate(npz_config, tmp_path, capsys, change, message):
    data = yaml.safe_load(npz_config.read_text())
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key != "model" else value
    assert main(["validate", str(write(tmp_path, data))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_several_targets_from_an_npz(tmp_path, capsys):
    X, y = linear_data()
    np.savez(tmp_path / "two.npz", X=X, y=np.stack([y, -y], axis=1))
    path = write(tmp_path, {"data": {"dataset": "npz", "path": "two.npz", "task": "regression"}, "loss": "mse",
                            "model": {"layers": LAYERS[:2] + [{"type": "linear", "units": 2}]},
                            "training": {"epochs": 2}})
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    assert "test_r2" in json.loads((tmp_path / "run" / "summary.json").read_text())


def test_the_diabetes_example_config_trains(tmp_path, capsys):
    shutil.copy(CONFIGS / "diabetes_mlp.yaml", tmp_path)
    path = tmp_path / "diabetes_mlp.yaml"
    assert main(["validate", str(path)]) == 0
    assert "diabetes with 317 train / 36 val / 89 test samples of shape (10,), regression" in capsys.readouterr().out
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["test_r2"] > 0.2


def test_the_trainer_fits_a_regression_loss_without_accuracies():
    import layerwise as lw
    X, y = linear_data(n=64, features=3)
    model = lw.Sequential(lw.Linear(3, 1, rng=0, dtype=np.float64)).set_optimizer(lw.Adam(lr=0.1))
    trainer = lw.Trainer(model, lw.HuberLoss(), epochs=30, batch_size=16, progress="off")
    history = trainer.fit(X, y, X, y)
    assert "train_accuracy" not in history[-1] and history[-1]["val_loss"] < history[0]["val_loss"]
    assert lw.Trainer(model, "mse", progress="off").classification        # mse: one-hot classification first
