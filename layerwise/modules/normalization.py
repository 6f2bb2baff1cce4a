"""Batch normalization: BatchNorm1d on (N, F), BatchNorm2d on (N, C, H, W); ``batchnorm`` picks one."""

import numbers

import numpy as np

from .base import Module, float_input, grad_like_output, shape_refusal
from .linear import _check_int
from .registry import register


def _check_real(value, name, owner, low, high, low_open):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value) \
        and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high == np.inf else f" and <= {high}")
        raise ValueError(f"The '{name}' parameter of {owner} must be a number {bound}. Got {value!r} instead.")
    return float(value)


@register
class BatchNorm(Module):
    r"""Normalize each channel (axis 1) over the batch and every other axis, then scale and shift.

    ``BatchNorm1d`` takes (N, F) and ``BatchNorm2d`` (N, C, H, W); this class takes either. In a
    config, ``{type: batchnorm}`` builds the one that fits the layer before it.

    Parameters
    ----------
    num_features : int >= 1
        C, the size of axis 1.
    eps : float > 0, default 1e-5
    momentum : float in [0, 1], default 0.1
        Weight of the newest batch in the running statistics (PyTorch's convention).
    dtype : float dtype, default float32

    Notes
    -----
    Per channel c, over the ``m`` values ``x_i`` of the batch in that channel (m = N, or N H W):

    - training: ``mu = mean(x_i)``, ``var = mean((x_i - mu)^2)`` (biased), ``inv = 1 / sqrt(var + eps)``,
      ``xhat_i = (x_i - mu) inv``, ``y_i = gamma xhat_i + beta``; the buffers move as
      ``running_mean += momentum (mu - running_mean)`` and ``running_var += momentum (var m / (m - 1) -
      running_var)`` (unbiased);
    - eval: the same with ``mu, var = running_mean, running_var``, left unchanged.

    With ``g = dL/dy`` (shape of x), all sums over the m values of a channel, (C,) each:
    ``dL/dgamma = sum(g xhat)``;  ``dL/dbeta = sum(g)``;  and, shape of x,
    ``dL/dx = gamma inv / m (m g - sum(g) - xhat sum(g xhat))`` in training (mu and var depend on x),
    ``dL/dx = gamma inv g`` in eval. gamma and beta are exempt from weight decay.
    """

    rank = None    # the input's number of axes; None: any >= 2

    def __init__(self, num_features, *, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        num_features = _check_int(num_features, "num_features", name)
        self.eps = _check_real(eps, "eps", name, 0, np.inf, low_open=True)
        self.momentum = _check_real(momentum, "momentum", name, 0, 1, low_open=False)
        self.register_param("gamma", np.ones(num_features, dtype), decay=False)
        self.register_param("beta", np.zeros(num_features, dtype), decay=False)
        self.register_buffer("running_mean", np.zeros(num_features, dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype))

    @classmethod
    def from_config(cls, input_shape, *, eps=1e-5, momentum=0.1, dtype=np.float32):
        """``{type: batchnorm}``: BatchNorm1d after flat layers, BatchNorm2d after image layers."""
        rank = len(input_shape) + 1
        target = _BY_RANK.get(rank) if cls.rank is None else cls
        if target is None or target.rank != rank:
            want = " or ".join(_LAYOUT[r] for r in sorted(_BY_RANK) if cls.rank in (None, r))
            raise ValueError(f"{cls.__name__.lower()} expects {want}, but the layer before it gives "
                             f"(N, {', '.join(map(str, input_shape))}).")
        return target(input_shape[0], eps=eps, momentum=momentum, dtype=dtype)

    @classmethod
    def param_shapes(cls, input_shape, **_):
        """The shapes of the parameters ``from_config`` would create, before creating them (memory check)."""
        return {"gamma": (input_shape[0],), "beta": (input_shape[0],)}

    @classmethod
    def output_shape(cls, input_shape, **_):
        """One sample's output shape: the input's (the builder's look-ahead memory check)."""
        return tuple(input_shape)

    def _check(self, x):
        c, ndim = self.params["gamma"].shape[0], getattr(x, "ndim", 0)
        if (ndim == self.rank or (self.rank is None and ndim >= 2)) and x.shape[1] == c:
            return
        want = {2: f"(N, {c})", 4: f"(N, {c}, H, W)"}.get(self.rank, f"(N, {c}, ...)")
        raise shape_refusal(type(self).__name__, want, x, self.rank, c)

    def forward(self, x):
        """Same shape in and out."""
        x = float_input(x, self.params["gamma"].dtype)
        self._check(x)
        gamma = self.params["gamma"]
        if x.dtype != gamma.dtype:
            x = x.astype(gamma.dtype)
        axes = (0, *range(2, x.ndim))
        per_channel = (1, -1) + (1,) * (x.ndim - 2)        # (C,) broadcast along axis 1
        if len(x):
            self._per_sample = x.size // (len(x) * x.shape[1])     # what a batch of one would give per channel
        if self.training:
            m = x.size // x.shape[1]
            if m < 2:
                raise ValueError(f"{type(self).__name__} needs more than one value per channel in training, "
                                 f"got input of shape {x.shape}.")
            mu = x.mean(axis=axes)
            xc = x - mu.reshape(per_channel)
            var = (xc * xc).mean(axis=axes)
            self.buffers["running_mean"] += self.momentum * (mu - self.buffers["running_mean"])
            self.buffers["running_var"] += self.momentum * (var * (m / (m - 1)) - self.buffers["running_var"])
        else:
            m = None
            xc = x - self.buffers["running_mean"].reshape(per_channel)
            var = self.buffers["running_var"]
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = xc
        xhat *= inv.reshape(per_channel)
        self._cache = (xhat, inv, m, axes, per_channel)
        return xhat * gamma.reshape(per_channel) + self.params["beta"].reshape(per_channel)

    def backward(self, grad_y):
        """Same shape in and out; adds to grads["gamma"], grads["beta"]."""
        xhat, inv, m, axes, per_channel = self._cached()
        grad_y = grad_like_output(type(self).__name__, grad_y, xhat.shape)
        sum_g = grad_y.sum(axis=axes)
        sum_gx = (grad_y * xhat).sum(axis=axes)
        self.grads["gamma"] += sum_gx
        self.grads["beta"] += sum_g
        scale = (self.params["gamma"] * inv).reshape(per_channel)
        if m is None:                                   # eval: mu and var are constants
            return grad_y * scale
        dx = grad_y - (sum_g / m).reshape(per_channel)
        dx -= xhat * (sum_gx / m).reshape(per_channel)
        dx *= scale
        return dx

    def extra_repr(self):
        return f"{self.params['gamma'].shape[0]}, eps={self.eps:g}, momentum={self.momentum:g}"


@register
class BatchNorm1d(BatchNorm):
    """:class:`BatchNorm` on (N, F): statistics over the batch, per feature."""

    rank = 2


@register
class BatchNorm2d(BatchNorm):
    """:class:`BatchNorm` on (N, C, H, W): statistics over the batch and every pixel, per channel."""

    rank = 4


_BY_RANK = {2: BatchNorm1d, 4: BatchNorm2d}
_LAYOUT = {2: "(N, F)", 4: "(N, C, H, W)"}


def has_one_sample_batch(n, batch_size):
    """True when an epoch of ``n`` samples (0: not known yet) in batches of ``batch_size`` has a batch of one."""
    return batch_size == 1 or n == 1 or n % batch_size == 1


def single_sample_refusal(model, n_rows, what):
    """The message for ``n_rows`` = 1 reaching a BatchNorm of ``model`` in training (``what`` says where the
    one row comes from), or None: a batch of one sample has no variance to normalize by."""
    if n_rows != 1:
        return None
    for path, m in model.named_modules():
        # values per channel in one sample: 1 for (N, F) inputs; unknown (None) before a forward, unless 1d
        per_sample = getattr(m, "_per_sample", 1 if isinstance(m, BatchNorm1d) else None)
        if isinstance(m, BatchNorm) and per_sample == 1:
            where = f"module {path.rstrip('.')} ({type(m).__name__})" if path else type(m).__name__
            return (f"{what}, and {where} cannot normalize a batch of one sample in training (it has no variance, "
                    "as in PyTorch). Choose a batch size that leaves no batch of 1.")
    return None
