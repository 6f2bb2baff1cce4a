"""`validate` refuses what `train` would fail on: the loss, the output width and the targets together, and
a loss given values outside the range it takes; it warns about softmax before cross_entropy."""

import numpy as np
import pytest
import yaml

from layerwise.cli import main

DIGITS = {"data": {"dataset": "digits"}, "training": {"epochs": 1},
          "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10}]}}


def write(folder, data):
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def two_classes(folder):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    np.savez(folder / "two.npz", X=X, y=(X[:, 0] > 0).astype(int))
    return {"data": {"dataset": "npz", "path": "two.npz"}, "training": {"epochs": 1}}


def test_bce_with_logits_on_ten_classes_fails_at_validate_and_before_train_makes_a_run(tmp_path, capsys):
    path = write(tmp_path, {**DIGITS, "loss": "bce_with_logits"})
    want = ("layerwise: error: c.yaml: loss: bce_with_logits on 10 classes: BCEWithLogitsLoss takes two classes "
            "with one output per sample, or multi-label 0/1 targets of shape (N, 10); got class labels (N,) for 10 "
            "outputs. For one label among several classes, use CrossEntropyLoss (cross_entropy).\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == want
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == want
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("last, message", [
    ([], "c.yaml: model.layers[0] (linear) outputs any number, but loss bce takes values in [0, 1]: end the model "
         "with {type: sigmoid}, or use a loss on logits (cross_entropy, bce_with_logits)."),
    ([{"type": "tanh"}], "model.layers[1] (tanh) outputs values in [-1, 1], but loss bce takes values in [0, 1]"),
    ([{"type": "sigmoid"}, {"type": "dropout", "p": 0.5}], "model.layers[2] (dropout) outputs any number"),
])
def test_bce_needs_a_sigmoid_like_last_layer(tmp_path, capsys, last, message):
    path = write(tmp_path, {**two_classes(tmp_path), "loss": "bce",
                            "model": {"layers": [{"type": "linear", "units": 1}, *last]}})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bce_after_a_sigmoid_trains(tmp_path, capsys):
    path = write(tmp_path, {**two_classes(tmp_path), "loss": "bce",
                            "model": {"layers": [{"type": "linear", "units": 1}, {"type": "sigmoid"}]}})
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("data, loss, last", [(DIGITS, "cross_entropy", "softmax"),
                                               (None, "bce_with_logits", "sigmoid")])
def test_probabilities_into_a_loss_on_logits_is_a_one_line_warning(tmp_path, capsys, data, loss, last):
    data = data or {**two_classes(tmp_path), "model": {"layers": [{"type": "linear", "units": 1}]}}
    layers = data["model"]["layers"] + [{"type": last}]
    path = write(tmp_path, {**data, "loss": loss, "model": {"layers": layers}})
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert err == (f"layerwise: warning: c.yaml: model.layers[{len(layers) - 1}] ({last}) outputs probabilities, but "
                   f"loss {loss} takes logits and applies its own softmax or sigmoid, so the model trains through "
                   "both; remove that last layer (predictions apply the loss's own).\n")
    with pytest.warns(UserWarning, match="takes logits"):      # a Python warning for Python callers
        from layerwise import run
        run.prepare(str(path))


def test_a_width_mismatch_names_the_classes_only_the_test_labels_have(tmp_path, capsys):
    """'cross_entropy on 4 classes ... set units: 4' while the user counted the 3 of the training labels."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(60, 4)), y=np.arange(60) % 3, X_test=rng.normal(size=(6, 4)),
             y_test=np.array([0, 1, 2, 7, 2, 1]))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "data": {"dataset": "npz", "path": "d.npz"}, "training": {"epochs": 1},
        "model": {"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}]}}))
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert ("but cross_entropy on 4 classes (1 of them only in the test labels: 7) needs (4,); set units: 4"
            in capsys.readouterr().err)


def regression(folder, low, high, width=1):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    np.savez(folder / "reg.npz", X=X, y=rng.uniform(low, high, size=(60, width)) if width > 1 else rng.uniform(low, high, 60))
    return {"data": {"dataset": "npz", "path": "reg.npz", "task": "regression"}, "loss": "mse", "training": {"epochs": 1}}


@pytest.mark.parametrize("last, low, high, width, message", [
    ("softmax", 0.1, 0.9, 1, "model.layers[1] (softmax): a softmax over one output is always 1, so the model cannot "
                             "fit any target; a regression ends in a linear layer (remove the softmax)."),
    ("sigmoid", 25, 346, 1, "model.layers[1] (sigmoid) outputs values in [0, 1], but the regression targets run from "),
    ("tanh", -3, 0.5, 2, "model.layers[1] (tanh) outputs values in [-1, 1], but the regression targets run from -"),
    ("relu", -2, 5, 1, "model.layers[1] (relu) outputs values in [0, inf], but the regression targets run from -"),
])
def test_a_regression_whose_last_layer_cannot_reach_its_targets_is_refused(tmp_path, capsys, last, low, high, width,
                                                                          message):
    """It trained with the loss never moving (a softmax over one output is 1; diabetes targets 25-346 behind a
    sigmoid), ending at test r2 -4.6, exit 0."""
    data = {**regression(tmp_path, low, high, width),
            "model": {"layers": [{"type": "linear", "units": width}, {"type": last}]}}
    assert main(["validate", str(write(tmp_path, data))]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("last", ["sigmoid", "relu", "softmax"])
def test_a_regression_whose_targets_lie_in_its_last_layers_range_validates(tmp_path, capsys, last):
    width = 2 if last == "softmax" else 1
    data = {**regression(tmp_path, 0.05, 0.95, width),
            "model": {"layers": [{"type": "linear", "units": width}, {"type": last}]}}
    assert main(["validate", str(write(tmp_path, data))]) == 0
