"""`layerwise compare` and Ctrl-C in a baseline that catches it; the warnings of the others stay recorded."""

import json
import signal
import warnings

import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from layerwise.baselines import compare
from layerwise.cli import main
from tests.test_cli import SMALL, write_config

CONFIG = {**SMALL, "training": {"epochs": 1, "batch_size": 64}, "baselines": ["knn", "mlp"]}


def fit_then(after):
    """MLPClassifier.fit with ``after(self)`` run once the real fit has trained the weights."""
    real = MLPClassifier.fit

    def fit(self, X, y):
        real(self.set_params(max_iter=5), X, y)
        after(self)
        return self
    return fit


def ctrl_c_caught_as_sklearn_does(est):
    try:
        signal.raise_signal(signal.SIGINT)               # Ctrl-C in the middle of training
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")   # what MLPClassifier does with it


def test_ctrl_c_in_a_baseline_that_catches_it_raises_and_writes_no_report(tmp_path, monkeypatch):
    monkeypatch.setattr(MLPClassifier, "fit", fit_then(ctrl_c_caught_as_sklearn_does))
    with pytest.raises(KeyboardInterrupt):
        compare(CONFIG, out=tmp_path / "cmp")
    assert not list((tmp_path / "cmp").glob("compare*"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler     # put back


def test_the_cli_says_interrupted_and_exits_130(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(MLPClassifier, "fit", fit_then(ctrl_c_caught_as_sklearn_does))
    assert main(["compare", str(write_config(tmp_path, CONFIG)), "--out", str(tmp_path / "cmp")]) == 130
    captured = capsys.readouterr()
    assert "| mlp |" not in captured.out
    # train --resume would only train: the hint starts the whole comparison again, in the same folder
    assert captured.err.strip() == (f"layerwise: interrupted. Run the comparison again from its start with: layerwise "
                                    f"compare {tmp_path / 'tiny.yaml'} --out {tmp_path / 'cmp'} --overwrite")
    assert main(["compare", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "cmp"), "--overwrite"]) == 130
    monkeypatch.undo()
    assert main(["compare", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "cmp"), "--overwrite"]) == 0
    assert (tmp_path / "cmp" / "compare.md").is_file()


def test_a_ctrl_c_in_an_estimator_that_lets_it_through_still_raises(tmp_path, monkeypatch):
    def fit(self, X, y):
        signal.raise_signal(signal.SIGINT)
    monkeypatch.setattr(KNeighborsClassifier, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        compare(CONFIG, out=tmp_path / "cmp")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_other_warnings_of_a_fit_are_still_recorded_in_its_row(tmp_path, monkeypatch):
    monkeypatch.setattr(MLPClassifier, "fit", fit_then(lambda est: warnings.warn("a note", RuntimeWarning)))
    rows, out = compare(CONFIG, out=tmp_path / "cmp")
    mlp = {r["model"]: r for r in rows}["mlp"]
    # after the note on what the matched MLP cannot copy from this config (dropout, its step schedule)
    assert mlp["warning"].startswith("the matched MLP has no dropout")
    assert mlp["warning"].endswith("; ConvergenceWarning: Stochastic Optimizer: Maximum iterations (5) reached and "
                                   "the optimization hasn't converged yet.; RuntimeWarning: a note")
    assert mlp["error"] is None and mlp["test_accuracy"] > 0.5
    assert json.loads((out / "compare.json").read_text())["rows"][2] == mlp
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_closed_output_pipe_says_to_run_the_comparison_again_not_to_resume_training(tmp_path):
    """It said 'continue with: layerwise train --resume', which finishes the run but never compares."""
    import os
    import subprocess
    import sys

    import yaml

    from tests.test_cli import SMALL
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**SMALL, "training": {"epochs": 40, "batch_size": 16}}))
    proc = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "compare", str(config), "--out",
                             str(tmp_path / "cmp"), "--progress", "lines"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout.readline().startswith("epoch   1/")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "train --resume" not in err
    assert f"the comparison stopped. Run the comparison again from its start with: layerwise compare {config} --out " \
           f"{tmp_path / 'cmp'} --overwrite" in err
