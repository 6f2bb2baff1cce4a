"""`layerwise compare`: the layerwise model and scikit-learn baselines on one split."""

import json

import pytest
import yaml

from layerwise.cli import main
from tests.test_cli import SMALL


def test_compare_trains_every_baseline_and_reports_failures(tmp_path, capsys):
    config = {**SMALL, "training": {"epochs": 3, "batch_size": 64},
              "baselines": ["logistic_regression", "mlp", "knn",
                            {"class": "sklearn.neighbors.KNeighborsClassifier", "params": {"n_neighbors": 10**6},
                             "name": "knn_bad"},    # valid parameters; fails on the data
                            {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 5}}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model | test accuracy | macro F1 |" in printed and "failed: ValueError" in printed
    rows = {r["model"]: r for r in json.loads((out / "compare.json").read_text())["rows"]}
    assert set(rows) == {"layerwise (tiny)", "logistic_regression", "mlp", "knn", "knn_bad",
                         "DecisionTreeClassifier"}
    assert rows["knn_bad"]["error"] and rows["knn_bad"]["test_accuracy"] is None
    for name in ("layerwise (tiny)", "logistic_regression", "mlp", "knn"):
        assert 0.8 < rows[name]["test_accuracy"] <= 1 and rows[name]["fit_seconds"] > 0
    # the matched MLP has the layerwise model's architecture, so the same number of parameters
    assert rows["mlp"]["n_params"] == rows["layerwise (tiny)"]["n_params"]
    summary = json.loads((out / "summary.json").read_text())
    assert rows["layerwise (tiny)"]["test_accuracy"] == summary["test_accuracy"]
    for png in ("compare_accuracy.png", "compare_loss.png", "compare_confusion.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "| mlp |" in (out / "compare.md").read_text()


def test_layerwise_fit_seconds_is_the_whole_fit_with_its_validation(tmp_path, monkeypatch):
    # a fake clock that moves only while the trainer evaluates: 100 "seconds" per validation pass
    import time
    from layerwise.baselines import compare
    from layerwise.trainer import Trainer
    now, evaluate = [0.0], Trainer.evaluate

    def timed_evaluate(self, X, y):
        now[0] += 100.0
        return evaluate(self, X, y)

    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(Trainer, "evaluate", timed_evaluate)
    config = {**SMALL, "training": {"epochs": 3, "batch_size": 64}, "baselines": ["knn"]}
    rows, out = compare(config, out=tmp_path / "cmp")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_seconds"] == 0 and summary["epochs_run"] == 3   # training passes: no fake time
    # the 3 per-epoch validations are in the fit; the test-set evaluation after it is not
    assert rows[0]["fit_seconds"] == 300.0


def test_matched_mlp_takes_the_config_hyperparameters():
    from layerwise.baselines import _mlp_matched
    from layerwise.config import validate
    cfg = validate({**SMALL, "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}})
    mlp = _mlp_matched(cfg, 1000)
    assert mlp.hidden_layer_sizes == (32,) and mlp.activation == "relu" and mlp.solver == "sgd"
    assert mlp.batch_size == 64 and mlp.learning_rate_init == 0.05 and mlp.max_iter == 4
    assert abs(mlp.alpha - 1e-3 * 64) < 1e-12 and mlp.momentum == 0.9 and mlp.early_stopping is False


def test_the_matched_mlp_copies_no_hidden_layer_that_is_not_there_and_names_what_it_cannot_copy():
    from layerwise.baselines import _mlp_matched
    from layerwise.config import validate
    logreg = validate({**SMALL, "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10}]},
                       "schedule": {"type": "none"}})
    assert _mlp_matched(logreg, 1000).hidden_layer_sizes == ()          # not scikit-learn's default (100,)
    assert _mlp_matched(logreg, 1000).layerwise_note is None
    leaky = validate({**SMALL, "model": {"layers": [
        {"type": "flatten"}, {"type": "linear", "units": 32}, {"type": "leakyrelu"}, {"type": "dropout", "p": 0.2},
        {"type": "linear", "units": 10}]}, "schedule": {"type": "cosine"}})
    rms = validate({**SMALL, "optimizer": {"type": "rmsprop", "lr": 0.01}, "schedule": {"type": "none"}})
    assert _mlp_matched(rms, 1000).layerwise_note == ("the matched MLP has no dropout, sgd for rmsprop "
                                                     "(scikit-learn's MLP has no other)")
    mlp = _mlp_matched(leaky, 1000)
    assert mlp.activation == "relu"                                      # the nearest; it was identity
    assert mlp.layerwise_note == ("the matched MLP has relu for leakyrelu, no dropout, a constant learning rate "
                                  "(layerwise: cosine schedule) (scikit-learn's MLP has no other)")


def test_the_matched_mlp_copies_adams_settings_and_names_what_has_no_counterpart():
    """AdamW's decoupled decay became an L2 alpha 100 times too strong for Adam (0.72 against 0.97 on digits),
    and Adam's betas and eps, clipping, a Huber loss and early stopping's split went without a word."""
    from layerwise.baselines import _mlp_matched
    from layerwise.config import validate
    plain = {**SMALL, "schedule": {"type": "none"}}
    adamw = validate({**plain, "optimizer": {"type": "adamw", "lr": 1e-3, "weight_decay": 0.1, "betas": [0.5, 0.9],
                                             "eps": 0.1}, "training": {**SMALL["training"], "grad_clip_norm": 1.0}})
    mlp = _mlp_matched(adamw, 1000)
    assert (mlp.solver, mlp.alpha, mlp.beta_1, mlp.beta_2, mlp.epsilon) == ("adam", 0.0, 0.5, 0.9, 0.1)
    assert mlp.layerwise_note == ("the matched MLP has no dropout, no weight decay (AdamW's is decoupled; alpha would "
                                  "be an L2 penalty), no gradient clipping (scikit-learn's MLP has no other)")
    adam = _mlp_matched(validate({**plain, "optimizer": {"type": "adam", "lr": 1e-3, "weight_decay": 0.1}}), 1000)
    assert adam.alpha == 0.1 * 64 and "weight decay" not in adam.layerwise_note    # Adam's decay is L2: the same
    stopping = validate({**plain, "training": {**SMALL["training"], "early_stopping": {"patience": 2}}})
    assert _mlp_matched(stopping, 1000).layerwise_note.endswith(
        "early stopping on validation accuracy of a share of its training rows, which it then does not train on "
        "(scikit-learn's MLP has no other)")
    huber = validate({**plain, "data": {"dataset": "diabetes"}, "loss": "huber",
                      "model": {"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 1}]}})
    assert _mlp_matched(huber, 300).layerwise_note == ("the matched MLP has the squared error for huber "
                                                       "(scikit-learn's MLP has no other)")


def test_the_table_lists_each_rows_warning_under_it():
    from layerwise.baselines import format_table
    row = {"model": "mlp", "test_accuracy": 0.9, "test_macro_f1": 0.9, "fit_seconds": 1.0, "predict_seconds": 0.1,
           "n_params": 10, "error": None, "warning": "ConvergenceWarning: Maximum iterations (8) reached"}
    assert format_table([row]).splitlines()[-1] == "- mlp: ConvergenceWarning: Maximum iterations (8) reached"


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
    assert "c.yaml: baselines[1]: unknown baseline 'random_forrest'. Did you mean 'random_forest'?" in err
    assert "Built-in names for classification: logistic_regression, mlp" in err
    assert not (tmp_path / "o").exists()


def test_a_misspelt_baseline_parameter_is_one_line_before_anything_trains(tmp_path, capsys):
    config = {**SMALL, "baselines": ["knn", {"class": "sklearn.ensemble.GradientBoostingClassifier",
                                             "params": {"n_estimator": 10}}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == ("layerwise: error: c.yaml: baselines[1] (GradientBoostingClassifier): unknown parameter "
                   "'n_estimator' of GradientBoostingClassifier. Did you mean 'n_estimators'?\n")
    assert not (tmp_path / "o").exists()
    # validate checks the baselines too
    assert main(["validate", str(tmp_path / "c.yaml")]) == 2
    assert "baselines[1] (GradientBoostingClassifier): unknown parameter 'n_estimator'" in capsys.readouterr().err


def test_a_baseline_must_suit_the_task(tmp_path, capsys):
    config = {**SMALL, "baselines": [{"class": "sklearn.linear_model.Ridge"}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "baselines[0]: 'sklearn.linear_model.Ridge' is not a scikit-learn classifier" in capsys.readouterr().err
    config = {**SMALL, "baselines": ["ridge"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["compare", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "baselines[0]: 'ridge' is a regression baseline, and this config is a classification." in \
        capsys.readouterr().err


def test_the_fit_time_leaves_out_the_runs_checkpoint_writes(tmp_path, monkeypatch):
    """Each epoch's checkpoint, synced to disk, was in layerwise's fit_seconds (1.63 s against a 0.14 s training
    on diabetes), while no baseline writes anything."""
    import time

    from layerwise import run
    from layerwise.baselines import compare
    now, save = [0.0], run.Checkpoint._save

    def slow_save(self, trainer):
        now[0] += 1000.0
        return save(self, trainer)
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(run.Checkpoint, "_save", slow_save)
    rows, out = compare({**SMALL, "training": {"epochs": 3, "batch_size": 64}, "baselines": ["knn"]},
                        out=tmp_path / "cmp")
    assert rows[0]["fit_seconds"] == 0.0
    assert (out / "checkpoint.safetensors").is_file()


@pytest.mark.parametrize("min_delta", [0.0, 0.001])
def test_the_matched_mlp_stops_after_as_many_epochs_without_improvement_as_layerwise(min_delta):
    """n_iter_no_change was the patience, but scikit-learn stops only when more than n_iter_no_change epochs have
    not improved, and takes a tie (a gain of exactly tol) for an improvement: the MLP ran on (36 epochs where
    layerwise's rule stops after 15, on validation accuracies that tie), and min_delta was not its tol."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from layerwise.baselines import _mlp_matched
    from layerwise.config import validate
    from layerwise.data import load_dataset
    cfg = validate({**SMALL, "schedule": {"type": "none"}, "optimizer": {"type": "sgd", "lr": 0.1},
                    "training": {"epochs": 80, "batch_size": 64, "early_stopping": {
                        "patience": 3, "monitor": "val_accuracy", "min_delta": min_delta}}})
    mlp = _mlp_matched(cfg, 1000)
    assert mlp.n_iter_no_change == 2 and mlp.tol == pytest.approx(min_delta, abs=1e-9) and mlp.tol > min_delta
    d = load_dataset("digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(d.X_train.reshape(len(d.X_train), -1), d.y_train)
    scores = mlp.validation_scores_
    assert mlp.n_iter_ < 80                      # it stopped early, after `patience` epochs without improving
    best, kept = scores[0], 0
    for i, s in enumerate(scores[1:], 1):        # layerwise's rule: improved when above the best by min_delta
        if s > best + min_delta:
            best, kept = s, i
    assert mlp.n_iter_ - 1 - kept == 3
    if min_delta == 0:
        assert any(s == best for s in scores[kept + 1:]), "no tie: the case this test is for did not happen"
    loss = validate({**SMALL, "training": {"epochs": 8, "batch_size": 64,
                                           "early_stopping": {"patience": 1, "min_delta": 0.1}}})
    assert _mlp_matched(loss, 1000).tol < 1e-9
    assert "a patience of 2 epochs (1 has no counterpart), no min_delta (layerwise's is on val_loss, not on " \
           "accuracy)" in _mlp_matched(loss, 1000).layerwise_note
