"""Shape layers."""

from .base import Module, float_input
from .registry import register


@register
class Flatten(Module):
    r"""``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``.

    Notes
    -----
    ``dL/dx = reshape(dL/dy, x.shape)``: flattening moves no value.
    """

    def forward(self, x):
        x = float_input(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_y):
        return grad_y.reshape(self._cached())
