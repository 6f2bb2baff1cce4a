"""Augment: shapes, zero fill, loop references, seeding; the trainer applies it to training batches only,
and a resumed run with augmentation equals an uninterrupted one bit for bit."""

import csv
import json

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file

import layerwise as lw
from layerwise.cli import main
from layerwise.data.augment import Augment, affine, translate
from layerwise.errors import ConfigError


def test_translation_moves_whole_pixels_and_fills_with_zeros(rng):
    x = rng.random((6, 2, 7, 5), dtype=np.float32) + 1          # no zeros of its own
    t = np.array([[0, 0], [1, -2], [-3, 4], [7, 0], [2, 2], [-1, 1]])
    y = translate(x, t)
    expected = np.zeros_like(x)
    for n, (dy, dx) in enumerate(t):
        for i in range(7):
            for j in range(5):
                if 0 <= i - dy < 7 and 0 <= j - dx < 5:
                    expected[n, :, i, j] = x[n, :, i - dy, j - dx]
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)
    assert np.all(y[3] == 0)                                     # moved out entirely
    assert np.all(y[1, :, 0, :] == 0) and np.all(y[1, :, :, -2:] == 0)   # down 1, left 2


def test_rotation_without_angle_is_the_translation_and_quarter_turns_are_exact(rng):
    x = rng.random((4, 1, 6, 6))
    t = rng.integers(-2, 3, size=(4, 2))
    np.testing.assert_array_equal(affine(x, np.zeros(4), t), translate(x, t))
    turned = affine(x[:1], np.array([np.pi / 2]), np.zeros((1, 2), int))[0, 0]
    np.testing.assert_allclose(turned, np.rot90(x[0, 0]), atol=1e-12)     # counterclockwise as displayed


def test_augment_is_seeded_per_draw_and_keeps_shape_and_dtype(rng):
    x = rng.random((16, 1, 8, 8), dtype=np.float32)
    a, b = Augment(2, 10, rng=5), Augment(2, 10, rng=5)
    first = a(x)
    assert first.shape == x.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, a(x))                        # the next batch draws anew
    c = Augment(2, 10, rng=0)
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x), c(x))
    assert np.array_equal(Augment()(x), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"The 'shift' parameter of Augment must be an int >= 0. Got -1"):
        Augment(-1)
    with pytest.raises(ValueError, match=r"The 'rotate' parameter of Augment must be a number in \[0, 180\]"):
        Augment(1, 200)
    with pytest.raises(ValueError, match=r"Augment expects image batches \(N, C, H, W\), got shape \(4, 64\)"):
        Augment(1)(np.zeros((4, 64)))


def test_the_trainer_augments_training_batches_only(rng):
    seen = []

    class Spy(Augment):
        def __call__(self, x):
            seen.append(len(x))
            return super().__call__(x)

    model = lw.Sequential(lw.Flatten(), lw.Linear(16, 3, rng=0)).set_optimizer(lw.SGD(0.1))
    X, y = rng.random((10, 1, 4, 4), dtype=np.float32), rng.integers(0, 3, 10)
    trainer = lw.Trainer(model, epochs=2, batch_size=4, progress="off", augment=Spy(1, rng=0))
    trainer.fit(X, y, X, y)
    assert seen == [4, 4, 2, 4, 4, 2]                             # validation passes are not augmented
    meta, _ = trainer.state()
    assert meta["augment"] == trainer.augment.state_dict()


CNN = {
    "name": "tiny-cnn",
    "seed": 1,
    "data": {"dataset": "digits", "val_fraction": 0.1, "augment": {"shift": 1, "rotate": 10}},
    "model": {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1, "init": "he_uniform"},
                         {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
                         {"type": "flatten"}, {"type": "linear", "units": 10}]},
    "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
    "training": {"epochs": 3, "batch_size": 64},
}


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_second")}
                for row in csv.DictReader(f)]


def test_resume_with_augmentation_is_bit_exact(tmp_path):
    config = tmp_path / "cnn.yaml"
    config.write_text(yaml.safe_dump(CNN))
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", str(config), "--out", str(whole), "--progress", "off"]) == 0
    assert main(["train", str(config), "--out", str(part), "--progress", "off", "--set", "training.epochs=1"]) == 0
    assert main(["train", "--resume", str(part), "--set", "training.epochs=3", "--progress", "off"]) == 0
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert "1.running_var" in a                                    # batch norm's buffers are saved too
    assert _metrics(whole) == _metrics(part)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (whole, part))
    assert sa["test_accuracy"] == sb["test_accuracy"] and sa["test_accuracy"] > 0.5
    # without augmentation the same seed trains differently: the setting is in effect
    off = tmp_path / "off"
    assert main(["train", str(config), "--out", str(off), "--progress", "off", "--set", "data.augment=null"]) == 0
    assert _metrics(off) != _metrics(whole)


def test_augmenting_flat_data_is_a_config_error(tmp_path):
    from layerwise import run
    data = {**CNN, "data": {"dataset": "csv", "path": str(tmp_path / "t.csv"), "augment": {"shift": 1}},
            "model": {"layers": [{"type": "linear", "units": 2}]}}
    (tmp_path / "t.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with pytest.raises(ConfigError, match=r"data.augment moves and turns images \(C, H, W\), but csv samples have "
                                          r"shape \(2,\)"):
        run.prepare(data)
