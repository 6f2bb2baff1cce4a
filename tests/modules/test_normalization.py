"""Batch normalization: PyTorch's formulas (computed here by hand), running statistics, buffers, configs."""

import numpy as np
import pytest

import layerwise as lw
from layerwise.build import build_model
from layerwise.errors import ConfigError


def test_training_normalizes_with_biased_variance_and_updates_unbiased_running_stats(rng):
    x = rng.normal(3, 2, size=(8, 3, 4, 5))
    bn = lw.BatchNorm2d(3, dtype=np.float64)
    bn.params["gamma"][:] = [1.0, 2.0, 0.5]
    bn.params["beta"][:] = [0.0, -1.0, 3.0]
    y = bn.forward(x)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    for c in range(3):
        expected = (x[:, c] - mean[c]) / np.sqrt(var[c] + 1e-5) * bn.params["gamma"][c] + bn.params["beta"][c]
        np.testing.assert_allclose(y[:, c], expected, rtol=1e-12, atol=1e-12)
    m = 8 * 4 * 5
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * var * m / (m - 1), rtol=1e-12)


def test_eval_uses_the_running_statistics_and_leaves_them_alone(rng):
    bn = lw.BatchNorm1d(4, dtype=np.float64)
    for _ in range(3):
        bn.forward(rng.normal(1, 3, size=(16, 4)))
    mean, var = bn.buffers["running_mean"].copy(), bn.buffers["running_var"].copy()
    x = rng.normal(size=(5, 4))
    y = bn.eval().forward(x)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(bn.buffers["running_mean"], mean)
    np.testing.assert_array_equal(bn.buffers["running_var"], var)


def test_running_statistics_are_saved_and_restored(rng):
    bn = lw.BatchNorm2d(2)
    bn.forward(rng.random((4, 2, 3, 3), dtype=np.float32))
    state = bn.state_dict()
    assert set(state) == {"gamma", "beta", "running_mean", "running_var"}
    fresh = lw.BatchNorm2d(2).load_state_dict(state)
    np.testing.assert_array_equal(fresh.buffers["running_var"], bn.buffers["running_var"])


def test_gamma_and_beta_are_not_decayed():
    model = lw.Sequential(lw.Linear(3, 2, rng=0), lw.BatchNorm1d(2)).set_optimizer(lw.SGD(0.1, weight_decay=1.0))
    model.forward(np.ones((4, 3), np.float32))
    model.backward(np.zeros((4, 2), np.float32))
    model.update()
    np.testing.assert_array_equal(model[1].params["gamma"], [1, 1])   # a zero gradient and no decay
    assert model[1]._no_decay == {"gamma", "beta"}


def test_batchnorm_picks_1d_or_2d_from_the_input_rank():
    assert type(lw.BatchNorm.from_config((7,))) is lw.BatchNorm1d
    assert type(lw.BatchNorm.from_config((3, 8, 8), momentum=0.2)) is lw.BatchNorm2d
    with pytest.raises(ValueError, match=r"batchnorm expects \(N, F\) or \(N, C, H, W\), but the layer before "
                                         r"it gives \(N, 3, 4\)"):
        lw.BatchNorm.from_config((3, 4))
    with pytest.raises(ValueError, match=r"batchnorm2d expects \(N, C, H, W\), but the layer before it gives \(N, 16\)"):
        lw.BatchNorm2d.from_config((16,))
    model, _ = build_model([{"type": "batchnorm", "eps": 1e-3}, {"type": "flatten"}, {"type": "batchnorm1d"}],
                           (2, 3, 3), rng=0)
    assert type(model[0]) is lw.BatchNorm2d and model[0].eps == 1e-3 and type(model[2]) is lw.BatchNorm1d
    with pytest.raises(ConfigError, match=r"model.layers\[0\] \(batchnorm1d\): batchnorm1d expects \(N, F\)"):
        build_model([{"type": "batchnorm1d"}], (2, 3, 3), rng=0)


def test_errors():
    with pytest.raises(ValueError, match=r"^BatchNorm2d expects \(N, 3, H, W\), got \(2, 1, 28, 28\)\.$"):
        lw.BatchNorm2d(3).forward(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"^BatchNorm1d expects \(N, 4\), got \(2, 4, 2, 2\)\.$"):
        lw.BatchNorm1d(4).forward(np.zeros((2, 4, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"^BatchNorm2d expects \(N, 3, H, W\), got \(3, 5, 5\)\. One sample without"):
        lw.BatchNorm2d(3).forward(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="more than one value per channel in training"):
        lw.BatchNorm1d(4).forward(np.zeros((1, 4), np.float32))
    lw.BatchNorm1d(4).eval().forward(np.zeros((1, 4), np.float32))   # one sample is fine in eval
    with pytest.raises(ValueError, match=r"The 'momentum' parameter of BatchNorm1d must be a number >= 0 and <= 1"):
        lw.BatchNorm1d(4, momentum=1.5)
    with pytest.raises(ValueError, match=r"The 'eps' parameter of BatchNorm2d must be a number > 0"):
        lw.BatchNorm2d(4, eps=0)
