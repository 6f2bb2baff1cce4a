"""2-D convolution (cross-correlation, as in every deep-learning framework) through im2col."""

import numpy as np

from ..init import as_generator, get_initializer
from ._im2col import Scratch, col2im, expect_nchw, im2col, output_hw, pair
from .base import Module, float_input, grad_like_output
from .linear import _check_int
from .registry import register


@register
class Conv2d(Module):
    r"""2-D convolution over NCHW inputs: ``y[n, o] = b[o] + sum_c W[o, c] (*) x[n, c]``.

    Parameters
    ----------
    in_channels, out_channels : int >= 1
    kernel_size : int or (int, int)
        ``(kh, kw)``.
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on both sides of H and W.
    bias : bool, default True
    init : str or callable, default "glorot_uniform"
        A name from ``layerwise.init.INITIALIZERS`` or ``f(shape, rng, dtype)``; fans count the
        receptive field (``fan_in = in_channels * kh * kw``). Use ``"he_uniform"`` before ReLUs.
    rng : numpy.random.Generator or int or None
    dtype : float dtype, default float32

    Notes
    -----
    Forward, with x (N, C, H, W) zero-padded to ``x_p``, W (O, C, kh, kw), b (O,), y (N, O, Ho, Wo),
    ``Ho = (H + 2 ph - kh) // sh + 1`` (Wo alike)::

        y[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] x_p[n, c, i sh + u, j sw + v]

    As one product: ``X = im2col(x)`` (N Ho Wo, kh kw C + 1) holds one window per row (channels last)
    and a last column of ones; ``W_m`` (kh kw C + 1, O) is W reordered alike with b as its last row, and
    ``Y = X @ W_m`` (N Ho Wo, O) is y channels-last (without a bias: no ones, no last row).
    With ``G = dL/dy`` in the same layout (N Ho Wo, O), ``delta`` of this layer:

    - ``dL/dW_m = X.T @ G`` (kh kw C + 1, O): its first kh kw C rows reordered back to (O, C, kh, kw)
      are ``dL/dW``, its last row (the ones against G) is ``dL/db = G.sum(0)`` (O,);
    - ``dL/dX = G @ W_m.T`` (N Ho Wo, kh kw C) without the bias row, computed as kh kw blocks
      ``G @ W_uv`` (N Ho Wo, C), one per kernel offset (u, v) with ``W_uv = W[:, :, u, v]`` (O, C);
    - ``dL/dx = col2im(dL/dX)`` (N, C, H, W): each block is added back at the pixels its offset read,
      the adjoint of im2col (padding dropped).

    ``backward(g, input_grad=False)`` skips the last product (the first layer's input is data).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, bias=True,
                 init="glorot_uniform", rng=None, dtype=np.float32):
        super().__init__()
        in_channels = _check_int(in_channels, "in_channels", "Conv2d")
        out_channels = _check_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size, self.stride, self.padding = _window(kernel_size, stride, padding)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.register_param("W", get_initializer(init)(shape, as_generator(rng), dtype))
        if bias:
            self.register_param("b", np.zeros(out_channels, dtype), decay=False)
        self._scratch = Scratch()

    @classmethod
    def from_config(cls, input_shape, *, filters, kernel_size, stride=1, padding=0, bias=True,
                    init="glorot_uniform", rng=None, dtype=np.float32):
        """Build from ``{type: conv2d, filters: 32, kernel_size: 3, padding: 1}``; channels come from the input."""
        if len(input_shape) != 3:
            raise ValueError("conv2d expects images (N, C, H, W), but the layer before it gives "
                             f"(N, {', '.join(map(str, input_shape))}).")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be an int >= 1, got {filters!r}.")
        layer = cls(input_shape[0], filters, kernel_size, stride, padding, bias=bias, init=init, rng=rng,
                    dtype=dtype)
        output_hw("Conv2d", input_shape[1:], layer.kernel_size, layer.stride, layer.padding)
        return layer

    @classmethod
    def param_shapes(cls, input_shape, *, filters, kernel_size, bias=True, **_):
        """The shapes of the parameters ``from_config`` would create, before creating them (memory check)."""
        kh, kw = pair(kernel_size, "kernel_size", "Conv2d")
        return {"W": (filters, input_shape[0], kh, kw), **({"b": (filters,)} if bias else {})}

    @classmethod
    def output_shape(cls, input_shape, *, filters, kernel_size, stride=1, padding=0, **_):
        """``(filters, Ho, Wo)``: one sample's output shape (the builder's look-ahead memory check)."""
        c, h, w = input_shape
        window = _window(kernel_size, stride, padding)
        return (filters, *output_hw("Conv2d", (h, w), *window))

    @classmethod
    def planned_work(cls, input_shape, *, kernel_size, stride=1, padding=0, **_):
        """:meth:`work_values` from a config entry, before the layer exists."""
        return _work_values(input_shape, *_window(kernel_size, stride, padding))

    def work_values(self, input_shape):
        """Values per sample of the work arrays, for the memory check: ``(kept, passing)``, im2col's
        columns and the padded input kept from forward to backward, and the backward's per-offset
        blocks, which exist only while this layer's backward runs."""
        return _work_values(input_shape, self.kernel_size, self.stride, self.padding)

    def forward(self, x):
        """(N, C, H, W) -> (N, O, Ho, Wo), an NCHW view of channels-last memory."""
        W = self.params["W"]
        x = float_input(x, W.dtype)
        expect_nchw("Conv2d", x, W.shape[1])
        ho, wo = output_hw("Conv2d", x.shape[2:], self.kernel_size, self.stride, self.padding)
        if x.dtype != W.dtype:
            x = x.astype(W.dtype)
        x_nhwc = x.transpose(0, 2, 3, 1)
        bias = "b" in self.params
        cols = im2col(x_nhwc, self.kernel_size, self.stride, self.padding, self._scratch, ones=bias)
        W_m = W.transpose(2, 3, 1, 0).reshape(-1, W.shape[0])      # (kh kw C, O), im2col's row order
        if bias:   # the bias is the last row: it meets im2col's column of ones (an add and a sum: 8% slower)
            W_m = np.concatenate([W_m, self.params["b"][None]])
        self._cache = (cols, W_m, x_nhwc.shape, (len(x), W.shape[0], ho, wo))
        y = np.matmul(cols, W_m)
        return y.reshape(len(x), ho, wo, W.shape[0]).transpose(0, 3, 1, 2)

    def backward(self, grad_y, input_grad=True):
        """(N, O, Ho, Wo) -> (N, C, H, W); adds to grads["W"], grads["b"]. ``input_grad=False`` skips dL/dx."""
        cols, W_m, shape, y_shape = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, y_shape)
        (kh, kw), c, O = self.kernel_size, shape[3], W_m.shape[1]
        k = kh * kw * c
        G = grad_y.transpose(0, 2, 3, 1).reshape(-1, O)   # free when grad_y is channels-last already
        if c == 1 and shape[0]:
            # a short, very long reduction: one small product per image (stacked), then a sum. One product
            # over all N Ho Wo rows took 0.8 ms instead of 0.33, and with other processes on the cores its
            # two BLAS threads, synchronising along those rows, stalled it to 70 ms
            n = shape[0]
            per_image = np.matmul(cols.reshape(n, -1, cols.shape[1]).transpose(0, 2, 1), G.reshape(n, -1, O))
            dW_m = per_image.sum(axis=0)
        else:
            dW_m = np.matmul(cols.T, G)                     # with the bias: its last row is G.sum(0)
        parts = [("W", dW_m[:k].reshape(kh, kw, c, O).transpose(3, 2, 0, 1))]
        if "b" in self.params:
            parts.append(("b", dW_m[k]))
        for name, value in parts:
            grad, fresh = self._grad_out(name)   # fresh: stale since update(), overwrite it
            if fresh:
                np.copyto(grad, value)
                self._grad_written(name)
            else:
                grad += value
        if not input_grad:
            return None
        # one (M, O) @ (O, C) block per kernel offset, stacked (kh kw, M, C): col2im adds contiguous
        # blocks (one (M, O) @ (O, kh kw C) product and strided adds: a training step 6% slower)
        blocks = np.matmul(G, W_m[:k].reshape(kh * kw, c, O).transpose(0, 2, 1))
        return col2im(blocks, shape, self.kernel_size, self.stride, self.padding).transpose(0, 3, 1, 2)

    def extra_repr(self):
        o, c, kh, kw = self.params["W"].shape
        parts = [f"{c} -> {o}", f"kernel_size=({kh}, {kw})"]
        if self.stride != (1, 1):
            parts.append(f"stride={self.stride}")
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding}")
        return ", ".join(parts) + ("" if "b" in self.params else ", bias=False")


def _window(kernel_size, stride, padding):
    """``(kernel, stride, padding)`` pairs from a Conv2d entry's values, or the house ValueError."""
    return (pair(kernel_size, "kernel_size", "Conv2d"), pair(stride, "stride", "Conv2d"),
            pair(padding, "padding", "Conv2d", low=0))


def _work_values(input_shape, kernel, stride, padding):
    """``(kept, passing)`` values per sample of a convolution's work arrays (see ``Conv2d.work_values``)."""
    c, h, w = input_shape
    (kh, kw), (ph, pw) = kernel, padding
    ho, wo = output_hw("Conv2d", (h, w), kernel, stride, padding)
    padded = (h + 2 * ph) * (w + 2 * pw) * c if ph or pw else 0
    return ho * wo * (kh * kw * c + 1) + padded, kh * kw * ho * wo * c
