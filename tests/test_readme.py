"""The README's Python examples run as written and do what the README says they do."""

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def run_block(marker, tmp_path, monkeypatch):
    (block,) = [b for b in BLOCKS if marker in b]
    monkeypatch.chdir(tmp_path)
    from layerwise.modules import registry
    monkeypatch.setattr(registry, "MODULES", dict(registry.MODULES))   # @lw.register stays in this test
    namespace = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace


def test_the_explicit_loop_trains_in_float32(tmp_path, monkeypatch, capsys):
    ns = run_block("model.backward(", tmp_path, monkeypatch)
    assert "(64, 128) float32" in capsys.readouterr().out
    assert (ns["model"].forward(ns["X"]).argmax(axis=1) == ns["y"]).mean() > 0.95


def test_the_subclass_example_passes_gradcheck(tmp_path, monkeypatch, capsys):
    ns = run_block("gradcheck(", tmp_path, monkeypatch)
    assert "2 tensors match finite differences" in capsys.readouterr().out
    assert ns["report"] is not None


def test_the_grid_search_example_finds_a_good_model(tmp_path, monkeypatch):
    ns = run_block("GridSearchCV", tmp_path, monkeypatch)
    assert ns["search"].best_score_ > 0.9
    assert set(ns["search"].best_params_) == {"hidden_layer_sizes", "alpha"}


def test_the_python_api_example_runs_a_config_and_the_trainer(tmp_path, monkeypatch, capsys):
    shutil.copytree(README.parent / "configs", tmp_path / "configs")
    ns = run_block("lw.run.fit(", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert (tmp_path / "runs" / "from-python" / "summary.json").is_file()
    assert ns["exp"].summary["test_accuracy"] > 0.9
    assert "step 500: loss" in out
    assert 1 <= ns["trainer"].best_epoch <= len(ns["history"])
    assert ns["best"]["val_accuracy"] == max(r["val_accuracy"] for r in ns["history"]) > 0.9
    model, X, y = ns["model"], ns["X_val"], ns["y_val"]
    assert (model.forward(X).argmax(1) == y).mean() == ns["best"]["val_accuracy"]


@pytest.mark.parametrize("marker", ["model.backward(", "gradcheck(", "GridSearchCV", "lw.run.fit("])
def test_each_example_is_in_the_readme_once(marker):
    assert sum(marker in b for b in BLOCKS) == 1
