"""Elementwise activations and Softmax; each works on inputs of any shape."""

import numbers

import numpy as np

from .base import Elementwise, float_input, grad_like_output
from .registry import register


@register
class ReLU(Elementwise):
    r"""``y = max(x, 0)``.

    Notes
    -----
    ``dL/dx = dL/dy * 1[x > 0]`` (same shape as x): the diagonal ``D`` of the notes.
    """

    output_range = (0.0, float("inf"))

    def __init__(self):
        super().__init__()
        self._zeros = (None, None)

    def forward(self, x):
        # against a kept zero array, not the scalar 0: NumPy 2.4's maximum takes its SIMD loop only when
        # the broadcast input is not a scalar (0.26 ms instead of 0.60 for a 64x32x28x28 batch). For
        # images one sample's worth of zeros, broadcast over the batch, stays in cache
        x = float_input(x)
        key, zeros = self._zeros
        if key != (x.shape, x.dtype, x.strides):
            zeros = np.zeros_like(x[0] if x.ndim > 2 and len(x) else x)
            self._zeros = ((x.shape, x.dtype, x.strides), zeros)
        y = np.maximum(x, zeros)
        self._cache = y
        return y

    def backward(self, grad_y):
        y = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, y.shape)
        return np.multiply(grad_y, y > 0, dtype=grad_y.dtype)


@register
class LeakyReLU(Elementwise):
    r"""``y = x if x > 0 else negative_slope * x``.

    Notes
    -----
    ``dL/dx = dL/dy * (1 if x > 0 else negative_slope)`` (same shape as x).
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
            raise ValueError("The 'negative_slope' parameter of LeakyReLU must be a number. "
                             f"Got {negative_slope!r} instead.")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        x = float_input(x)
        positive = x > 0
        self._cache = positive
        return np.where(positive, x, x * self.negative_slope)

    def backward(self, grad_y):
        positive = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, positive.shape)
        return np.where(positive, grad_y, grad_y * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


@register
class Sigmoid(Elementwise):
    r"""``y = 1 / (1 + exp(-x))``, computed as ``(1 + tanh(x / 2)) / 2`` so it never overflows.

    Notes
    -----
    ``dL/dx = dL/dy * y * (1 - y)`` (same shape as x).
    """

    output_range = (0.0, 1.0)

    def forward(self, x):
        y = sigmoid(float_input(x))
        self._cache = y
        return y

    def backward(self, grad_y):
        y = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, y.shape)
        return grad_y * y * (1 - y)


@register
class Tanh(Elementwise):
    r"""``y = tanh(x)``.

    Notes
    -----
    ``dL/dx = dL/dy * (1 - y^2)`` (same shape as x).
    """

    output_range = (-1.0, 1.0)

    def forward(self, x):
        y = np.tanh(float_input(x))
        self._cache = y
        return y

    def backward(self, grad_y):
        y = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, y.shape)
        return grad_y * (1 - y * y)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, a new array: with ``e = exp(-|x|)``, which never overflows, ``1 / (1 + e)`` for
    x >= 0 and ``e / (1 + e)`` below, both to the dtype's relative precision (``(1 + tanh(x / 2)) / 2`` lost
    the small values: 0 from x = -17 in float32)."""
    e = np.abs(x)
    if isinstance(e, np.ndarray):
        np.negative(e, out=e)
        np.exp(e, out=e)
    else:                   # a NumPy scalar
        e = np.exp(-e)
    y = np.maximum(e, np.greater_equal(x, 0))    # 1 where x >= 0 (e <= 1 there), e below (np.where: 3x slower)
    e += 1
    y /= e
    return y


def softmax_parts(x, axis=-1, *, overwrite=False):
    """``(x - max, exp(x - max), sum of exp)`` along ``axis`` (the sum keeps the axis): the max is
    subtracted so exp cannot overflow. :func:`softmax` divides the two; cross-entropy also takes the log.
    ``overwrite=True`` subtracts in place: ``x`` itself is returned as the first part."""
    top = np.maximum.reduce(x, axis=axis, keepdims=True)    # the ufunc: x.max() adds a Python wrapper
    shifted = np.subtract(x, top, out=x if overwrite else None)
    e = np.exp(shifted)
    return shifted, e, np.add.reduce(e, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    """Softmax along ``axis``: ``exp(x - max) / sum exp(x - max)``, a new array."""
    _, e, total = softmax_parts(x, axis)
    e /= total
    return e


@register
class Softmax(Elementwise):
    r"""``y_k = exp(x_k) / sum_c exp(x_c)`` along the last axis.

    Notes
    -----
    The Jacobian is ``diag(y) - y y^T`` per row, so
    ``dL/dx = y * (dL/dy - sum_c(dL/dy_c * y_c))`` (same shape as x).
    For classification, feed logits to ``CrossEntropyLoss`` instead: it is exact and stable.
    """

    output_range = (0.0, 1.0)

    def forward(self, x):
        y = softmax(float_input(x))
        self._cache = y
        return y

    def backward(self, grad_y):
        y = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, y.shape)
        return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))
