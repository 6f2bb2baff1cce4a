"""Losses: ``forward(pred, target) -> float`` and ``backward() -> dL/dpred``, mean reduction."""

import numpy as np

from .modules.activations import sigmoid, softmax, softmax_parts
from .registry import Registry

LOSSES = Registry("loss")


def _register(name):
    def add(cls):
        LOSSES[name] = cls
        return cls
    return add


class Loss:
    """Base class of losses. ``forward`` caches what ``backward`` needs; ``__call__ = forward``.

    Attributes
    ----------
    tasks : tuple of {"classification", "regression"}
        What the loss trains; a config without ``data.task`` takes the first.
    input_range : (low, high) or None
        The interval every prediction must lie in (None: any number). A config is checked against
        the ``output_range`` of the model's last layer.
    input_layer : str or None
        The layer type to end the model with when the last layer's outputs do not fit ``input_range``.
    takes_logits : bool
        True when ``forward`` applies its own softmax or sigmoid: a last layer that already gives
        probabilities is warned about.
    """

    tasks = ("classification",)
    input_range = None
    input_layer = None
    takes_logits = False

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

    def check_targets(self, targets, n_outputs):
        """Raise a ValueError unless ``forward`` takes ``targets(targets, n_outputs)`` as the trainer gives them.

        The check is the forward itself on a probe of ``n_outputs`` predictions per sample (inside
        ``input_range``), so a plugin loss is checked by its own rules.
        """
        targets = np.asarray(targets)
        low, high = self.input_range or (0.0, 0.0)
        probe = np.full((len(targets), n_outputs), (low + high) / 2)
        self.forward(probe, self.targets(targets, n_outputs))
        self._cache = None

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
        if labels.ndim == 1 and n_outputs > 1:
            raise ValueError(f"{type(self).__name__} takes two classes with one output per sample, or multi-label "
                             f"0/1 targets of shape (N, {n_outputs}); got class labels (N,) for {n_outputs} outputs. "
                             "For one label among several classes, use CrossEntropyLoss (cross_entropy).")
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
    ``L = -(1/N) sum_n sum_k t_nk log p_nk``;  ``dL/dz = (softmax(z) * sum_k t_nk - t) / N`` (N, C),
    which is ``(softmax(z) - t) / N`` when each row of t sums to 1 (labels): the ``-Delta = -(y - f(x))``
    of the backpropagation notes, averaged.
    """

    takes_logits = True
    _rows = np.arange(0)        # 0..n-1 for the batch size n last seen: kept, not made every step

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
        # class-major (C, N): NumPy reduces over the rows of a matrix with whole-row vector operations,
        # but along short rows with one small loop per row (a 128 x 10 batch's loss took 3x longer)
        shifted, e, total = softmax_parts(z.T.copy(), axis=0, overwrite=True)     # total: (1, N)
        if target.ndim == 1:
            if target.shape[0] != n:
                raise ValueError(f"CrossEntropyLoss got {n} predictions but {target.shape[0]} labels.")
            if target.dtype.kind not in "iu":
                if not np.all(np.mod(target, 1) == 0):
                    raise ValueError("CrossEntropyLoss expected integer class labels (N,) or "
                                     f"probabilities (N, C); got non-integer labels of dtype {target.dtype}.")
            target = target.astype(np.intp, copy=False)
            # one reduction for both bounds: a negative label, seen unsigned, is larger than any class
            if n and np.maximum.reduce(target.view(np.uintp)) >= c:
                raise ValueError(f"CrossEntropyLoss: labels must be in [0, {c}) for {c} logits; "
                                 f"got labels from {target.min()} to {target.max()}.")
            rows = self._rows if len(self._rows) == n else np.arange(n)
            self._rows = rows
            # -log p_t = log(sum exp) - shifted_t, summed over the batch
            loss = np.add.reduce(np.log(total[0]) - shifted[target, rows]) / n
        elif target.shape == z.shape:
            target = target.astype(z.dtype, copy=False)
            rows = None
            loss = -(target.T * (shifted - np.log(total))).sum() / n
        else:
            raise ValueError(f"CrossEntropyLoss expected labels of shape ({n},) or probabilities of shape "
                             f"{z.shape}, got {target.shape}.")
        self._cache = (e, total, target, rows)
        return float(loss)

    def backward(self):
        e, total, target, rows = self._cached()
        c, n = e.shape
        grad = np.empty((n, c), e.dtype)
        np.divide(e.T, total.T, out=grad)    # softmax, from the forward's exp, back in (N, C)
        if rows is not None:
            grad[rows, target] -= 1
        else:   # d/dz of -sum_k t_k log p_k is softmax * sum_k t_k - t: rows that do not sum to 1 too
            grad *= target.sum(axis=1, keepdims=True)
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

    takes_logits = True

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

    Predictions must be probabilities in [0, 1], as in PyTorch: anything else is a ValueError (a
    logit would be clipped into a zero gradient). They are clipped to ``[eps, 1 - eps]`` (eps 1e-7)
    so the log stays finite.

    Notes
    -----
    ``L = -mean(t log p + (1 - t) log(1 - p))``;
    ``dL/dp = (p - t) / (p (1 - p)) / n`` inside the clip range and 0 outside it.
    """

    eps = 1e-7
    threshold = 0.5
    input_range = (0.0, 1.0)
    input_layer = "sigmoid"

    def forward(self, pred, target):
        p, t = self._same_shape(pred, target)
        if p.size and (p.min() < 0 or p.max() > 1):
            raise ValueError(f"BCELoss expected probabilities in [0, 1], got values from {p.min():.4g} to "
                             f"{p.max():.4g}. End the model with a Sigmoid, or use BCEWithLogitsLoss on logits.")
        pc = np.clip(p, self.eps, 1 - self.eps)
        self._cache = (p, pc, t)
        return float(-np.mean(t * np.log(pc) + (1 - t) * np.log1p(-pc)))

    def backward(self):
        p, pc, t = self._cached()
        grad = (pc - t) / (pc * (1 - pc)) * (1.0 / p.size)
        grad[(p < self.eps) | (p > 1 - self.eps)] = 0
        return grad.astype(p.dtype, copy=False)


def get_loss(name):
    """A loss instance from its config name (``cross_entropy``, ``bce_with_logits``, ``bce``, ``mse``, ``l1``,
    ``huber``)."""
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]()
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {name!r}. Expected one of {sorted(LOSSES)}.") from None


from .regression_losses import HuberLoss, L1Loss, MSELoss  # noqa: E402  (registers mse, l1, huber)

__all__ = ["Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss", "HuberLoss", "LOSSES",
           "get_loss", "softmax"]
