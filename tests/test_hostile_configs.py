"""Hostile configs: each ends in one line on stderr (``layerwise: error: ...``) and exit status 2, for
``validate`` and ``train`` alike, without a traceback and without allocating what it asks for."""

import tracemalloc

import numpy as np
import pytest
import yaml

import layerwise as lw
from layerwise import memory
from layerwise.build import build_model
from layerwise.cli import main
from layerwise.errors import ConfigError
from layerwise.modules import MODULES
from layerwise.optim import SGD, Adam

LAYERS = "model: {layers: [{type: flatten}, {type: linear, units: 10}]}\ntraining: {epochs: 1}\n"


def alias_bomb(levels=9):
    """The "billion laughs": each level lists the one before nine times (9**9 strings expanded)."""
    text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels):
        text += f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n"
    return text


def with_layer(entry):
    return f"model: {{layers: [{{type: flatten}}, {entry}, {{type: linear, units: 10}}]}}\ntraining: {{epochs: 1}}\n"


DIRECTORY = object()

CORPUS = {
    # sizes
    "huge units": ("model: {layers: [{type: flatten}, {type: linear, units: 100000000000}]}\n",
                   "model.layers[1] (linear, units 100000000000) has 6,500,000,000,000 parameters"),
    "huge epochs": (LAYERS.replace("epochs: 1", "epochs: 1000000000000"), "training.epochs must be an integer <= "),
    "units as a float": ("model: {layers: [{type: flatten}, {type: linear, units: 1e11}]}\n",
                         "units must be an int >= 1, got 100000000000.0."),
    "integer of 5000 digits": ("seed: " + "9" * 5000 + "\n" + LAYERS, "a value cannot be read"),
    # nan and inf
    "lr inf": (LAYERS + "optimizer: {lr: .inf}\n", "optimizer.lr must be a finite number, got inf."),
    "momentum -inf": (LAYERS + "optimizer: {momentum: -.inf}\n", "optimizer.momentum must be a finite number"),
    "betas nan": (LAYERS + "optimizer: {type: adam, betas: [.nan, 0.9]}\n", "optimizer.betas[0] must be a finite"),
    "layer lr inf": (with_layer("{type: linear, units: 8, lr: .inf}"), "model.layers[1].lr must be a finite number"),
    "layer argument -inf": (with_layer("{type: leakyrelu, negative_slope: -.inf}"),
                            "model.layers[1].negative_slope must be a finite number, got -inf."),
    "dropout nan": (with_layer("{type: dropout, p: .nan}"), "must be a finite number, got nan."),
    "val_fraction nan": (LAYERS + "data: {val_fraction: .nan}\n", "data.val_fraction must be a finite number"),
    "gamma -inf": (LAYERS + "schedule: {type: step, gamma: -.inf}\n", "schedule.gamma must be a finite number"),
    "grad clip inf": (LAYERS.replace("epochs: 1", "epochs: 1, grad_clip_norm: .inf"),
                      "training.grad_clip_norm must be a finite number, got inf."),
    "min_delta nan": (LAYERS.replace("epochs: 1", "epochs: 1, early_stopping: {min_delta: .nan}"),
                      "training.early_stopping.min_delta must be a finite number"),
    "seed nan": ("seed: .nan\n" + LAYERS, "seed must be an integer, got nan."),
    # YAML structure
    "alias bomb": (alias_bomb() + "model: {layers: *a8}\n", "expand to more than 100,000 values"),
    "alias bomb in a layer": (alias_bomb() + with_layer("{type: relu, x: *a8}"), "expand to more than 100,000 values"),
    "an anchor that contains itself": ("model: &m {layers: [*m]}\n", "a value that contains itself"),
    "10000 nested lists": ("model: {layers: " + "[" * 10000 + "]" * 10000 + "}\n", "nested too deeply"),
    "5000 nested mappings": ("model: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nested too deeply"),
    "300 nested lists as a name": ("name: " + "[" * 300 + "]" * 300 + "\n" + LAYERS, "name must be a string"),
    "a key said twice": (LAYERS + "optimizer: {type: sgd, lr: 0.1, momentum: 0.9}\nseed: 1\noptimizer: {lr: 5.0}\n",
                         "the key 'optimizer' appears twice in one mapping (first on line "),
    "a key said twice in a layer": (with_layer("{type: linear, units: 8, units: 9}"), "the key 'units' appears twice"),
    # names that would put the run folder elsewhere
    "a name that climbs out of runs/": ("name: ../../evil\n" + LAYERS, "name: must be a plain name for the run folder"),
    "a name with a folder": ("name: a/b\n" + LAYERS, "name: must be a plain name"),
    "a hidden name": ("name: .hidden\n" + LAYERS, "name: must be a plain name"),
    "a list": ("- 1\n- 2\n", "the config must be a mapping of keys, got list."),
    "a scalar": ("42\n", "the config must be a mapping of keys, got int."),
    "empty": ("", "the config is empty"),
    "only a comment": ("# nothing here\n", "the config is empty"),
    # not text
    "random bytes": (np.random.default_rng(0).bytes(4096), "not a text file in UTF-8"),
    "a PNG": (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a text file in UTF-8 (byte 0x89 at offset 0)"),
    "UTF-16": (LAYERS.encode("utf-16"), "not a text file in UTF-8 (byte 0xff at offset 0)"),
    "a NUL character": (LAYERS + "\x00", "invalid YAML: unacceptable character #x0000"),
    "a directory": (DIRECTORY, "is a directory, not a config file."),
    # a bool given as something else was read by its truth ("false" is true)
    "bias as a string": (with_layer("{type: linear, units: 8, bias: 'false'}"),
                         "model.layers[1].bias must be true or false, got 'false'."),
    "conv bias 2": (LAYERS.replace("{type: flatten}", "{type: conv2d, filters: 2, kernel_size: 3, bias: 2}, "
                                                      "{type: flatten}"),
                    "model.layers[0].bias must be true or false, got 2."),
    "frozen 1": (with_layer("{type: linear, units: 8, frozen: 1}"),
                 "model.layers[1].frozen must be true or false, got 1."),
    "2 MB of comments": (LAYERS + ("# " + "x" * 98 + "\n") * 21_000, "larger than 1 MiB; a config is a few lines"),
}


@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_hostile_config_ends_in_one_line_and_exit_status_2(tmp_path, capsys, monkeypatch, name, command):
    monkeypatch.chdir(tmp_path)
    content, expected = CORPUS[name]
    path = tmp_path / "hostile.yaml"
    if content is DIRECTORY:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    out = tmp_path / "run"
    assert main([command, "hostile.yaml"] + (["--out", str(out)] if command == "train" else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: hostile.yaml") and err.count("\n") == 1, err
    assert expected in err
    assert not out.exists()


def test_a_directory_that_holds_a_config_is_named(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(LAYERS)
    assert main(["validate", str(tmp_path)]) == 2
    assert f"Did you mean {tmp_path / 'config.yaml'}?" in capsys.readouterr().err


def test_nan_from_the_command_line_is_refused_too(tmp_path, capsys):
    (tmp_path / "ok.yaml").write_text(LAYERS)
    assert main(["validate", str(tmp_path / "ok.yaml"), "--set", "optimizer.weight_decay=.nan"]) == 2
    assert ("ok.yaml: optimizer.weight_decay must be a finite number, got nan (from --set optimizer.weight_decay=.nan)."
            in capsys.readouterr().err)


def too_little_memory(monkeypatch, nbytes):
    monkeypatch.setattr(memory, "available_memory", lambda: nbytes)


def test_a_layer_too_big_for_memory_is_refused_before_anything_is_allocated(monkeypatch):
    too_little_memory(monkeypatch, 64 * 2**20)
    layers = [{"type": "flatten"}, {"type": "linear", "units": 300_000}]    # 19.5M parameters, 156 MB
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            build_model(layers, (1, 8, 8), rng=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == ("model.layers[1] (linear, units 300000) has 19,500,000 parameters: with gradients, optimizer state "
                               "and one batch of 1, the model up to it would need 149 MiB, but this machine has "
                               "64 MiB available.")
    assert peak < 2**20


def test_gradients_optimizer_state_and_one_batch_are_counted(monkeypatch):
    too_little_memory(monkeypatch, 70 * 2**20)
    layers = [{"type": "flatten"}, {"type": "linear", "units": 100_000}]    # 6.5M parameters: 26 MB
    model, _ = build_model(layers, (1, 8, 8), rng=0, optimizer=SGD(lr=0.1))  # with gradients: 49.6 MiB
    assert model.optimizer.lr == 0.1
    with pytest.raises(ConfigError, match=r"would need 74.4 MiB"):         # momentum keeps one more array
        build_model(layers, (1, 8, 8), rng=0, optimizer=SGD(lr=0.1, momentum=0.9))
    with pytest.raises(ConfigError, match=r"would need 99.2 MiB"):         # Adam keeps two
        build_model(layers, (1, 8, 8), rng=0, optimizer=Adam())
    own = [layers[0], {**layers[1], "optimizer": {"type": "adam"}}]         # a layer's own optimizer counts
    with pytest.raises(ConfigError, match=r"^model.layers\[1\] \(linear, units 100000\) has 6,500,000 parameters"):
        build_model(own, (1, 8, 8), rng=0, optimizer=SGD(lr=0.1))
    build_model([layers[0], {**own[1], "frozen": True}, {"type": "linear", "units": 2}], (1, 8, 8), rng=0,
                optimizer=SGD(lr=0.1))      # the frozen layer's Adam keeps no state
    with pytest.raises(ConfigError, match=r"^model.layers\[1\] \(linear\) outputs 100,000 values per sample: "
                                          r".* one batch of 64,"):
        build_model(layers, (1, 8, 8), rng=0, optimizer=SGD(lr=0.1), batch_size=64)


def test_a_user_layer_that_gives_its_param_shapes_is_refused_before_it_is_built(monkeypatch):
    from layerwise.modules import MODULES, Module
    built = []

    class Wide(Module):
        def __init__(self, width, *, dtype=np.float32):
            super().__init__()
            built.append(width)
            self.register_param("W", np.zeros(width, dtype))

        @classmethod
        def param_shapes(cls, input_shape, *, width, **_):
            return {"W": (width,)}

        def forward(self, x):
            return x

    monkeypatch.setitem(MODULES, "wide", Wide)
    too_little_memory(monkeypatch, 2**20)
    with pytest.raises(ConfigError, match=r"^model.layers\[0\] \(wide[^)]*\) has 1,000,000 parameters"):
        build_model([{"type": "wide", "width": 1_000_000}], (4,))
    assert built == []
    monkeypatch.delattr(Wide, "param_shapes")       # without them, it is counted as soon as it is built
    with pytest.raises(ConfigError, match=r"^model.layers\[0\] \(wide[^)]*\) has 1,000,000 parameters"):
        build_model([{"type": "wide", "width": 1_000_000}], (4,))
    assert built == [1_000_000]


def test_a_convolutions_im2col_work_space_is_counted(monkeypatch):
    """A 3x3 convolution's columns hold 9x its input: counted before the first batch, with the layer named."""
    layers = [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1}]
    conv = build_model(layers, (8, 32, 32), rng=0)[0][0]
    kept, passing = conv.work_values((8, 32, 32))   # columns (with the bias's) and padded input; backward blocks
    assert (kept, passing) == (32 * 32 * (9 * 8 + 1) + 34 * 34 * 8, 9 * 32 * 32 * 8) == (84_000, 73_728)
    conv.forward(np.zeros((2, 8, 32, 32), np.float32))
    assert conv._scratch.arrays["cols"].size + conv._scratch.arrays["padded"].size == 2 * kept
    too_little_memory(monkeypatch, 32 * 2**20)
    with pytest.raises(ConfigError, match=r"^model.layers\[0\] \(conv2d\) works on 157,728 values per sample: "
                                          r".* one batch of 64, the model up to it would need 42.5 MiB"):
        build_model(layers, (8, 32, 32), rng=0, batch_size=64)
    build_model(layers, (8, 32, 32), rng=0, batch_size=16)
    # the blocks of a backward exist one layer at a time: two convolutions count the larger once
    two = layers + [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1}]
    plan_bytes = {}
    monkeypatch.setattr(memory.MemoryPlan, "_add", lambda self, n, what: plan_bytes.update(
        kept=plan_bytes.get("kept", 0) + n, passing=self.passing))
    build_model(two, (8, 32, 32), rng=0, batch_size=1)
    assert plan_bytes["passing"] == 4 * 73_728         # conv 1's blocks (8 channels) > conv 2's (4 channels)


def test_a_batch_larger_than_the_data_counts_as_the_data_and_trains(tmp_path, capsys):
    """batch_size 1e11 on digits: no batch is larger than the training set, so the memory check counts that
    (it refused a batch that can never exist); with the sizes unknown it names the input batch."""
    config = tmp_path / "big.yaml"
    config.write_text(LAYERS.replace("epochs: 1", "epochs: 2, batch_size: 100000000000"))
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--progress", "off"]) == 0
    assert "epochs 2" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"^the input: 64 values per sample: with gradients, optimizer state and "
                                          r"one batch of 100,000,000,000, the model up to it would need 23.3 TiB"):
        build_model([{"type": "flatten"}, {"type": "linear", "units": 10}], (1, 8, 8), rng=0,
                    batch_size=100_000_000_000)


@pytest.mark.parametrize("layers, input_shape, batch_size, message", [
    # layers[1] fits; layers[2] does not: layers[1]'s 26 MB used to be allocated before the refusal
    ([{"type": "flatten"}, {"type": "linear", "units": 100_000}, {"type": "linear", "units": 64}], (1, 8, 8), 1,
     r"^model.layers\[2\] \(linear, units \d+\) has 6,400,064 parameters: .* would need 99.\d MiB, but this machine has 80 MiB"),
    # 150 parameters whose padded output holds 64 million values a sample: it used to be run to be measured
    ([{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 2000}, {"type": "relu"}], (1, 8, 8), 4,
     r"^model.layers\[0\] \(conv2d\) outputs 64,192,144 values per sample: .* one batch of 4"),
    # after layers that change shape (pool, global pool, batchnorm, dropout), a wide linear is still seen ahead
    ([{"type": "conv2d", "filters": 8, "kernel_size": 3}, {"type": "maxpool2d", "kernel_size": 2},
      {"type": "batchnorm"}, {"type": "dropout", "p": 0.5}, {"type": "globalavgpool2d"},
      {"type": "linear", "units": 4_000_000}], (1, 8, 8), 1,
     r"^model.layers\[5\] \(linear, units \d+\) has 36,000,000 parameters"),
])
def test_a_model_too_large_is_refused_before_any_layer_is_built(monkeypatch, layers, input_shape, batch_size, message):
    too_little_memory(monkeypatch, 80 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=message):
            build_model(layers, input_shape, rng=0, batch_size=batch_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_the_look_ahead_counts_what_the_build_counts(monkeypatch):
    """For every built-in layer the planned parameter and output sizes are those of the built model."""
    layers = [{"type": "conv2d", "filters": 6, "kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0)},
              {"type": "batchnorm"}, {"type": "leakyrelu"}, {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
              {"type": "maxpool2d", "kernel_size": (2, 3)}, {"type": "dropout"}, {"type": "flatten"},
              {"type": "linear", "units": 7}, {"type": "tanh"}, {"type": "sigmoid"}, {"type": "softmax"}]
    counted = []
    monkeypatch.setattr(memory.MemoryPlan, "_add", lambda self, n, what: counted.append((n, what)))
    build_model(layers, (3, 11, 9), rng=0, batch_size=5, optimizer=Adam())
    half = len(counted) // 2
    # the input; the conv's parameters, output and work space; the batchnorm's parameters and output;
    # the linear's parameters; one output for each of the other nine layers
    assert counted[:half] == counted[half:] and half == 1 + 3 + 2 + 1 + 9


def test_the_look_ahead_leaves_the_first_bad_entry_to_be_reported_first():
    """A bad key in layers[2] was reported before layers[0]'s wrong input shape."""
    layers = [{"type": "batchnorm"}, {"type": "relu"}, {"type": "relu", "foo": 1}]
    with pytest.raises(ConfigError, match=r"^model.layers\[0\] \(batchnorm\): "):
        build_model(layers, (3, 4), rng=0)


class Normed(lw.Module):
    """A plugin layer whose argument defaults to False but takes a name too."""

    def __init__(self, norm=False):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        return x


def test_a_plugin_argument_with_a_bool_default_takes_what_its_constructor_takes(monkeypatch):
    """Only built-in layers' bool arguments must be true or false: norm: l2 was refused."""
    monkeypatch.setitem(MODULES, "normed", Normed)
    model, _ = build_model([{"type": "normed", "norm": "l2"}], (3,), rng=0)
    assert model[0].norm == "l2"


class ScaledReLU(lw.ReLU):
    """A user subclass of a parameterless built-in layer that adds a parameter."""

    def __init__(self):
        super().__init__()
        self.register_param("scale", np.ones(4_000_000, np.float32))


def test_a_user_subclass_that_adds_parameters_is_counted(monkeypatch):
    """It inherited ReLU's 'no parameters' and its 4 million were never counted."""
    monkeypatch.setitem(MODULES, "scaledrelu", ScaledReLU)
    too_little_memory(monkeypatch, 20 * 2**20)
    with pytest.raises(ConfigError, match=r"^model.layers\[0\] \(scaledrelu[^)]*\) has 4,000,000 parameters"):
        build_model([{"type": "scaledrelu"}], (3,), rng=0)


class MyLinear(lw.Linear):
    """A plugin subclass of a built-in layer: it takes the built-in's bool arguments."""


def test_a_subclass_of_a_built_in_layer_keeps_its_bool_checks(monkeypatch):
    monkeypatch.setitem(MODULES, "mylinear", MyLinear)
    with pytest.raises(ConfigError, match=r"model.layers\[0\].bias must be true or false, got 'false'"):
        build_model([{"type": "mylinear", "units": 3, "bias": "false"}], (4,), rng=0)


def test_the_evaluation_batch_is_counted_when_it_is_the_larger(monkeypatch, tmp_path, capsys):
    """Validation and test run at training.eval_batch_size (1024 by default): a conv model that fitted at
    batch 16 took 1 GiB there, past the check."""
    config = {"data": {"dataset": "digits"}, "training": {"epochs": 1, "batch_size": 16},
              "model": {"layers": [{"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": 1},
                                   {"type": "relu"}, {"type": "flatten"}, {"type": "linear", "units": 10}]}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    too_little_memory(monkeypatch, 20 * 2**20)
    assert main(["validate", str(tmp_path / "c.yaml"), "--set", "training.eval_batch_size=16"]) == 0
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "one batch of 360 (an evaluation batch, training.eval_batch_size), the model up to it would need" in err
    # layerwise time judges the batch it times, before making it
    assert main(["time", str(tmp_path / "c.yaml"), "--batch-size", "100000", "--repeats", "1"]) == 2
    assert "one batch of 100,000 (--batch-size)" in capsys.readouterr().err
