"""Broken configs and bad data: one clear line on stderr naming file and key, exit status 2."""

import json

import pytest
import yaml

from layerwise.cli import main

GOOD = {"model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10}]},
        "training": {"epochs": 1}}


def with_(**changes):
    import copy
    data = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return yaml.safe_dump(data)


CASES = [
    ("a label column as a float", with_(data={"dataset": "csv", "path": "d.csv", "label_column": 1.0}),
     "bad.yaml: data.label_column: must be a column index (an integer) or a header name (a string), got 1.0."),
    ("sweep parameters nested by their dots", with_(sweep={"parameters": {"optimizer": {"lr": [0.1, 0.2]}}}),
     "bad.yaml: sweep.parameters.optimizer: is a mapping, not a spec: sweep.parameters keys keep their dots"),
    ("unknown top key", with_(trainig={"epochs": 3}), "bad.yaml: unknown key 'trainig'. Did you mean 'training'?"),
    ("negative lr", with_(optimizer={"type": "sgd", "lr": -0.1}), "bad.yaml: optimizer.lr must be a number > 0, got -0.1."),
    ("unknown optimizer", with_(optimizer={"type": "sgdd"}), "optimizer.type must be one of 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', got 'sgdd'. Did you mean 'sgd'?"),
    ("key of another optimizer", with_(optimizer={"type": "adam", "momentum": 0.9}), "unknown key 'optimizer.momentum'"),
    ("epochs as string", with_(training__epochs="ten"), "training.epochs must be an integer, got 'ten'."),
    ("zero batch size", with_(training__batch_size=0), "training.batch_size must be an integer >= 1, got 0."),
    ("bad dtype", with_(training__dtype="float16"), "training.dtype must be one of 'float32', 'float64', got 'float16'."),
    ("dataset typo", with_(data={"dataset": "mnsit"}), "data.dataset must be one of 'digits', 'mnist', 'fashion_mnist', 'diabetes', 'npz', 'csv', got 'mnsit'. Did you mean 'mnist'?"),
    ("val fraction 1", with_(data={"val_fraction": 1.0}), "data.val_fraction must be a number < 1, got 1.0."),
    ("schedule typo", with_(schedule={"type": "cosin"}), "schedule.type must be one of 'none', 'step', 'exponential', 'cosine', 'plateau', got 'cosin'. Did you mean 'cosine'?"),
    ("schedule key", with_(schedule={"type": "cosine", "warmup": 2}), "unknown key 'schedule.warmup'. Did you mean 'warmup_epochs'?"),
    ("layer type typo", with_(model={"layers": [{"type": "flatten"}, {"type": "rleu"}, {"type": "linear", "units": 10}]}), "bad.yaml: model.layers[1]: unknown layer type 'rleu'. Did you mean 'relu'?"),
    ("layer key typo", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "unit": 10}]}), "model.layers[1]: unknown key 'unit' for layer 'linear'. Did you mean 'units'?"),
    ("a data key the dataset does not read", with_(data={"dataset": "digits", "path": "/data/x.csv"}), "bad.yaml: data.path does nothing for dataset 'digits' (only mnist, fashion_mnist, npz, csv read it); remove it."),
    ("a csv key for another dataset", with_(data={"dataset": "digits", "label_column": 3}), "data.label_column does nothing for dataset 'digits' (only csv reads it); remove it."),
    ("download for a bundled dataset", with_(data={"dataset": "digits", "download": True}), "data.download does nothing for dataset 'digits' (only mnist, fashion_mnist read it)"),
    ("every layer frozen", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 10, "frozen": True}]}),
     "bad.yaml: model.layers: every layer with parameters is frozen, so training would change nothing; set frozen: "
     "false on the layers to train."),
    ("a warm-up longer than training", with_(schedule={"type": "cosine", "warmup_epochs": 5}, training={"epochs": 3}),
     "bad.yaml: schedule.warmup_epochs (5) is more than training.epochs (3): the rate would still be rising when "
     "training ends, and never reach optimizer.lr; give at most 3 warm-up epochs (or more epochs)."),
    ("a test share for a dataset with its own test files", with_(data={"dataset": "mnist", "test_fraction": 0.5}), "data.test_fraction does nothing for dataset 'mnist' (only digits, diabetes, npz, csv read it); remove it."),
    ("analysis.every without layer stats", with_(analysis={"every": 10}), "analysis.every sets how often layer statistics are recorded, but analysis.layer_stats is off"),
    ("key of a layer that takes none", with_(model={"layers": [{"type": "flatten", "scale": 2}, {"type": "linear", "units": 10}]}), "model.layers[0]: unknown key 'scale' for layer 'flatten'. It takes no keys."),
    ("layer without type", with_(model={"layers": [{"units": 10}]}), "model.layers[0] needs a 'type'"),
    ("no layers", with_(model={"layers": []}), "model.layers must be a list of at least 1 items, got []."),
    ("missing flatten", with_(model={"layers": [{"type": "linear", "units": 10}]}), "model.layers[0] (linear): linear expects flat inputs (N, features), but the layer before it gives (N, 1, 8, 8). Add {type: flatten} before it."),
    ("wrong output width", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 12}]}), "model.layers[1] (linear): the model outputs shape (12,) per sample, but cross_entropy on 10 classes needs (10,)"),
    ("dropout p", with_(model={"layers": [{"type": "flatten"}, {"type": "dropout", "p": 1.5}, {"type": "linear", "units": 10}]}), "model.layers[1] (dropout): The 'p' parameter of Dropout must be a float in [0, 1). Got 1.5 instead."),
    ("unknown init", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 10, "init": "he"}]}), "Unknown initializer 'he'"),
    ("misspelt init", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 10,
                                                                     "init": "he_unifrom"}]}),
     "Unknown initializer 'he_unifrom'. Did you mean 'he_uniform'?"),
    ("layer lr", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 10, "lr": 0}]}), "model.layers[1].lr must be a number > 0, got 0."),
    ("lr on a layer without weights", with_(model={"layers": [{"type": "flatten", "lr": 0.1}, {"type": "linear", "units": 10}]}), "model.layers[0] (flatten) has no parameters, so its 'lr' would do nothing"),
    ("a layer's own dtype", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 10, "dtype": "float16"}]}), "model.layers[1]: 'dtype' is not a key of a layer entry: the model sets it for every layer from training.dtype."),
    ("a layer's own rng", with_(model={"layers": [{"type": "flatten"}, {"type": "linear", "units": 10, "rng": 5}]}), "'rng' is not a key of a layer entry: the model sets it for every layer from seed."),
    ("seed beyond 32 bits", with_(seed=2**32), "seed must be"),
    ("a blank name", with_(name=" "), "name: must be a plain name for the run folder"),
    ("baseline param out of range", with_(baselines=[{"class": "sklearn.svm.SVC", "params": {"C": -1}}]), "bad.yaml: baselines[0].params: The 'C' parameter of SVC must be a float in the range (0.0, inf]. Got -1 instead."),
    ("augment shift off the canvas", with_(data={"augment": {"shift": 100}}), "bad.yaml: data.augment.shift is 100, but digits images are 8x8: a shift of 8 or more moves an image off its canvas"),
    ("baseline nan", with_(baselines=[{"class": "sklearn.svm.SVC", "params": {"C": float("nan")}}]), "baselines[0].params: must hold finite numbers only (no .nan, .inf), got {'C': nan}."),
    ("npz that is a csv", with_(data={"dataset": "npz", "path": "bad.yaml"}), "not a readable .npz file (it is not a zip archive of .npy arrays)."),
    ("early stopping without validation", with_(data={"val_fraction": 0.0}, training={"early_stopping": {"patience": 2}}), "training.early_stopping monitors the validation set, but data.val_fraction is 0"),
    ("loss typo", with_(loss="crossentropy"), "loss must be one of 'cross_entropy', 'bce_with_logits', 'bce', 'mse', 'l1', 'huber', got 'crossentropy'. Did you mean 'cross_entropy'?"),
    ("yaml syntax", "model:\n  layers: [{type: flatten}\ntraining: {}\n", "bad.yaml: line 3, column 1: invalid YAML"),
    ("python tag", "model: !!python/object/apply:os.system ['echo pwned']\n", "bad.yaml: line 1: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system' (only plain YAML is allowed"),
    ("not a mapping", "- 1\n- 2\n", "bad.yaml: the config must be a mapping of keys, got list."),
    ("empty file", "", "bad.yaml: the config is empty"),
    ("npz without path", with_(data={"dataset": "npz"}), "data.path is required for dataset 'npz'."),
    ("missing data file", with_(data={"dataset": "npz", "path": "nowhere.npz"}), "bad.yaml: data: "),
    ("mnist files missing", with_(data={"dataset": "mnist", "path": "."}), "missing train-images-idx3-ubyte.gz"),
    ("plugin file missing", with_(plugins=["my_layers.py"]), "bad.yaml: plugins[0]: no such file"),
    ("bad grad clip", with_(training__grad_clip_norm=-1), "training.grad_clip_norm must be a number > 0, got -1."),
    ("nesterov without momentum", with_(optimizer={"nesterov": True}), "bad.yaml: optimizer: SGD with nesterov=True needs momentum > 0."),
    ("betas out of bounds", with_(optimizer={"type": "adam", "betas": [0.9, 1.0]}), "optimizer.betas[1] must be a number < 1, got 1.0."),
    ("optimizer not a mapping", with_(optimizer="adam"), "bad.yaml: optimizer must be a mapping such as {type: sgd}, got 'adam'."),
    ("step schedule key", with_(schedule={"type": "step", "step": 3}), "unknown key 'schedule.step'. Did you mean 'step_size'?"),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_configs_fail_with_one_clear_line(tmp_path, capsys, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    assert main(["validate", "bad.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected in err


def test_at_least_twenty_kinds_are_covered():
    assert len(CASES) >= 20


def test_bad_override_and_missing_file(tmp_path, capsys):
    (tmp_path / "ok.yaml").write_text(with_())
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "optimizer.lr"]) == 2
    assert "--set optimizer.lr: expected KEY=VALUE" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "optimizer..lr=3"]) == 2     # it blamed 'optimizer'
    assert "--set optimizer..lr=3: the key 'optimizer..lr' has an empty part; a key is dotted names, such as " \
           "optimizer.lr or model.layers.1.units." in capsys.readouterr().err
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "optimizer.lr=-1"]) == 2
    assert "ok.yaml: optimizer.lr must be a number > 0, got -1 (from --set optimizer.lr=-1)." in capsys.readouterr().err
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "training.epochz=3"]) == 2
    assert "unknown key 'training.epochz'. Did you mean 'epochs'? (from --set training.epochz=3)." in capsys.readouterr().err
    # the layer's own checks run when the model is built, after validation: they name the entry, not the key
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "model.layers.1.units=0"]) == 2
    assert capsys.readouterr().err.endswith("units must be an int >= 1, got 0 (from --set model.layers.1.units=0).\n")
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "model.layers.1.units=100000000000"]) == 2
    err = capsys.readouterr().err
    assert "ok.yaml: model.layers[1] (linear, units 100000000000) has " in err and err.endswith(
        "available (from --set model.layers.1.units=100000000000).\n")
    assert main(["train", str(tmp_path / "ok.yaml"), "--set", "model.layers.10.units=3"]) == 2
    assert "(from --set" not in capsys.readouterr().err      # no such layer: its own message
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such config file." in capsys.readouterr().err


def test_a_failing_plugin_is_reported_on_one_line(tmp_path, capsys):
    (tmp_path / "plug.py").write_text("raise NameError('oops')\n")
    (tmp_path / "p.yaml").write_text(with_(plugins=["plug.py"]))
    assert main(["validate", str(tmp_path / "p.yaml")]) == 2
    assert "p.yaml: plugins[0]: importing 'plug.py' failed: NameError: oops" in capsys.readouterr().err


@pytest.fixture
def plugin_sandbox():
    """Undo what plugins register: the layer, loss, optimizer and schedule tables and the plugin modules imported.

    The table is restored in place, not replaced: ``layerwise.build`` holds the same dict, so a
    monkeypatched copy would leave build looking at the original (and the plugin in it).
    """
    import sys
    from layerwise.losses import LOSSES
    from layerwise.modules import registry
    from layerwise.optim import OPTIMIZERS
    from layerwise.schedules import SCHEDULES
    tables = (registry.MODULES, LOSSES, OPTIMIZERS, SCHEDULES)
    saved, imported = [dict(t) for t in tables], set(sys.modules)
    yield registry.MODULES
    for table, entries in zip(tables, saved):
        table.clear()
        table.update(entries)
    for name in set(sys.modules) - imported:
        if name.startswith("layerwise_plugin_"):
            del sys.modules[name]


def test_a_plugin_layer_becomes_a_layer_type(tmp_path, capsys, plugin_sandbox):
    from layerwise import build
    (tmp_path / "scale.py").write_text(
        "import layerwise as lw\n"
        "@lw.register('times_two')\n"
        "class TimesTwo(lw.Module):\n"
        "    def forward(self, x):\n"
        "        self._cache = True\n"
        "        return 2 * x\n"
        "    def backward(self, g):\n"
        "        self._cached()\n"
        "        return 2 * g\n")
    (tmp_path / "p.yaml").write_text(with_(plugins=["scale.py"], model={"layers": [
        {"type": "flatten"}, {"type": "times_two"}, {"type": "linear", "units": 10}]}))
    assert main(["validate", str(tmp_path / "p.yaml")]) == 0
    assert "TimesTwo()" in capsys.readouterr().out
    assert plugin_sandbox["times_two"].__name__ == "TimesTwo" and plugin_sandbox is build.MODULES


PLUGIN = """
import numpy as np
from layerwise.losses import LOSSES, CrossEntropyLoss
from layerwise.optim import OPTIMIZERS, Hyper, Optimizer
from layerwise.schedules import SCHEDULES, Schedule


class SignSGD(Optimizer):
    HYPERPARAMS = {"lr": Hyper(0.01, low_open=True), "weight_decay": Hyper(0.0)}

    def step(self, p, g, state, decay):
        p -= self.lr * np.sign(g)


class Halving(Schedule):
    def __init__(self, optimizers, *, epochs, rate=0.5, warmup_epochs=0):
        super().__init__(optimizers, epochs=epochs, warmup_epochs=warmup_epochs)
        self.rate = rate

    def factor(self, epoch):
        return self.rate ** epoch


LOSSES["ce"] = CrossEntropyLoss
OPTIMIZERS["signsgd"] = SignSGD
SCHEDULES["halving"] = Halving
"""


@pytest.fixture
def registries(plugin_sandbox):
    """Also undo what a plugin adds to the loss, optimizer, schedule and dataset tables (restored in place)."""
    from layerwise.losses import LOSSES
    from layerwise.optim import OPTIMIZERS
    from layerwise.data import DATASETS
    from layerwise.schedules import SCHEDULES
    saved = [(table, dict(table)) for table in (LOSSES, OPTIMIZERS, SCHEDULES, DATASETS)]
    yield
    for table, entries in saved:
        table.clear()
        table.update(entries)


def test_a_plugin_loss_optimizer_and_schedule_are_config_names_with_their_own_bounds(tmp_path, capsys, registries):
    (tmp_path / "extras.py").write_text(PLUGIN)
    config = tmp_path / "p.yaml"
    config.write_text(with_(plugins=["extras.py"], loss="ce", optimizer={"type": "signsgd", "lr": 0.05},
                            schedule={"type": "halving"}))
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["optimizer"] == {"type": "signsgd", "lr": 0.05, "weight_decay": 0.0}
    capsys.readouterr()
    assert main(["validate", str(config), "--set", "optimizer.lr=-1"]) == 2
    assert "p.yaml: optimizer.lr must be a number > 0, got -1 (from --set optimizer.lr=-1)." in capsys.readouterr().err
    assert main(["validate", str(config), "--set", "optimizer.momentum=0.9"]) == 2
    assert ("unknown key 'optimizer.momentum'. Known keys of optimizer: type, lr, weight_decay (from --set "
            "optimizer.momentum=0.9).") in capsys.readouterr().err
    for value, shown in ((".nan", "nan"), ("-.inf", "-inf")):    # a plugin schedule's own key: NaN may not pass
        assert main(["validate", str(config), "--set", f"schedule.rate={value}"]) == 2
        assert f"p.yaml: schedule.rate must be a finite number, got {shown} (from --set" in capsys.readouterr().err
    assert main(["validate", str(config), "--set", "schedule.rate=0.25"]) == 0


def accepts(section):
    from layerwise.config import optimizer_config
    from layerwise.errors import ConfigError
    try:
        optimizer_config(section)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_optimizer_configs_take_defaults_and_bounds_from_the_optimizer(name):
    from layerwise.config import optimizer_config
    from layerwise.optim import OPTIMIZERS
    table = OPTIMIZERS[name].HYPERPARAMS
    defaults = optimizer_config({"type": name}).model_dump()
    assert list(defaults) == ["type", *table]
    for key, hyper in table.items():
        assert defaults[key] == (0.01 if (name, key) == ("sgd", "lr") else
                                 list(hyper.default) if hyper.kind == "pair" else hyper.default)
        if hyper.kind == "bool":
            continue
        for value in (hyper.low, hyper.low - 1e-9, hyper.low + 1e-9, hyper.high, float("inf"), float("nan")):
            if value is not None:
                given = [value, value] if hyper.kind == "pair" else value
                assert accepts({"type": name, key: given}) == hyper.admits(value), (key, value)


def test_a_name_set_to_null_falls_back_to_the_file_stem(tmp_path):
    from layerwise.config import load_config
    path = tmp_path / "digits_try.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_config(path, ["name="]).name == "digits_try"
    assert load_config(path, ["name=abc"]).name == "abc"
    for stem, name in ((".hidden", "hidden"), (" lead", "lead"), ("..", "experiment"), ("a\tb", "a_b"),
                       ("my\\run", "my_run")):
        other = tmp_path / f"{stem}.yaml"       # the default name was the stem as it is, then refused
        other.write_text(yaml.safe_dump(GOOD))
        assert load_config(other).name == name


DATASET_PLUGIN = """
import numpy as np
from sklearn.datasets import load_iris
from layerwise.data import DATASETS


def iris(path):
    X, y = load_iris(return_X_y=True)
    return X, load_iris().target_names[y]            # string labels, encoded as any dataset's


def broken(path):
    return np.zeros(3)


def held_out(path):
    X, y = load_iris(return_X_y=True)
    return X[::2], y[::2], X[1::2], y[1::2]


def widths(path):
    X, y = load_iris(return_X_y=True)
    return X[:, 1:], X[:, 0]
widths.task = "regression"


DATASETS["iris"] = iris
DATASETS["broken"] = broken
DATASETS["held_out"] = held_out
DATASETS["widths"] = widths


def raises(path, n):
    raise OSError(f"no {n} here")


import functools
DATASETS["partial"] = functools.partial(raises, n=3)
"""


def test_a_plugin_dataset_is_a_config_name(tmp_path, capsys, registries):
    """datasets were a fixed tuple: a plugin could add a layer, loss, optimizer or schedule, never a dataset."""
    (tmp_path / "data.py").write_text(DATASET_PLUGIN)
    layers = [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}]
    config = tmp_path / "iris.yaml"
    config.write_text(with_(plugins=["data.py"], data={"dataset": "iris"}, model={"layers": layers},
                            training={"epochs": 3}))
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.3                # three classes, three epochs
    assert main(["train", str(config), "--out", str(tmp_path / "held"), "--progress", "off",
                 "--set", "data.dataset=held_out"]) == 0
    capsys.readouterr()
    assert main(["validate", str(config), "--set", "data.dataset=iriss"]) == 2
    assert "iris.yaml: data.dataset must be one of 'digits', " in capsys.readouterr().err
    assert main(["train", str(config), "--out", str(tmp_path / "b"), "--set", "data.dataset=broken"]) == 2
    assert ("dataset 'broken': broken returned ndarray; a dataset loader returns (X, y) or (X, y, X_test, y_test)."
            in capsys.readouterr().err)
    regression = [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 1}]
    assert main(["train", str(config), "--out", str(tmp_path / "w"), "--progress", "off", "--set", "data.dataset=widths",
                 "--set", "loss=mse", "--set", f"model.layers={json.dumps(regression)}"]) == 0
    assert {"test_rmse", "test_r2"} <= set(json.loads((tmp_path / "w" / "summary.json").read_text()))  # a regression
    assert main(["validate", str(config), "--set", "data.path=somewhere.csv"]) == 0    # a plugin's loader reads it
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(tmp_path / "p"), "--set", "data.dataset=partial"]) == 2
    assert "dataset 'partial': functools.partial(<function raises" in capsys.readouterr().err


FAILING_PLUGIN = """
from layerwise.losses import LOSSES, CrossEntropyLoss
from layerwise.optim import OPTIMIZERS, SGD


class RaisingLoss(CrossEntropyLoss):
    def backward(self):
        raise ValueError("my loss backward broke")


class NoneLoss(CrossEntropyLoss):
    def backward(self):
        return None


class MatrixOnly(SGD):
    def step(self, p, g, state, decay=True):
        if p.ndim == 2:
            raise ValueError("my optimizer cannot do matrices")
        return super().step(p, g, state, decay)


LOSSES["raising"], LOSSES["none_grad"], OPTIMIZERS["matrix_only"] = RaisingLoss, NoneLoss, MatrixOnly
"""


@pytest.mark.parametrize("setting, message", [
    ("loss=raising", "ValueError: my loss backward broke (raised in extras_fail.py:8, a plugin's code)."),
    ("optimizer.type=matrix_only", "ValueError: my optimizer cannot do matrices (raised in extras_fail.py:19, a "
                                   "plugin's code)."),
    ("loss=none_grad", "step 1: the loss NoneLoss's backward() returned NoneType; it must return dL/d(outputs), an "
                       "array of the outputs' shape (64, 10)."),
])
def test_a_plugin_loss_or_optimizer_that_fails_in_training_is_one_line(tmp_path, capsys, registries, setting,
                                                                         message):
    """A plugin layer's error was one line; a plugin loss's or optimizer's was a traceback with exit 1."""
    (tmp_path / "extras_fail.py").write_text(FAILING_PLUGIN)
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({**GOOD, "plugins": ["extras_fail.py"], "optimizer": {"type": "sgd", "lr": 0.1}}))
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--progress", "off", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: ") and err.count("\n") == 1 and message in err, err
    # the plugin's code is to fix; its run then resumes (no advice to change the learning rate)
    assert err.endswith(f"The checkpoint after epoch 0 is in {tmp_path / 'run'}; continue with: layerwise train "
                        f"--resume {tmp_path / 'run'}\n") and "optimizer.lr" not in err, err


def test_a_plugin_name_is_refused_in_a_config_that_does_not_list_the_plugin(tmp_path, plugin_sandbox):
    """Imported for one config, a plugin's names stayed registered: a later config in the same process trained
    with them, and its run's config.yaml (plugins: []) then loaded nowhere."""
    from layerwise.config import load_config
    from layerwise.errors import ConfigError
    (tmp_path / "extras_fail.py").write_text(FAILING_PLUGIN)
    listed = {**GOOD, "plugins": ["extras_fail.py"], "loss": "none_grad", "optimizer": {"type": "matrix_only", "lr": 1}}
    (tmp_path / "with.yaml").write_text(yaml.safe_dump(listed))
    assert load_config(tmp_path / "with.yaml").loss == "none_grad"
    for key, value in (("loss", "none_grad"), ("optimizer", {"type": "matrix_only", "lr": 1})):
        (tmp_path / "without.yaml").write_text(yaml.safe_dump({**GOOD, key: value}))
        with pytest.raises(ConfigError) as err:
            load_config(tmp_path / "without.yaml")
        what, name = ("loss", "none_grad") if key == "loss" else ("optimizer", "matrix_only")
        assert str(err.value) == (f"without.yaml: {key if key == 'loss' else 'optimizer.type'}: the "
                                  f"{what} {name!r} comes from the plugin {tmp_path / 'extras_fail.py'}, which this "
                                  "config does not list (it was imported earlier in this process); add it to plugins.")
    assert load_config(tmp_path / "with.yaml").optimizer.type == "matrix_only"     # imported already: still its own
    layer_own = {**GOOD, "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10,
                                                                     "optimizer": {"type": "matrix_only", "lr": 1}}]}}
    (tmp_path / "without.yaml").write_text(yaml.safe_dump(layer_own))
    with pytest.raises(ConfigError, match=r"model.layers\[1\].optimizer.type: the optimizer 'matrix_only' comes from"):
        load_config(tmp_path / "without.yaml")
    for bad in ({"type": ["sgd"]}, {"type": {"name": "sgd"}}):      # not names: the schema's message, not a crash
        (tmp_path / "without.yaml").write_text(yaml.safe_dump({**GOOD, "optimizer": bad}))
        with pytest.raises(ConfigError, match="optimizer.type must be one of"):
            load_config(tmp_path / "without.yaml")


def test_a_name_from_a_package_plugin_is_its_modules_under_either_entry(tmp_path, monkeypatch, plugin_sandbox):
    """Registered while `mypkg` was imported, the name was refused for a config listing `mypkg.losses`, the module
    that defines it."""
    from layerwise.config import load_config
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("from . import losses\n")
    (tmp_path / "mypkg" / "losses.py").write_text("from layerwise.losses import LOSSES, CrossEntropyLoss\n"
                                                  "class MyLoss(CrossEntropyLoss):\n    pass\n"
                                                  "LOSSES['my_pkg_loss'] = MyLoss\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for entry in ("mypkg", "mypkg.losses"):
        (tmp_path / "c.yaml").write_text(yaml.safe_dump({**GOOD, "plugins": [entry], "loss": "my_pkg_loss"}))
        assert load_config(tmp_path / "c.yaml").loss == "my_pkg_loss"


def test_a_layers_error_names_a_set_only_when_it_is_about_that_key(tmp_path, capsys):
    """Any --set inside model.layers[1] was credited with every error of that entry: the file's own bad init."""
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**GOOD, "model": {"layers": [
        {"type": "flatten"}, {"type": "linear", "units": 10, "init": "bogus"}]}}))
    assert main(["validate", str(tmp_path / "bad.yaml"), "--set", "model.layers.1.units=10"]) == 2
    err = capsys.readouterr().err
    assert "Unknown initializer 'bogus'" in err and "(from --set" not in err
    assert main(["validate", str(tmp_path / "bad.yaml"), "--set", "model.layers.1.init=nope"]) == 2
    assert "Unknown initializer 'nope'" in capsys.readouterr().err      # the value is named: no attribution needed


def test_a_set_that_changes_a_layers_size_is_named_by_the_refusals_it_causes(tmp_path, capsys):
    """The stricter rule lost them: 'kernel 20x20' names neither kernel_size nor 20 as a word, and a memory
    refusal of the layer's output names no key."""
    (tmp_path / "cnn.yaml").write_text(yaml.safe_dump({"data": {"dataset": "digits"}, "model": {"layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1}, {"type": "flatten"},
        {"type": "linear", "units": 10}]}}))
    for setting, says in (("model.layers[0].kernel_size=20", "kernel 20x20 is larger than its input 8x8"),
                          ("model.layers[0].filters=1000000", "outputs 64,000,000 values per sample")):
        assert main(["validate", str(tmp_path / "cnn.yaml"), "--set", setting]) == 2
        err = capsys.readouterr().err
        assert says in err and err.endswith(f"(from --set {setting}).\n")
