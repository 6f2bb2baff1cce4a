"""`layerwise compare`: the layerwise model and scikit-learn baselines on one split."""

import json

import yaml

from layerwise.cli import main
from tests.test_cli import SMALL


def test_compare_trains_every_baseline_and_reports_failures(tmp_path, capsys):
    config = {**SMALL, "training": {"epochs": 3, "batch_size": 64},
              "baselines": ["logistic_regression", "mlp", "knn",
                            {"class": "sklearn.svm.SVC", "params": {"C": -1.0}, "name": "svc_bad"},
                            {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 5}}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model | test accuracy | macro F1 |" in printed and "failed: InvalidParameterError" in printed
    rows = {r["model"]: r for r in json.loads((out / "compare.json").read_text())["rows"]}
    assert set(rows) == {"layerwise (tiny)", "logistic_regression", "mlp", "knn", "svc_bad",
                         "DecisionTreeClassifier"}
    assert rows["svc_bad"]["error"] and rows["svc_bad"]["test_accuracy"] is None
    for name in ("layerwise (tiny)", "logistic_regression", "mlp", "knn"):
        assert 0.8 < rows[name]["test_accuracy"] <= 1 and rows[name]["fit_seconds"] > 0
    # the matched MLP has the layerwise model's architecture, so the same number of parameters
    assert rows["mlp"]["n_params"] == rows["layerwise (tiny)"]["n_params"]
    summary = json.loads((out / "summary.json").read_text())
    assert rows["layerwise (tiny)"]["test_accuracy"] == summary["test_accuracy"]
    for png in ("compare_accuracy.png", "compare_loss.png", "compare_confusion.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "| mlp |" in (out / "compare.md").read_text()


def test_matched_mlp_takes_the_config_hyperparameters():
    from layerwise.baselines import _mlp_matched
    from layerwise.config import validate
    cfg = validate({**SMALL, "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}})
    mlp = _mlp_matched(cfg, 1000)
    assert mlp.hidden_layer_sizes == (32,) and mlp.activation == "relu" and mlp.solver == "sgd"
    assert mlp.batch_size == 64 and mlp.learning_rate_init == 0.05 and mlp.max_iter == 4
    assert abs(mlp.alpha - 1e-3 * 64) < 1e-12 and mlp.momentum == 0.9 and mlp.early_stopping is False


def test_only_sklearn_classes_are_allowed(tmp_path, capsys):
    config = {**SMALL, "baselines": [{"class": "os.system", "params": {}}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "is not under sklearn.*" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_unknown_baseline_name_is_a_config_error_before_any_training(tmp_path, capsys):
    config = {**SMALL, "baselines": ["knn", "random_forrest"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "c.yaml: baselines: unknown baseline 'random_forrest'" in err and "'random_forest'?" in err
    assert "Built-in names: logistic_regression, mlp" in err
    assert not (tmp_path / "o").exists()
