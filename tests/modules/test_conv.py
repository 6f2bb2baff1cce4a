"""Conv2d against a direct loop-based convolution; layouts, buffers, configs and error messages."""

import numpy as np
import pytest

import layerwise as lw
from layerwise.build import build_model
from layerwise.errors import ConfigError


def conv_reference(x, W, b, stride, padding):
    """y[n, o, i, j] = b[o] + sum_{c,u,v} W[o, c, u, v] x_pad[n, c, i sh + u, j sw + v], with plain loops."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for a in range(n):
        for f in range(o):
            for i in range(ho):
                for j in range(wo):
                    window = xp[a, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    y[a, f, i, j] = np.sum(window * W[f]) + (b[f] if b is not None else 0.0)
    return y


CONFIGS = [  # in, out, kernel, stride, padding, bias, (H, W)
    (1, 4, 3, 1, 1, True, (6, 5)),
    (3, 2, 3, 1, 0, True, (7, 7)),
    (2, 3, (2, 3), (2, 1), (1, 0), True, (7, 6)),
    (2, 2, 5, 3, 2, False, (9, 8)),
    (4, 3, 2, 2, 0, True, (6, 8)),
    (1, 2, (3, 1), (1, 2), (0, 1), True, (5, 5)),
]


@pytest.mark.parametrize("cin, cout, k, s, p, bias, hw", CONFIGS)
def test_forward_matches_a_loop_reference(cin, cout, k, s, p, bias, hw, rng):
    conv = lw.Conv2d(cin, cout, k, s, p, bias=bias, rng=rng, dtype=np.float64)
    if bias:
        conv.params["b"][:] = rng.normal(size=cout)
    x = rng.normal(size=(3, cin, *hw))
    y = conv.forward(x)
    ref = conv_reference(x, conv.params["W"], conv.params.get("b"), conv.stride, conv.padding)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cin, cout, k, s, p, bias, hw", CONFIGS)
def test_backward_is_the_adjoint_of_forward(cin, cout, k, s, p, bias, hw, rng):
    # <g, A x> = <A^T g, x> for the linear part: what col2im must satisfy for any layout and stride
    conv = lw.Conv2d(cin, cout, k, s, p, bias=False, rng=rng, dtype=np.float64)
    x = rng.normal(size=(2, cin, *hw))
    y = conv.forward(x)
    g = rng.normal(size=y.shape)
    assert np.isclose(np.vdot(g, y), np.vdot(conv.backward(g), x), rtol=1e-10)


def test_float32_in_and_out_and_channels_last_memory(rng):
    conv = lw.Conv2d(3, 8, 3, padding=1, rng=rng)
    x = rng.random((4, 3, 10, 10), dtype=np.float32)
    y = conv.forward(x)
    assert y.dtype == np.float32 and y.shape == (4, 8, 10, 10)
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous          # NCHW at the interface, NHWC in memory
    dx = conv.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    # the next layer gets the same numbers from a plain NCHW copy of the input
    again = lw.Conv2d(8, 2, 3, rng=rng)
    np.testing.assert_array_equal(again.forward(y), again.forward(np.ascontiguousarray(y)))


def test_outputs_do_not_share_the_reused_buffers(rng):
    conv = lw.Conv2d(2, 3, 3, padding=1, rng=rng)
    x1, x2 = rng.random((2, 2, 2, 5, 5), dtype=np.float32)
    y1 = conv.forward(x1)
    kept = y1.copy()
    g1 = conv.backward(np.ones_like(y1))
    kept_g = g1.copy()
    conv.forward(x2)
    conv.backward(np.full_like(y1, 2))
    np.testing.assert_array_equal(y1, kept)
    np.testing.assert_array_equal(g1, kept_g)


def test_gradients_accumulate_and_input_grad_false_returns_none(rng):
    conv = lw.Conv2d(1, 2, 3, rng=rng, dtype=np.float64)
    x = rng.normal(size=(2, 1, 5, 5))
    g = rng.normal(size=conv.forward(x).shape)
    conv.backward(g)
    once = {k: v.copy() for k, v in conv.grads.items()}
    assert conv.backward(g, input_grad=False) is None
    for k in once:
        np.testing.assert_allclose(conv.grads[k], 2 * once[k])


def test_bias_gradient_is_the_sum_of_the_upstream_gradient(rng):
    conv = lw.Conv2d(2, 3, 3, padding=1, rng=rng, dtype=np.float64)
    g = rng.normal(size=conv.forward(rng.normal(size=(2, 2, 4, 4))).shape)
    conv.backward(g)
    np.testing.assert_allclose(conv.grads["b"], g.sum(axis=(0, 2, 3)))


def test_shape_errors_name_the_layer_and_both_shapes(rng):
    conv = lw.Conv2d(3, 4, 3, rng=rng)
    with pytest.raises(ValueError, match=r"^Conv2d expects \(N, 3, H, W\), got \(2, 1, 28, 28\)\.$"):
        conv.forward(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d expects \(N, 3, H, W\), got \(2, 784\)\.$"):
        conv.forward(np.zeros((2, 784), np.float32))
    # one image without its batch axis: its 3 channels were shown as (N, 8, 8), as if it had 8
    with pytest.raises(ValueError, match=r"^Conv2d expects \(N, 3, H, W\), got \(3, 8, 8\)\. One sample without "
                                         r"its batch axis\? Pass x\[None\], a batch of one\.$"):
        conv.forward(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d's kernel 3x3 is larger than its input 2x5\."):
        conv.forward(np.zeros((2, 3, 2, 5), np.float32))
    padded = lw.Conv2d(1, 1, 5, padding=1, rng=rng)
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than its input 2x2 \(padded: 4x4\)"):
        padded.forward(np.zeros((1, 1, 2, 2), np.float32))


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel_size": 0}, "The 'kernel_size' parameter of Conv2d must be an int >= 1 or a pair of them. Got 0"),
    ({"kernel_size": (3, 3, 3)}, "'kernel_size' parameter of Conv2d must be an int >= 1 or a pair"),
    ({"kernel_size": 3, "stride": 0}, "The 'stride' parameter of Conv2d must be an int >= 1"),
    ({"kernel_size": 3, "padding": -1}, "The 'padding' parameter of Conv2d must be an int >= 0"),
    ({"kernel_size": True}, "'kernel_size' parameter of Conv2d"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        lw.Conv2d(1, 2, **kwargs)


def test_config_entries_infer_channels_and_the_memory_check_knows_the_shapes():
    layers = [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1},
              {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
              {"type": "conv2d", "filters": 6, "kernel_size": [2, 3], "stride": [1, 2], "init": "he_uniform"},
              {"type": "avgpool2d", "kernel_size": 1}, {"type": "globalavgpool2d"}, {"type": "batchnorm"},
              {"type": "linear", "units": 10}]
    model, out = build_model(layers, (3, 8, 8), rng=0)
    assert out == (10,)
    assert model[0].params["W"].shape == (4, 3, 3, 3) and model[4].params["W"].shape == (6, 4, 2, 3)
    assert type(model[1]) is lw.BatchNorm2d and type(model[7]) is lw.BatchNorm1d
    assert lw.Conv2d.param_shapes((3, 8, 8), filters=4, kernel_size=3) == {"W": (4, 3, 3, 3), "b": (4,)}
    assert "(N, 4, 8, 8)" in model.summary((3, 8, 8))


@pytest.mark.parametrize("layers, message", [
    ([{"type": "conv2d", "filters": 4, "kernel_size": 9}], r"kernel 9x9 is larger than its input 8x8"),
    ([{"type": "flatten"}, {"type": "conv2d", "filters": 4, "kernel_size": 3}],
     r"conv2d expects images \(N, C, H, W\), but the layer before it gives \(N, 64\)"),
    ([{"type": "conv2d", "filters": 0, "kernel_size": 3}], r"filters must be an int >= 1, got 0"),
    ([{"type": "conv2d", "filters": 2, "kernel": 3}], r"unknown key 'kernel' for layer 'conv2d'"),
    ([{"type": "flatten"}, {"type": "maxpool2d", "kernel_size": 2}], r"MaxPool2d expects \(N, C, H, W\), got \(N, 64\)"),
])
def test_config_errors_name_the_layer(layers, message):
    with pytest.raises(ConfigError, match=message):
        build_model(layers, (1, 8, 8), rng=0)
