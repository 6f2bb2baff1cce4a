"""Losses: ``forward(pred, target) -> float`` and ``backward() -> dL/dpred``, mean reduction."""

import numpy as np

from .modules.activations import sigmoid, softmax

LOSSES = {}


def _register(name):
    def add(cls):
        LOSSES[name] = cls
        return cls
    return add


class Loss:
    """Base class of losses. ``forward`` caches what ``backward`` needs; ``__call__ = forward``."""

    def __init__(self):
        self._cache = None

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward.")
        return self._cache

    def _same_shape(self, pred, target):
        pred = np.asarray(pred)
        target = np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"{type(self).__name__} expected target of shape {pred.shape} (as the "
                             f"prediction), got {target.shape}.")
        if not np.issubdtype(pred.dtype, np.floating):
            pred = pred.astype(np.float64)
        return pred, target.astype(pred.dtype, copy=False)

    # -- what the trainer and the estimators ask a loss -------------------------------------------
    def output_width(self, n_classes):
        """Outputs per sample the model needs for ``n_classes`` classes (default: one per class)."""
        return n_classes

    def targets(self, labels, n_outputs):
        """What :meth:`forward` takes for integer class codes ``labels`` and ``n_outputs`` outputs."""
        return labels

    def proba(self, outputs):
        """Class probabilities (N, C) from model outputs; C >= 2."""
        raise NotImplementedError(f"{type(self).__name__} does not give class probabilities.")

    def labels(self, outputs):
        """Predicted class codes (N,) from model outputs: the class of highest probability."""
        return self.proba(outputs).argmax(axis=1)

    def __repr__(self):
        return f"{type(self).__name__}()"


class _BinaryLoss(Loss):
    """A loss on one output per sample for two classes (or one output per class, multi-label)."""

    #: the output value that separates class 0 from class 1
    threshold = 0.0

    def output_width(self, n_classes):
        return 1 if n_classes == 2 else n_classes

    def targets(self, labels, n_outputs):
        labels = np.asarray(labels)
        return labels.reshape(-1, 1) if n_outputs == 1 and labels.ndim == 1 else labels

    def _positive(self, outputs):
        return outputs

    def proba(self, outputs):
        p = self._positive(outputs)
        return np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p

    def labels(self, outputs):
        if outputs.ndim == 2 and outputs.shape[1] == 1:
            return (outputs[:, 0] > self.threshold).astype(np.int64)
        return outputs.argmax(axis=1)


@_register("cross_entropy")
class CrossEntropyLoss(Loss):
    r"""Softmax cross-entropy from logits, averaged over the batch.

    ``target`` holds integer class labels (N,) or class probabilities (N, C).

    Notes
    -----
    ``log p = z - logsumexp(z)`` with the row max subtracted first, so logits of 1e4 stay finite.
    ``L = -(1/N) sum_n sum_k t_nk log p_nk``;  ``dL/dz = (softmax(z) - t) / N`` (N, C),
    the ``-Delta = -(y - f(x))`` of the backpropagation notes, averaged.
    """

    def proba(self, outputs):
        return softmax(outputs)

    def labels(self, outputs):
        return outputs.argmax(axis=1)    # softmax keeps the order: no need to compute it

    def forward(self, pred, target):
        z = np.asarray(pred)
        if z.ndim != 2:
            raise ValueError(f"CrossEntropyLoss expected logits of shape (N, C), got {z.shape}.")
        n, c = z.shape
        target = np.asarray(target)
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        if target.ndim == 1:
            if target.shape[0] != n:
                raise ValueError(f"CrossEntropyLoss got {n} predictions but {target.shape[0]} labels.")
            if target.dtype.kind not in "iu":
                if not np.all(np.mod(target, 1) == 0):
                    raise ValueError("CrossEntropyLoss expected integer class labels (N,) or "
                                     f"probabilities (N, C); got non-integer labels of dtype {target.dtype}.")
                target = target.astype(np.int64)
            if n and (target.min() < 0 or target.max() >= c):
                raise ValueError(f"CrossEntropyLoss: labels must be in [0, {c}) for {c} logits; "
                                 f"got labels from {target.min()} to {target.max()}.")
            rows = np.arange(n)
            # -log p_t = log(sum exp) - shifted_t, summed over the batch
            loss = (np.log(total).sum() - shifted[rows, target].sum()) / n
        elif target.shape == z.shape:
            target = target.astype(z.dtype, copy=False)
            rows = None
            loss = -(target * (shifted - np.log(total))).sum() / n
        else:
            raise ValueError(f"CrossEntropyLoss expected labels of shape ({n},) or probabilities of shape "
                             f"{z.shape}, got {target.shape}.")
        self._cache = (e, total, target, rows)
        return float(loss)

    def backward(self):
        e, total, target, rows = self._cached()
        n = e.shape[0]
        grad = e / total                    # softmax, from the forward's exp
        if rows is not None:
            grad[rows, target] -= 1
        else:
            grad -= target
        grad *= 1.0 / n
        return grad


@_register("bce_with_logits")
class BCEWithLogitsLoss(_BinaryLoss):
    r"""Binary cross-entropy on logits, averaged over every element.

    Notes
    -----
    ``L = mean(max(z, 0) - z t + log(1 + exp(-|z|)))``, the stable form;
    ``dL/dz = (sigmoid(z) - t) / n`` with n the number of elements.
    """

    def forward(self, pred, target):
        z, t = self._same_shape(pred, target)
        self._cache = (z, t)
        return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))

    def backward(self):
        z, t = self._cached()
        s = sigmoid(z)
        s -= t
        s *= 1.0 / z.size
        return s

    def _positive(self, outputs):
        return sigmoid(outputs)


@_register("bce")
class BCELoss(_BinaryLoss):
    r"""Binary cross-entropy on probabilities, averaged over every element.

    Probabilities are clipped to ``[eps, 1 - eps]`` (eps 1e-7) so the log stays finite.

    Notes
    -----
    ``L = -mean(t log p + (1 - t) log(1 - p))``;
    ``dL/dp = (p - t) / (p (1 - p)) / n`` inside the clip range and 0 outside it.
    """

    eps = 1e-7
    threshold = 0.5

    def forward(self, pred, target):
        p, t = self._same_shape(pred, target)
        pc = np.clip(p, self.eps, 1 - self.eps)
        self._cache = (p, pc, t)
        return float(-np.mean(t * np.log(pc) + (1 - t) * np.log1p(-pc)))

    def backward(self):
        p, pc, t = self._cached()
        grad = (pc - t) / (pc * (1 - pc)) * (1.0 / p.size)
        grad[(p < self.eps) | (p > 1 - self.eps)] = 0
        return grad.astype(p.dtype, copy=False)


@_register("mse")
class MSELoss(Loss):
    r"""Mean squared error over every element.

    Notes
    -----
    ``L = mean((y - t)^2)``;  ``dL/dy = 2 (y - t) / n`` with n the number of elements.
    """

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
            onehot = np.zeros((len(labels), n_outputs))
            onehot[np.arange(len(labels)), labels] = 1
            return onehot
        return labels

    def labels(self, outputs):
        return outputs.argmax(axis=1)


def get_loss(name):
    """A loss instance from its config name (``cross_entropy``, ``bce_with_logits``, ``bce``, ``mse``)."""
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]()
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {name!r}. Expected one of {sorted(LOSSES)}.") from None


__all__ = ["Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "LOSSES", "get_loss",
           "softmax"]
