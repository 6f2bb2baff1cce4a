"""im2col and col2im on channels-last arrays with NumPy stride tricks, and the checks they share.

Convolution and pooling layers take NCHW at their interface but work channels-last (NHWC) inside:
a window's values for all channels are then one contiguous run, so copying windows into columns and
adding columns back are copies of runs of ``C`` values instead of single elements. Arrays a layer
returns are NCHW views of NHWC memory; the elementwise layers after it keep that memory order
(NumPy's ufuncs allocate in the input's order), so the next layer's NHWC view costs no copy.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .base import ShapeError, shape_refusal
from .evaluation import Scratch  # noqa: F401  (conv imports it from here)


def pair(value, name, owner, low=1):
    """``(a, b)`` from an int or a pair of ints, each ``>= low``, or the house ValueError."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low
                                  for v in items):
        raise ValueError(f"The '{name}' parameter of {owner} must be an int >= {low} or a pair of them. "
                         f"Got {value!r} instead.")
    return int(items[0]), int(items[1])


def out_size(size, kernel, stride, pad):
    """Output length along one axis: ``(size + 2 pad - kernel) // stride + 1`` (0 or less: too small)."""
    return (size + 2 * pad - kernel) // stride + 1


def output_hw(owner, hw, kernel, stride, pad):
    """``(Ho, Wo)`` of a window layer on inputs of spatial size ``hw``, or a clear ValueError."""
    (h, w), (kh, kw), (ph, pw) = hw, kernel, pad
    if h + 2 * ph < kh or w + 2 * pw < kw:
        padded = f" (padded: {h + 2 * ph}x{w + 2 * pw})" if ph or pw else ""
        raise ShapeError(f"{owner}'s kernel {kh}x{kw} is larger than its input {h}x{w}{padded}.")
    return out_size(h, kh, stride[0], ph), out_size(w, kw, stride[1], pw)


def expect_nchw(owner, x, channels=None):
    """Raise "Conv2d expects (N, 3, H, W), got (64, 1, 28, 28)." unless ``x`` is 4-D with ``channels``."""
    if getattr(x, "ndim", None) == 4 and (channels is None or x.shape[1] == channels):
        return
    raise shape_refusal(owner, f"(N, {'C' if channels is None else channels}, H, W)", x, 4, channels)


def padded(x_nhwc, pad, scratch, name="padded"):
    """``x`` (N, H, W, C) with ``pad = (ph, pw)`` zeros around H and W; ``x`` itself when there is none."""
    ph, pw = pad
    if not (ph or pw):
        return x_nhwc
    n, h, w, c = x_nhwc.shape
    xp = scratch.get(name, (n, h + 2 * ph, w + 2 * pw, c), x_nhwc.dtype)
    xp[:, ph:ph + h, pw:pw + w, :] = x_nhwc   # the border stays zero: only the inside is ever written
    return xp


def windows(xp, kernel, stride):
    """Read-only view (N, Ho, Wo, kh, kw, C) of every window of ``xp`` (N, Hp, Wp, C); no copy."""
    n, hp, wp, c = xp.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = out_size(hp, kh, sh, 0), out_size(wp, kw, sw, 0)
    s = xp.strides
    return as_strided(xp, (n, ho, wo, kh, kw, c), (s[0], sh * s[1], sw * s[2], s[1], s[2], s[3]),
                      writeable=False)


def im2col(x_nhwc, kernel, stride, pad, scratch, ones=False):
    """The (N*Ho*Wo, kh*kw*C) matrix of every window of ``x`` (N, H, W, C): row ``(n, i, j)`` holds the
    window at (i, j) in (kh, kw, C) order; with ``ones`` a last column of ones (it carries the bias).

    The result lives in ``scratch`` (reused by the next call). With one channel it is stored
    transposed, one row per kernel offset: each copied run is then a row of pixels rather than kw values
    (one window per row there: a training step 4% slower).
    """
    win = windows(padded(x_nhwc, pad, scratch), kernel, stride)
    n, ho, wo, kh, kw, c = win.shape
    m, k = n * ho * wo, kh * kw * c
    if c == 1:
        cols = scratch.get("cols", (k + ones, m), x_nhwc.dtype, fill=1)
        np.copyto(cols[:k].reshape(kh, kw, c, n, ho, wo), win.transpose(3, 4, 5, 0, 1, 2))
        return cols.T
    cols = scratch.get("cols", (m, k + ones), x_nhwc.dtype, fill=1)
    np.copyto(cols[:, :k].reshape(n, ho, wo, kh, kw, c), win)
    return cols


def _valid(offset, pad, stride, n_out, size):
    """Output positions ``i`` whose input position ``i stride + offset - pad`` is inside ``[0, size)``."""
    return max(0, -((offset - pad) // stride)), min(n_out, (size - 1 - offset + pad) // stride + 1)


def col2im(cols, shape_nhwc, kernel, stride, pad):
    """The adjoint of :func:`im2col`: ``cols`` (kh*kw, N*Ho*Wo, C), one block per kernel offset, added
    back where im2col read it; returns (N, H, W, C), a new array.

    One add per kernel offset (kh*kw of them), each a contiguous block over every image, pixel and
    channel; padding is never materialised (each add is clipped to the input). When the windows tile the
    input exactly (stride == kernel, no padding) it is a single transposing copy.
    """
    n, h, w, c = shape_nhwc
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    ho, wo = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    blocks = cols.reshape(kh, kw, n, ho, wo, c)
    if (kh, kw) == (sh, sw) and not (ph or pw) and (ho * kh, wo * kw) == (h, w):
        return blocks.transpose(2, 3, 0, 4, 1, 5).reshape(n, h, w, c)
    dx = np.zeros(shape_nhwc, cols.dtype)
    for u in range(kh):
        i0, i1 = _valid(u, ph, sh, ho, h)
        for v in range(kw):
            j0, j1 = _valid(v, pw, sw, wo, w)
            if i0 < i1 and j0 < j1:
                rows = slice(i0 * sh + u - ph, (i1 - 1) * sh + u - ph + 1, sh)
                columns = slice(j0 * sw + v - pw, (j1 - 1) * sw + v - pw + 1, sw)
                dx[:, rows, columns, :] += blocks[u, v, :, i0:i1, j0:j1, :]
    return dx
