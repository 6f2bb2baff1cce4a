"""Shape layers."""

import math

import numpy as np

from .base import Module, float_input, grad_like_output
from .registry import register


@register
class Flatten(Module):
    r"""``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``.

    Notes
    -----
    ``dL/dx = reshape(dL/dy, x.shape)``: flattening moves no value.
    """

    @classmethod
    def param_shapes(cls, input_shape, **_):
        """No parameters (the builder's look-ahead memory check)."""
        return {}

    @classmethod
    def output_shape(cls, input_shape, **_):
        """``(C * H * W,)`` for ``(C, H, W)``: one sample's output shape (the builder's look-ahead memory check)."""
        return (math.prod(input_shape),)

    def forward(self, x):
        x = float_input(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))     # (not -1: an empty batch has no size to divide)

    def backward(self, grad_y):
        shape = self._cached()
        want = (shape[0], math.prod(shape[1:]))
        # a subclass whose forward lays the values out its own way: any gradient of the input's size reshapes back
        if type(self).forward is Flatten.forward or np.size(grad_y) != math.prod(shape):
            grad_y = grad_like_output(type(self).__name__, grad_y, want)
        return np.asarray(grad_y).reshape(shape)
