"""Regression losses: ``mse``, ``l1``, ``huber`` (PyTorch's formulas, mean over every element).

Targets are real numbers, (N,) for one output per sample or (N, outputs); ``mse`` also takes class
labels, as one-hot rows. Registered in :data:`layerwise.losses.LOSSES` when that module is imported.
"""

import numbers

import numpy as np

from .losses import Loss, _register


class _RegressionLoss(Loss):
    """A loss on real-valued targets: (N,) for one output per sample, else (N, outputs)."""

    tasks = ("regression",)

    def targets(self, labels, n_outputs):
        labels = np.asarray(labels)
        return labels.reshape(-1, 1) if n_outputs == 1 and labels.ndim == 1 else labels


@_register("mse")
class MSELoss(_RegressionLoss):
    r"""Mean squared error over every element.

    Regression targets, or class labels as one-hot rows (one output per class).

    Notes
    -----
    ``L = mean((y - t)^2)``;  ``dL/dy = 2 (y - t) / n`` with n the number of elements.
    """

    tasks = ("classification", "regression")

    def forward(self, pred, target):
        y, t = self._same_shape(pred, target)
        diff = y - t
        self._cache = diff
        return float(np.mean(diff * diff))

    def backward(self):
        diff = self._cached()
        return diff * (2.0 / diff.size)

    def targets(self, labels, n_outputs):
        """One-hot rows for class codes when the model has one output per class."""
        labels = np.asarray(labels)
        if labels.ndim == 1 and n_outputs > 1 and np.issubdtype(labels.dtype, np.integer):
            if len(labels) and (labels.min() < 0 or labels.max() >= n_outputs):
                raise ValueError(f"{type(self).__name__}: class labels must be in [0, {n_outputs}) for {n_outputs} "
                                 f"outputs; got labels from {labels.min()} to {labels.max()}.")
            onehot = np.zeros((len(labels), n_outputs))
            onehot[np.arange(len(labels)), labels] = 1
            return onehot
        return super().targets(labels, n_outputs)

    def labels(self, outputs):
        return outputs.argmax(axis=1)


@_register("l1")
class L1Loss(_RegressionLoss):
    r"""Mean absolute error over every element.

    Notes
    -----
    ``L = mean(|y - t|)``;  ``dL/dy = sign(y - t) / n`` with n the number of elements (0 where
    ``y = t``, as PyTorch).
    """

    def forward(self, pred, target):
        y, t = self._same_shape(pred, target)
        diff = y - t
        self._cache = diff
        return float(np.mean(np.abs(diff)))

    def backward(self):
        diff = self._cached()
        return np.sign(diff) * (1.0 / diff.size)


@_register("huber")
class HuberLoss(_RegressionLoss):
    r"""Huber loss over every element: quadratic near the target, linear beyond ``delta``.

    Parameters
    ----------
    delta : float > 0, default 1.0

    Notes
    -----
    With ``d = y - t``: ``l = d^2 / 2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``;
    ``L = mean(l)``;  ``dL/dy = clip(d, -delta, delta) / n`` with n the number of elements.
    """

    def __init__(self, delta=1.0):
        super().__init__()
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not delta > 0:
            raise ValueError(f"The 'delta' parameter of HuberLoss must be a number > 0. Got {delta!r} instead.")
        self.delta = float(delta)

    def forward(self, pred, target):
        y, t = self._same_shape(pred, target)
        diff = y - t
        self._cache = diff
        a = np.abs(diff)
        return float(np.mean(np.where(a < self.delta, 0.5 * diff * diff, self.delta * (a - 0.5 * self.delta))))

    def backward(self):
        diff = self._cached()
        return np.clip(diff, -self.delta, self.delta) * (1.0 / diff.size)

    def __repr__(self):
        return f"HuberLoss(delta={self.delta})"
