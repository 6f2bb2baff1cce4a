"""Pooling against loop-based references; ties, memory layouts and error messages."""

import numpy as np
import pytest

import layerwise as lw


def pool_reference(x, kernel, stride, reduce):
    """Forward by loops, and for max pooling the first maximum's (row-major) position per window."""
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.zeros((n, c, ho, wo))
    first = {}
    for a in range(n):
        for f in range(c):
            for i in range(ho):
                for j in range(wo):
                    window = x[a, f, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    y[a, f, i, j] = reduce(window)
                    u, v = np.unravel_index(np.argmax(window), window.shape)   # argmax: the first maximum
                    first[a, f, i, j] = (i * sh + u, j * sw + v)
    return y, first


CASES = [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1), ((3, 1), (2, 1)), (2, 3), (1, None)]


def _kernel_stride(k, s):
    k = (k, k) if isinstance(k, int) else k
    return k, k if s is None else ((s, s) if isinstance(s, int) else s)


@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (2, 3, 6, 8)], ids=["odd", "even"])
@pytest.mark.parametrize("k, s", CASES)
def test_max_pool_matches_loops_and_sends_each_gradient_to_the_first_maximum(k, s, shape, rng):
    """Even sizes with 2x2 windows take the four-view path; the other cases the two passes."""
    x = rng.integers(0, 3, size=shape).astype(np.float64)   # many ties
    pool = lw.MaxPool2d(k, s)
    y = pool.forward(x)
    ref, first = pool_reference(x, *_kernel_stride(k, s), np.max)
    np.testing.assert_array_equal(y, ref)
    g = rng.normal(size=y.shape)
    expected = np.zeros_like(x)
    for (a, f, i, j), (r, col) in first.items():
        expected[a, f, r, col] += g[a, f, i, j]
    np.testing.assert_allclose(pool.backward(g), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("k, s", CASES)
def test_avg_pool_matches_loops(k, s, rng):
    x = rng.normal(size=(2, 3, 7, 8))
    pool = lw.AvgPool2d(k, s)
    ref, _ = pool_reference(x, *_kernel_stride(k, s), np.mean)
    np.testing.assert_allclose(pool.forward(x), ref, rtol=1e-12)


def test_a_constant_window_gives_its_gradient_to_its_first_pixel():
    pool = lw.MaxPool2d(2)
    pool.forward(np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1)))[0, 0], [[1, 0], [0, 0]])
    for window, winner in (([[0, 1], [1, 1]], [[0, 1], [0, 0]]), ([[0, 0], [1, 1]], [[0, 0], [1, 0]]),
                           ([[1, 0], [0, 1]], [[1, 0], [0, 0]]), ([[0, 0], [0, 1]], [[0, 0], [0, 1]])):
        pool.forward(np.array(window, float)[None, None])   # ties across rows and columns: row-major first
        np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1)))[0, 0], winner, err_msg=str(window))
    overlapping = lw.MaxPool2d(3, stride=1)
    overlapping.forward(np.zeros((1, 1, 4, 4)))
    dx = overlapping.backward(np.ones((1, 1, 2, 2)))[0, 0]
    np.testing.assert_array_equal(dx, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("layer", [lw.MaxPool2d(2), lw.MaxPool2d(3, 2), lw.AvgPool2d(2), lw.AvgPool2d(3, 1)])
def test_channels_last_memory_gives_the_same_numbers_and_keeps_its_order(layer, rng):
    x = rng.normal(size=(2, 4, 7, 6)).astype(np.float32)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y, y_last = layer.forward(x), None
    g = rng.normal(size=y.shape).astype(np.float32)
    dx = layer.backward(g)
    y_last = layer.forward(nhwc)
    dx_last = layer.backward(g)
    np.testing.assert_array_equal(y, y_last)
    np.testing.assert_array_equal(dx, dx_last)
    assert y_last.transpose(0, 2, 3, 1).flags.c_contiguous and dx_last.transpose(0, 2, 3, 1).flags.c_contiguous
    assert y_last.dtype == dx_last.dtype == np.float32


def test_global_average_pool():
    x = np.arange(2 * 3 * 2 * 4, dtype=np.float64).reshape(2, 3, 2, 4)
    pool = lw.GlobalAvgPool2d()
    np.testing.assert_array_equal(pool.forward(x), x.mean(axis=(2, 3)))
    dx = pool.backward(np.ones((2, 3)))
    assert dx.shape == x.shape and dx.flags.writeable and np.all(dx == 1 / 8)


def test_defaults_and_errors():
    assert lw.MaxPool2d(2).stride == (2, 2) and lw.AvgPool2d((2, 3), 1).stride == (1, 1)
    assert repr(lw.MaxPool2d(3, 2)) == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2))"
    with pytest.raises(ValueError, match=r"^MaxPool2d expects \(N, C, H, W\), got \(2, 784\)\.$"):
        lw.MaxPool2d(2).forward(np.zeros((2, 784)))
    with pytest.raises(ValueError, match=r"AvgPool2d's kernel 3x3 is larger than its input 2x8\."):
        lw.AvgPool2d(3).forward(np.zeros((1, 1, 2, 8)))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2d expects \(N, C, H, W\), got \(2, 5\)"):
        lw.GlobalAvgPool2d().forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"The 'stride' parameter of MaxPool2d must be an int >= 1"):
        lw.MaxPool2d(2, stride=0)
    with pytest.raises(RuntimeError, match="MaxPool2d.backward was called before forward"):
        lw.MaxPool2d(2).backward(np.zeros((1, 1, 1, 1)))


@pytest.mark.parametrize("shape", [(1, 2, 5, 5), (1, 2, 4, 4)], ids=["two passes", "four views"])
def test_a_wider_upstream_gradient_reaches_the_winners_only(shape, rng):
    """float32 inputs, float64 upstream: every pixel that did not win gets exactly 0."""
    x = rng.normal(size=shape).astype(np.float32)
    pool = lw.MaxPool2d(2)
    y = pool.forward(x)
    dx = pool.backward(np.full(y.shape, 0.1))
    _, first = pool_reference(x, (2, 2), (2, 2), np.max)
    winners = np.zeros(x.shape, bool)
    for (a, f, _, _), (r, c) in first.items():
        winners[a, f, r, c] = True
    assert np.all(dx[~winners] == 0)
    np.testing.assert_allclose(dx[winners], 0.1, rtol=1e-6)
