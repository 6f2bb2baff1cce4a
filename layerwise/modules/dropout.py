"""Dropout."""

import numbers

import numpy as np

from ..init import as_generator
from .base import Elementwise, float_input, grad_like_output
from .registry import register


@register
class Dropout(Elementwise):
    r"""Inverted dropout: zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Parameters
    ----------
    p : float in [0, 1)
        The probability to DROP an element (as in PyTorch).
    rng : numpy.random.Generator or int or None
        The module keeps its own Generator, so a seed fixes every mask.

    Notes
    -----
    Training: ``y = x * m`` with ``m = 1[u >= p] / (1 - p)``, u ~ U(0, 1), same shape as x;
    ``dL/dx = dL/dy * m``. In eval mode ``y = x`` and ``dL/dx = dL/dy``.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"The 'p' parameter of Dropout must be a float in [0, 1). Got {p!r} instead.")
        self.p = float(p)
        self.rng = as_generator(rng)

    def forward(self, x):
        x = float_input(x)
        if not self.training or self.p == 0:
            self._cache = (None, x.shape)       # the identity: no mask, and the output's shape for backward's check
            return x
        # the Generator draws float32 or float64 only: a float16 batch's mask is drawn in float32
        mask = self.rng.random(x.shape, dtype=np.float32 if x.dtype in (np.float16, np.float32) else np.float64)
        keep = mask >= self.p
        np.multiply(keep, 1.0 / (1.0 - self.p), out=mask)
        if mask.dtype != x.dtype and x.dtype.kind == "f":
            mask = mask.astype(x.dtype)         # the output (and dL/dx) in the input's dtype
        self._cache = (mask, x.shape)
        return x * mask

    def backward(self, grad_y):
        cache = self._cached()
        if cache is False:              # a subclass's forward that keeps the former identity mark
            return grad_y
        if not isinstance(cache, tuple):    # a subclass's own mask (one per channel, say): its shapes are its own
            return grad_y * cache
        mask, shape = cache
        grad_y = grad_like_output(type(self).__name__, grad_y, shape)
        return grad_y if mask is None else grad_y * mask

    def extra_repr(self):
        return f"p={self.p}"
