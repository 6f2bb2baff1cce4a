"""Pooling over NCHW inputs: MaxPool2d, AvgPool2d, GlobalAvgPool2d.

Windows are read as strided views, one per kernel offset along an axis (``x[:, :, :, v::sw]`` cropped
to Wo columns). The loops below run over those offsets only; each step works on every image, channel
and pixel at once, in whatever memory order ``x`` has (channels-last after a convolution), and
allocates in that order, so the layers after it keep it.
"""

import numpy as np

from ._im2col import expect_nchw, output_hw, pair
from .base import Module, float_input, grad_like_output
from .registry import register


def _along(a, axis, kernel, stride, n):
    """The ``kernel`` strided views of ``a`` along ``axis`` (2: rows, 3: columns), one per offset o:
    ``a[..., o + stride i, ...]`` for i < n."""
    index = [slice(None)] * a.ndim
    views = []
    for o in range(kernel):
        index[axis] = slice(o, o + stride * (n - 1) + 1, stride)
        views.append(a[tuple(index)])
    return views


def _max_along(a, axis, kernel, stride, n):
    """Maximum over the windows along one axis, and the offset that won (the first on ties): a bool
    array for windows of 2 (True: the second), small ints for larger ones, None for 1."""
    views = _along(a, axis, kernel, stride, n)
    best, won = views[0], None
    for o, v in enumerate(views[1:], 1):
        better = np.greater(v, best)        # strict: an equal value later in the window loses
        best = np.maximum(best, v, out=None if o == 1 else best)
        if kernel == 2:
            won = better
        elif won is None:
            won = better.astype(np.min_scalar_type(kernel - 1))
        else:
            np.copyto(won, o, where=better, casting="unsafe")
    return best, won


def _scatter_along(g, won, axis, kernel, stride, size, like):
    """The adjoint of one windowed axis: ``g`` added back at offset o where ``won == o`` (everywhere if
    ``won`` is None), into an array of extent ``size`` along ``axis``, in the memory order of ``like``;
    zero where no window reaches."""
    shape = list(g.shape)
    shape[axis] = size
    tiled = stride == kernel and size == kernel * g.shape[axis]
    out = np.empty_like(like, shape=shape) if tiled else np.zeros_like(like, shape=shape)
    views = _along(out, axis, kernel, stride, g.shape[axis])
    if stride < kernel:                      # overlapping windows share pixels: add each offset's part
        rest = g
        for o in range(kernel - 1, -1, -1):
            if won is None:
                part = g
            elif o:
                part = np.multiply(g, won if won.dtype == bool else won == o, dtype=g.dtype)
                rest = rest - part
            else:
                part = rest
            views[o] += part
        return out
    # disjoint windows: each offset's part is written straight into its strided view of ``out``, no
    # temporaries (the max pooling after the first convolution of scripts/bench_cnn.py, before the 2x2
    # path below took it over: backward 0.57 s -> 0.29 s per 10,000 images)
    for o in range(kernel - 1, -1, -1):
        if won is None:
            np.copyto(views[o], g)
        elif won.dtype == bool:              # windows of 2: True means the second offset won
            np.multiply(g, won if o else ~won, out=views[o])
        else:
            np.multiply(g, won == o, out=views[o])
    return out


class _Pool2d(Module):
    """Shared parts of the window poolings: arguments and output size.

    A 2-D window reduces in two passes, each looping over the offsets along one axis: first along W
    (for every input row and output column), then along H. That is kh + kw strided operations over
    whole batches instead of kh * kw; the backward pass runs the two adjoints in reverse. (One pass
    per offset made a training step of scripts/bench_cnn.py 24% slower.)
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name)

    @classmethod
    def param_shapes(cls, input_shape, **_):
        """No parameters (the builder's look-ahead memory check)."""
        return {}

    @classmethod
    def output_shape(cls, input_shape, *, kernel_size, stride=None):
        """``(C, Ho, Wo)`` for ``(C, H, W)``: one sample's output shape (the builder's look-ahead memory check)."""
        c, h, w = input_shape
        kernel = pair(kernel_size, "kernel_size", cls.__name__)
        step = kernel if stride is None else pair(stride, "stride", cls.__name__)
        return (c, *output_hw(cls.__name__, (h, w), kernel, step, (0, 0)))

    def _output_hw(self, x):
        expect_nchw(type(self).__name__, x)
        return output_hw(type(self).__name__, x.shape[2:], self.kernel_size, self.stride, (0, 0))

    def extra_repr(self):
        stride = "" if self.stride == self.kernel_size else f", stride={self.stride}"
        return f"kernel_size={self.kernel_size}{stride}"


@register
class MaxPool2d(_Pool2d):
    r"""Maximum over each ``kh x kw`` window, moved by ``stride`` (default: the kernel size).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default ``kernel_size`` (windows tile the input); smaller strides overlap windows.

    Notes
    -----
    Forward: ``y[n, c, i, j] = max_{u, v} x[n, c, i sh + u, j sw + v]`` with y (N, C, Ho, Wo),
    ``Ho = (H - kh) // sh + 1``, computed as ``max_u (max_v ...)``. The winning offset (u, v) is the
    first in row-major order on ties, as in PyTorch: the first row that holds the maximum, and in it
    the first column.
    Backward, ``g = dL/dy`` (N, C, Ho, Wo): ``dL/dx[n, c, i sh + u, j sw + v] += g[n, c, i, j]`` at the
    winning (u, v) only (N, C, H, W): each window's gradient goes to one maximum; overlapping windows add.
    """

    def forward(self, x):
        """(N, C, H, W) -> (N, C, Ho, Wo)."""
        x = float_input(x)
        ho, wo = self._output_hw(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self._quarters(x.shape):
            y, won = _max_2x2(x)
            self._cache = (x, won, "2x2")
            return y
        rows, won_w = _max_along(x, 3, kw, sw, wo)
        y, won_h = _max_along(rows, 2, kh, sh, ho)
        self._cache = (x, won_w, won_h)
        return y if kh * kw > 1 else y.copy(order="K")

    def backward(self, grad_y):
        """(N, C, Ho, Wo) -> (N, C, H, W)."""
        x, won_w, won_h = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, x.shape[:2] + self._output_hw(x))
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if isinstance(won_h, str):
            return _scatter_2x2(grad_y, won_w, x)
        rows = _scatter_along(grad_y, won_h, 2, kh, sh, x.shape[2], x)
        return _scatter_along(rows, won_w, 3, kw, sw, x.shape[3], x)

    def _quarters(self, shape):
        """True for 2x2 windows that tile the input (stride 2, even H and W): the four-view path."""
        return (self.kernel_size == self.stride == (2, 2) and shape[2] % 2 == 0 and shape[3] % 2 == 0)


def _quarter_views(a):
    """``a[:, :, u::2, v::2]`` for (u, v) = (0, 0), (0, 1), (1, 0), (1, 1): one view per window offset."""
    return [a[:, :, u::2, v::2] for u in (0, 1) for v in (0, 1)]


def _max_2x2(x):
    """2x2 max pooling of ``x`` with even H and W from its four offset views: six operations on
    quarter-size arrays, where the two passes (along W, then H) take four on half-size arrays and two on
    quarter-size ones (scripts/bench_cnn.py's first pool: 0.23 s -> 0.16 s per 10,000 images). The same
    winners, first in row-major order on ties: ``right_u`` says the second column won in row u, ``lower``
    that the second row did."""
    a, b, c, d = _quarter_views(x)
    right_0, right_1 = np.greater(b, a), np.greater(d, c)
    top, bottom = np.maximum(a, b), np.maximum(c, d)
    lower = np.greater(bottom, top)           # strict: on a tie the first row keeps it
    return np.maximum(top, bottom, out=top), (right_0, right_1, lower)


def _scatter_2x2(g, won, like):
    """The adjoint of :func:`_max_2x2`: each of ``g``'s values written at its window's winner, zeros at
    the three others, straight into the four offset views of a new array in the memory order of ``like``."""
    right_0, right_1, lower = won
    out = np.empty_like(like)
    if np.argsort(g.strides).tolist() != np.argsort(like.strides).tolist():
        # g in another memory order (NCHW from a Flatten after the pool) than the output: one copy of
        # the quarter-size g, so the four writes below run in one order (scripts/bench_cnn.py's second
        # pool, backward: 0.49 s -> 0.12 s per 10,000 images)
        copy = np.empty_like(like, shape=g.shape)
        np.copyto(copy, g)
        g = copy
    upper = ~lower
    masks = (upper & ~right_0, upper & right_0, lower & ~right_1, lower & right_1)
    for view, mask in zip(_quarter_views(out), masks):
        np.multiply(g, mask, out=view)
    return out


@register
class AvgPool2d(_Pool2d):
    r"""Mean over each ``kh x kw`` window, moved by ``stride`` (default: the kernel size).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional

    Notes
    -----
    Forward: ``y[n, c, i, j] = (1 / (kh kw)) sum_{u, v} x[n, c, i sh + u, j sw + v]`` (N, C, Ho, Wo).
    Backward: ``dL/dx[n, c, i sh + u, j sw + v] += g[n, c, i, j] / (kh kw)`` for every offset (u, v).
    """

    def forward(self, x):
        """(N, C, H, W) -> (N, C, Ho, Wo)."""
        x = float_input(x)
        ho, wo = self._output_hw(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        rows = sum(_along(x, 3, kw, sw, wo))
        y = sum(_along(rows, 2, kh, sh, ho))
        y *= 1.0 / (kh * kw)
        self._cache = x
        return y

    def backward(self, grad_y):
        """(N, C, Ho, Wo) -> (N, C, H, W)."""
        x = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, x.shape[:2] + self._output_hw(x))
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        rows = _scatter_along(grad_y * (1.0 / (kh * kw)), None, 2, kh, sh, x.shape[2], x)
        return _scatter_along(rows, None, 3, kw, sw, x.shape[3], x)


@register
class GlobalAvgPool2d(Module):
    r"""Mean over all of H and W: (N, C, H, W) -> (N, C).

    Notes
    -----
    Forward: ``y[n, c] = (1 / (H W)) sum_{i, j} x[n, c, i, j]``.
    Backward: ``dL/dx[n, c, i, j] = g[n, c] / (H W)`` (N, C, H, W).
    """

    @classmethod
    def param_shapes(cls, input_shape, **_):
        """No parameters (the builder's look-ahead memory check)."""
        return {}

    @classmethod
    def output_shape(cls, input_shape, **_):
        """``(C,)`` for ``(C, H, W)`` (the builder's look-ahead memory check)."""
        c, _h, _w = input_shape
        return (c,)

    def forward(self, x):
        """(N, C, H, W) -> (N, C)."""
        x = float_input(x)
        expect_nchw("GlobalAvgPool2d", x)
        self._cache = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, grad_y):
        """(N, C) -> (N, C, H, W)."""
        shape = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, shape[:2])
        return np.broadcast_to((grad_y / (shape[2] * shape[3]))[:, :, None, None], shape).copy()
