"""Every registered module passes gradcheck; a registered module without a case fails the suite."""

import numpy as np
import pytest

import layerwise as lw
from layerwise.modules import MODULES
from layerwise.modules.base import ShapeError

CASES = {
    "linear": (lambda rng: lw.Linear(4, 3, rng=rng), (5, 4)),
    "relu": (lambda rng: lw.ReLU(), (5, 4)),
    "leakyrelu": (lambda rng: lw.LeakyReLU(0.1), (5, 4)),
    "sigmoid": (lambda rng: lw.Sigmoid(), (3, 2, 4)),
    "tanh": (lambda rng: lw.Tanh(), (3, 2, 4)),
    "softmax": (lambda rng: lw.Softmax(), (5, 4)),
    "flatten": (lambda rng: lw.Flatten(), (3, 2, 2, 2)),
    "dropout": (lambda rng: lw.Dropout(0.4, rng=rng), (6, 5)),
    "conv2d": (lambda rng: lw.Conv2d(2, 3, 3, padding=1, rng=rng), (2, 2, 6, 6)),
    "conv2d stride 2, 2x3 kernel, odd sizes": (lambda rng: lw.Conv2d(3, 2, (2, 3), stride=2, rng=rng), (2, 3, 7, 9)),
    "conv2d pads (2, 1), strides (1, 3), no bias": (
        lambda rng: lw.Conv2d(2, 2, 3, stride=(1, 3), padding=(2, 1), bias=False, rng=rng), (2, 2, 5, 7)),
    "conv2d one channel (transposed columns)": (lambda rng: lw.Conv2d(1, 3, 3, padding=1, rng=rng), (3, 1, 5, 4)),
    "conv2d stride = kernel (col2im by reshape)": (lambda rng: lw.Conv2d(2, 3, 2, stride=2, rng=rng), (2, 2, 6, 4)),
    "conv2d stride > kernel": (lambda rng: lw.Conv2d(2, 2, 2, stride=3, padding=1, rng=rng), (2, 2, 7, 5)),
    "maxpool2d": (lambda rng: lw.MaxPool2d(2), (2, 3, 6, 6)),
    "maxpool2d odd sizes": (lambda rng: lw.MaxPool2d(2), (2, 2, 7, 5)),
    "maxpool2d overlapping 3x3 stride 2": (lambda rng: lw.MaxPool2d(3, stride=2), (2, 2, 7, 8)),
    "maxpool2d 2x3 stride (1, 2)": (lambda rng: lw.MaxPool2d((2, 3), stride=(1, 2)), (2, 2, 5, 8)),
    "avgpool2d": (lambda rng: lw.AvgPool2d(2), (2, 3, 6, 6)),
    "avgpool2d overlapping 3x2 stride 1": (lambda rng: lw.AvgPool2d((3, 2), stride=1), (2, 2, 5, 6)),
    "avgpool2d odd sizes": (lambda rng: lw.AvgPool2d(3), (2, 2, 7, 8)),
    "globalavgpool2d": (lambda rng: lw.GlobalAvgPool2d(), (3, 2, 5, 4)),
    "batchnorm1d": (lambda rng: lw.BatchNorm1d(4), (6, 4)),
    "batchnorm2d": (lambda rng: lw.BatchNorm2d(3), (4, 3, 5, 3)),
    "batchnorm": (lambda rng: lw.BatchNorm(3), (4, 3, 5)),
    "batchnorm from a config entry (2d)": (lambda rng: MODULES["batchnorm"].from_config((3, 4, 2)), (3, 3, 4, 2)),
    "batchnorm2d in eval mode": (lambda rng: _eval_batchnorm(rng), (4, 3, 2, 2)),
}


def _eval_batchnorm(rng):
    bn = lw.BatchNorm2d(3)
    bn.params["gamma"][:] = rng.uniform(0.5, 2, 3)
    bn.buffers["running_mean"][:] = rng.normal(size=3)
    bn.buffers["running_var"][:] = rng.uniform(0.5, 2, 3)
    return bn.eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_gradients_match_finite_differences(name, rng):
    make, shape = CASES[name]
    report = lw.gradcheck(make(rng), rng.uniform(-2, 2, size=shape))
    assert "input" in report.tensors


def test_every_registered_module_has_a_gradcheck_case():
    missing = set(MODULES) - set(CASES)
    assert not missing, f"registered modules without a gradcheck case: {sorted(missing)}"


def test_a_deep_mlp_passes_gradcheck_with_a_loss(rng):
    model = lw.Sequential(lw.Linear(6, 5, rng=rng), lw.Tanh(), lw.Linear(5, 4, rng=rng), lw.LeakyReLU(),
                          lw.Dropout(0.2, rng=rng), lw.Linear(4, 3, rng=rng))
    x = rng.normal(size=(7, 6))
    report = lw.gradcheck(model, x, loss=lw.CrossEntropyLoss(), target=rng.integers(0, 3, 7))
    assert set(report.tensors) == {"input", "0.W", "0.b", "2.W", "2.b", "5.W", "5.b"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_module_takes_integer_arrays_and_nested_lists(name):
    """Pooling, Softmax, Dropout, Flatten and LeakyReLU crashed on them (a NumPy casting error, or a list
    with no .shape), and Conv2d's message on a list contradicted itself. A layer with parameters computes
    in their dtype; one without in float64, which holds every int32 exactly."""
    make, shape = CASES[name]
    ints = np.random.default_rng(1).integers(-3, 4, size=shape).astype(np.int8)
    dtype = np.float32 if make(np.random.default_rng(0)).params else np.float64
    outs = []
    for x in (ints.astype(dtype), ints, ints.tolist()):
        m = make(np.random.default_rng(0))
        m = m.astype(np.float32) if m.params else m
        y = m.forward(x)
        assert isinstance(y, np.ndarray) and y.dtype == dtype, type(x)
        m.backward(np.ones_like(y))
        outs.append(y)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_large_integers_reach_a_float64_layer_exactly():
    """They went through float32 first: 2**24 + 1 came out as 2**24."""
    linear = lw.Linear(1, 1, bias=False, dtype=np.float64)
    linear.params["W"][:] = 1
    big = np.array([[2 ** 24 + 1]], np.int64)
    assert lw.Sequential(lw.Flatten(), linear).forward(big)[0, 0] == 2 ** 24 + 1
    assert lw.Sequential(lw.ReLU(), linear).forward(big)[0, 0] == 2 ** 24 + 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_refuses_a_gradient_not_shaped_like_the_output(name, rng):
    """Called on its own (a hand-written loop without Sequential), a layer took a (1, ...) or batch-less dL/dy
    and broadcast it over the batch: ReLU, Dropout, the activations and the pools returned a gradient for every
    sample without a word; the others failed with NumPy's broadcast or matmul message, naming no layer."""
    make, shape = CASES[name]
    m = make(rng)
    y = m.forward(rng.uniform(-2, 2, size=shape))
    g = rng.normal(size=y.shape)
    wider = np.ones(y.shape[:-1] + (y.shape[-1] + 1,))
    for bad in (wider, g[:1], g[0]):
        with pytest.raises(ShapeError, match=rf"^{type(m).__name__}\.backward got dL/dy of shape "
                                                rf"\({', '.join(map(str, bad.shape))},?\), but the last forward's "
                                                rf"output had shape \({', '.join(map(str, y.shape))}\)"):
            m.backward(bad)
    m = make(np.random.default_rng(3))      # a nested list of the right shape is the array it spells
    m.forward(np.random.default_rng(4).uniform(-2, 2, size=shape))
    from_list = m.backward(g.tolist())
    m = make(np.random.default_rng(3))
    m.forward(np.random.default_rng(4).uniform(-2, 2, size=shape))
    np.testing.assert_array_equal(from_list, m.backward(g))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_module_takes_an_empty_batch(name, rng):
    """Flatten could not reshape (0, C, H, W) (a -1 with no size to divide) and a one-channel Conv2d's backward
    failed the same way; PyTorch takes an empty batch. Batch norm in training has no statistics to take: it says so."""
    make, shape = CASES[name]
    m = make(rng)
    x = np.zeros((0,) + shape[1:])
    if isinstance(m, lw.BatchNorm) and m.training:
        with pytest.raises(ValueError, match="needs more than one value per channel in training"):
            m.forward(x)
        return
    y = m.forward(x)
    assert y.shape == (0,) + make(rng).forward(rng.normal(size=shape)).shape[1:]
    m.zero_grad()
    g = m.backward(np.ones(y.shape))
    assert g.shape == x.shape
    assert all(not v.any() for v in m.grads.values())
