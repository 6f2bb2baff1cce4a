"""User modules from YAML: the README's plugin example, the from_config hook, and size errors that name the layer."""

import re
from pathlib import Path

import pytest
import yaml

from layerwise.cli import main
from tests.test_config_errors import plugin_sandbox  # noqa: F401  (fixture)

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_plugin():
    """The README's ScaledTanh example as a plugin file: the block up to its gradcheck lines."""
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "class ScaledTanh" in b]
    return block.split("\nreport = ")[0]


def config(folder, layers, plugin_text, **extra):
    (folder / "my_layers.py").write_text(plugin_text)
    data = {"plugins": ["my_layers.py"], "model": {"layers": layers}, "training": {"epochs": 1}, **extra}
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_readme_plugin_example_trains_from_yaml(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scaledtanh"}, {"type": "linear", "units": 10}],
                  readme_plugin(), training={"epochs": 1, "dtype": "float64"})
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ScaledTanh\(\)\s+\(N, 64\)\s+64\n", out), out      # one scale per input feature
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    assert (tmp_path / "run" / "model.safetensors").is_file()
    layer = plugin_sandbox["scaledtanh"]
    assert layer.from_config((64,), dtype="float64").params["a"].shape == (64,)


PLAIN = '''
import numpy as np
import layerwise as lw

@lw.register
class Scale(lw.Module):
    def __init__(self, features, dtype=np.float32):
        super().__init__()
        self.register_param("a", np.ones(features, dtype))

    def forward(self, x):
        self._cache = x
        return self.params["a"] * x

    def backward(self, grad_y):
        self.grads["a"] += (grad_y * self._cached()).sum(axis=0)
        return grad_y * self.params["a"]
'''


def test_a_module_without_from_config_is_told_what_it_needs(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scale"}, {"type": "linear", "units": 10}], PLAIN)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "c.yaml: model.layers[1] (scale): Scale needs 'features': give it in " \
        "the entry, or give Scale a from_config(cls, input_shape, ...) classmethod" in err
    assert "input shape (64,)" in err


def test_a_wrong_size_from_a_user_module_names_the_layer_and_both_shapes(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scale", "features": 5},
                             {"type": "linear", "units": 10}], PLAIN)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: c.yaml: model.layers[1] (scale) cannot take its input of shape "
                          "(N, 64), the output of the layer before it; its parameters: a (5,).")
    assert "broadcast" not in err and err.count("\n") == 1
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "model.layers[1] (scale) cannot take its input of shape (N, 64)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_shape_message_of_the_module_itself_is_kept(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    checked = PLAIN.replace("        self._cache = x\n", "        self._expect_shape(x, (None, self.params['a'].size))\n"
                            "        self._cache = x\n")
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scale", "features": 5}], checked)
    assert main(["validate", str(path)]) == 2
    assert "c.yaml: model.layers[1] (scale): Scale expected input of shape (N, 5), got (2, 64)." in \
        capsys.readouterr().err


BUGGY = '''
import numpy as np
import layerwise as lw
from layerwise.losses import LOSSES, CrossEntropyLoss
from layerwise.optim import OPTIMIZERS, SGD


@lw.register
class BadFromConfig(lw.Module):
    @classmethod
    def from_config(cls, input_shape):
        return cls(input_shape[2])


@lw.register
class ReturnsNothing(lw.Module):
    @classmethod
    def from_config(cls, input_shape):
        return None


@lw.register
class KeyInForward(lw.Module):
    def forward(self, x):
        return {}["k"]


@lw.register
class DropsASample(lw.Module):
    def forward(self, x):
        return x[:-1]


def fails_when_training(name, fail):
    """A layer that passes x on, then calls ``fail()`` from its 41st forward in training mode (epoch 2)."""
    class Layer(lw.Module):
        calls = 0

        def forward(self, x):
            Layer.calls += 1
            return fail() if self.training and Layer.calls > 40 else x

        def backward(self, grad_y):
            return grad_y

    Layer.__name__ = Layer.__qualname__ = name
    return lw.register(Layer)


KeyWhenTraining = fails_when_training("KeyWhenTraining", lambda: {}["missing"])
BoomWhenTraining = fails_when_training("BoomWhenTraining", lambda: 1 / 0)


class BrokenLoss(CrossEntropyLoss):
    def forward(self, pred, target):
        return self.table["x"]


class RowNormSGD(SGD):
    def step(self, p, g, state, decay):
        p -= self.lr * g / np.linalg.norm(g, axis=1, keepdims=True)


LOSSES["broken"] = BrokenLoss
OPTIMIZERS["rownorm"] = RowNormSGD
'''


@pytest.mark.parametrize("layer, extra, message", [
    ("badfromconfig", {}, "model.layers[1] (badfromconfig): BadFromConfig.from_config raised IndexError: tuple index out of range"),
    ("returnsnothing", {}, "model.layers[1] (returnsnothing): ReturnsNothing.from_config returned None, not a module"),
    ("keyinforward", {}, "model.layers[1] (keyinforward): forward on a batch of 2 samples raised KeyError: 'k'"),
    ("dropsasample", {}, "model.layers[1] (dropsasample): forward on a batch of 2 samples returned an array of shape (1, 64)"),
    ("relu", {"loss": "broken"}, "loss: broken on 10 classes: BrokenLoss.forward on a probe batch raised AttributeError"),
    ("relu", {"optimizer": {"type": "rownorm", "lr": 0.1}},
     "optimizer RowNormSGD: a step on a probe parameter of shape (3,) raised AxisError"),
])
def test_a_plugins_own_mistake_is_one_line_naming_the_layer(tmp_path, capsys, plugin_sandbox, layer, extra, message):  # noqa: F811
    path = config(tmp_path, [{"type": "flatten"}, {"type": layer}, {"type": "linear", "units": 10}], BUGGY, **extra)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_plugin_module_failing_in_training_is_one_line_with_the_resume_command(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    path = config(tmp_path, [{"type": "flatten"}, {"type": "boomwhentraining"}, {"type": "linear", "units": 10}],
                  BUGGY, training={"epochs": 5})
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ZeroDivisionError: In module 1 (BoomWhenTraining) of Sequential" in err
    assert "raised by a module from outside layerwise" in err and f"--resume {tmp_path / 'run'}" in err


def test_a_plugin_that_takes_a_builtin_name_is_refused_naming_its_file(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    takes_sgd = "from layerwise.optim import OPTIMIZERS, SGD\n\nclass MySGD(SGD):\n    pass\n\nOPTIMIZERS['sgd'] = MySGD\n"
    path = config(tmp_path, [{"type": "flatten"}, {"type": "linear", "units": 10}], takes_sgd)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "The optimizer name 'sgd' is already registered to layerwise.optim.SGD" in err
    assert f"{tmp_path / 'my_layers.py'}:MySGD under another name" in err


def test_a_registry_entry_can_be_replaced_on_purpose():
    from layerwise.optim import OPTIMIZERS, SGD

    class Spy(SGD):
        pass

    assert OPTIMIZERS.replace("sgd", Spy) is SGD
    try:
        assert OPTIMIZERS["sgd"] is Spy
    finally:
        OPTIMIZERS.replace("sgd", SGD)


def test_a_plugin_file_also_imported_by_the_user_is_the_same_plugin(tmp_path, monkeypatch, plugin_sandbox):  # noqa: F811
    import importlib

    import layerwise as lw
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scaledtanh"}, {"type": "linear", "units": 10}],
                  readme_plugin())
    monkeypatch.syspath_prepend(str(tmp_path))
    mine = importlib.import_module("my_layers")        # the user's own import, then the config's plugins entry
    exp = lw.run.fit(str(path), out=str(tmp_path / "run"), progress="off")
    assert type(exp.model[1]).__name__ == "ScaledTanh" and lw.MODULES["scaledtanh"].__qualname__ == "ScaledTanh"
    assert lw.MODULES["scaledtanh"] in (mine.ScaledTanh, type(exp.model[1]))


def test_a_run_whose_plugin_file_moved_is_evaluated_and_resumed_with_its_new_path(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    import shutil
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scaledtanh"}, {"type": "linear", "units": 10}],
                  readme_plugin(), training={"epochs": 2})
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run), "--progress", "off"]) == 0
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(str(tmp_path / "my_layers.py"), moved / "my_layers.py")
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    assert (f"plugins[0]: no such file {tmp_path / 'my_layers.py'}. If the file moved, give its new place: --set "
            "'plugins=[/new/place/my_layers.py]'.") in capsys.readouterr().err
    new = f'plugins=["{moved / "my_layers.py"}"]'
    assert main(["evaluate", str(run), "--set", new]) == 0
    import numpy as np
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 8, 8)))
    assert main(["predict", str(run), str(tmp_path / "x.npz"), "--set", new]) == 0
    assert main(["predict", str(run), str(tmp_path / "x.npz"), "--set", "seed=3"]) == 2
    assert main(["saliency", str(run), "--set", new, "--n", "2", "--out", str(tmp_path / "sal")]) == 0
    assert main(["train", "--resume", str(run), "--set", new, "--set", "training.epochs=3", "--progress", "off"]) == 0


def test_an_edited_plugin_is_imported_again_in_the_same_process(tmp_path, plugin_sandbox):  # noqa: F811
    import os

    import layerwise as lw
    path = config(tmp_path, [{"type": "flatten"}, {"type": "scale", "features": 64}, {"type": "linear", "units": 10}],
                  PLAIN, training={"epochs": 1})
    first = lw.run.fit(str(path), out=str(tmp_path / "a"), progress="off").model[1]
    plugin = tmp_path / "my_layers.py"
    plugin.write_text(plugin.read_text().replace("class Scale(", "class Scale(  # edited\n        "))
    os.utime(plugin, ns=(plugin.stat().st_atime_ns, plugin.stat().st_mtime_ns + 10**9))
    second = lw.run.fit(str(path), out=str(tmp_path / "b"), progress="off").model[1]
    assert type(first) is not type(second) and lw.MODULES["scale"] is type(second)


def test_a_bug_in_layerwise_own_layer_is_not_dressed_as_a_config_error(tmp_path, monkeypatch):
    from layerwise.modules import Linear

    def broken(cls, input_shape, **kwargs):
        raise AttributeError("a layerwise bug")

    monkeypatch.setattr(Linear, "from_config", classmethod(broken))
    path = config(tmp_path, [{"type": "flatten"}, {"type": "linear", "units": 10}], "")
    with pytest.raises(AttributeError, match="a layerwise bug"):       # a traceback to report, not exit 2
        main(["validate", str(path)])


def test_a_plugin_module_raising_a_key_error_in_training_is_named_on_the_one_line(tmp_path, capsys, plugin_sandbox):  # noqa: F811
    path = config(tmp_path, [{"type": "flatten"}, {"type": "keywhentraining"}, {"type": "linear", "units": 10}],
                  BUGGY, training={"epochs": 5})
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KeyError: 'missing' (raised in module 1 (KeyWhenTraining) of Sequential)" in err
