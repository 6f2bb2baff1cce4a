"""Data augmentation for image batches: random translations and small rotations, vectorised and seeded.

The trainer applies an :class:`Augment` to each training batch (never to validation or test data).
Its Generator is saved in the checkpoint with the trainer's, so a resumed run draws the same
transformations as an uninterrupted one.
"""

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..init import as_generator


class Augment:
    r"""Random translation by up to ``shift`` pixels (zero fill) and rotation by up to ``rotate`` degrees.

    Parameters
    ----------
    shift : int >= 0, default 0
        Each image moves by ``(dy, dx)``, integers drawn uniformly from ``[-shift, shift]``.
    rotate : float in [0, 180], default 0
        Each image turns about its centre by an angle drawn uniformly from ``[-rotate, rotate]`` degrees.
    rng : numpy.random.Generator or int or None

    Notes
    -----
    A batch ``x`` (N, C, H, W) gives a new array of the same shape and dtype; every image gets its own
    draw, all images are transformed at once (no loop over them). Pixels that come from outside the
    image are 0. Without rotation a translation moves whole pixels: ``y[n, :, i, j] = x[n, :, i - dy_n,
    j - dx_n]``, values unchanged. With rotation, ``y`` at pixel p samples ``x`` at ``R(-theta_n) (p -
    t_n - c) + c`` (c the centre, t_n the shift) by bilinear interpolation.
    """

    def __init__(self, shift=0, rotate=0.0, *, rng=None):
        if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
            raise ValueError(f"The 'shift' parameter of Augment must be an int >= 0. Got {shift!r} instead.")
        if isinstance(rotate, bool) or not isinstance(rotate, numbers.Real) or not 0 <= rotate <= 180:
            raise ValueError(f"The 'rotate' parameter of Augment must be a number in [0, 180]. Got {rotate!r} "
                             "instead.")
        self.shift, self.rotate = int(shift), float(rotate)
        self.rng = as_generator(rng)

    def __call__(self, x):
        """(N, C, H, W) -> (N, C, H, W): each image translated (and rotated) by its own random draw."""
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"Augment expects image batches (N, C, H, W), got shape {x.shape}.")
        n, k = len(x), self.shift
        t = self.rng.integers(-k, k + 1, size=(n, 2)) if k else np.zeros((n, 2), np.int64)
        if not self.rotate:
            return translate(x, t)
        theta = np.deg2rad(self.rng.uniform(-self.rotate, self.rotate, size=n))
        return affine(x, theta, t)

    def state_dict(self):
        """The Generator's state (JSON types), for checkpoints."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]

    def __repr__(self):
        return f"Augment(shift={self.shift}, rotate={self.rotate:g})"


def translate(x, t):
    """``x`` (N, C, H, W) moved by whole pixels, ``t`` (N, 2) integer ``(dy, dx)`` per image; zero fill.

    The batch is padded by the largest shift, then each image's window is picked out of a strided view
    of all windows (``sliding_window_view``) by one fancy index: no loop over images.
    """
    t = np.asarray(t, np.int64)
    n, c, h, w = x.shape
    k = int(np.abs(t).max(initial=0))
    if k == 0:
        return x.copy()
    padded = np.zeros((n, c, h + 2 * k, w + 2 * k), x.dtype)
    padded[:, :, k:k + h, k:k + w] = x
    win = sliding_window_view(padded, (h, w), axis=(2, 3))          # (N, C, 2k+1, 2k+1, H, W), a view
    return win[np.arange(n), :, k - t[:, 0], k - t[:, 1]]             # (N, C, H, W)


def affine(x, theta, t):
    """``x`` (N, C, H, W) rotated by ``theta`` (N,) radians about the centre and moved by ``t`` (N, 2);
    bilinear interpolation, zero fill. Coordinates are computed for all images at once."""
    n, c, h, w = x.shape
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    ci, cj = (h - 1) / 2, (w - 1) / 2
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    di = i[None] - t[:, 0, None, None] - ci                             # (N, H, W) offsets from the centre
    dj = j[None] - t[:, 1, None, None] - cj
    # source = R(-theta) (p - t - c) + c, clipped into the one-pixel zero border around the image
    src_i = np.clip(cos * di + sin * dj + ci, -1, h)
    src_j = np.clip(-sin * di + cos * dj + cj, -1, w)
    i0, j0 = np.floor(src_i).astype(np.int64), np.floor(src_j).astype(np.int64)
    fi, fj = (src_i - i0).astype(x.dtype), (src_j - j0).astype(x.dtype)
    padded = np.zeros((n, h + 2, w + 2, c), x.dtype)                    # channels last: one row per pixel
    padded[:, 1:h + 1, 1:w + 1, :] = x.transpose(0, 2, 3, 1)
    flat = padded.reshape(-1, c)
    base = np.arange(n)[:, None, None] * (h + 2) * (w + 2)

    def at(ii, jj):
        return flat[base + (np.minimum(ii, h) + 1) * (w + 2) + np.minimum(jj, w) + 1]   # (N, H, W, C)

    fi, fj = fi[..., None], fj[..., None]
    y = (at(i0, j0) * ((1 - fi) * (1 - fj)) + at(i0, j0 + 1) * ((1 - fi) * fj)
         + at(i0 + 1, j0) * (fi * (1 - fj)) + at(i0 + 1, j0 + 1) * (fi * fj))
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))
