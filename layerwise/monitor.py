"""Has a monitored value improved? The one rule behind early stopping, plateau schedules and ``tol``."""

import math
import numbers


LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse")
HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "f1", "precision", "recall", "r2", "score")


def mode_of(name, mode="auto", owner="The monitor"):
    """``"min"`` (lower is better) or ``"max"`` for the metric ``name``: ``mode`` itself when it says; with
    ``"auto"``, ``"min"`` for a name ending in a loss or an error (``val_loss``, ``val_mae``), ``"max"`` for an
    accuracy or a score (``val_accuracy``, ``val_r2``), and a ValueError naming ``owner`` for any other name,
    which it would otherwise have to guess (a falling ``val_error`` taken for a worsening one)."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"The 'mode' parameter of {owner} must be 'auto', 'min' or 'max'. Got {mode!r} instead.")
    lowered = str(name).lower()
    if lowered.endswith(LOWER_IS_BETTER):
        return "min"
    if lowered.endswith(HIGHER_IS_BETTER):
        return "max"
    raise ValueError(f"{owner} cannot tell whether a higher or a lower {name!r} is better; pass mode='min' or "
                     "mode='max'.")


def check_monitor_has_data(monitor, has_val, owner):
    """A ValueError when ``owner`` watches a validation metric (``val_*``) and there is no validation set."""
    if not has_val and isinstance(monitor, str) and monitor.startswith("val_"):
        raise ValueError(f"{owner} monitors {monitor!r}, a validation metric: pass X_val and y_val, or monitor "
                         "'train_loss'.")


def monitored_value(metrics, monitor, owner, hint=""):
    """``metrics[monitor]``, or a ValueError naming what the epoch's metrics hold (and ``hint``)."""
    if monitor not in metrics:
        raise ValueError(f"{owner} monitors {monitor!r}, which the epoch's metrics lack; they have "
                         f"{sorted(metrics)}.{hint}")
    return metrics[monitor]


class Monitor:
    """Track the best value of a metric and how many observations have passed without improvement.

    Parameters
    ----------
    mode : {"min", "max"}
        Lower is better (losses) or higher is better (accuracies).
    min_delta : float >= 0
        An improvement must beat the best by more than this (Keras' and PyTorch's ``min_delta``,
        scikit-learn's ``tol``).
    inclusive : bool, default False
        Count a gain of exactly ``min_delta`` as an improvement (scikit-learn's ``tol`` rule:
        ``loss <= best - tol``).
    best_follows : {"improvement", "any"}
        ``"improvement"``: the best moves only on an improvement (Keras, PyTorch); ``"any"``: it moves
        whenever a value is better at all, even by less than ``min_delta`` (scikit-learn).
    relative : bool, default False
        ``min_delta`` is a fraction of the best: an improvement must beat ``best * (1 - min_delta)`` (min) or
        ``best * (1 + min_delta)`` (max), PyTorch's ``ReduceLROnPlateau`` with ``threshold_mode="rel"``.

    Attributes
    ----------
    best : float or None
        The best value so far (None before the first observation).
    wait : int
        Observations since the last improvement.
    """

    def __init__(self, mode="min", min_delta=0.0, *, inclusive=False, best_follows="improvement", relative=False):
        if mode not in ("min", "max"):
            raise ValueError(f"The 'mode' parameter of Monitor must be 'min' or 'max'. Got {mode!r} instead.")
        if best_follows not in ("improvement", "any"):
            raise ValueError("The 'best_follows' parameter of Monitor must be 'improvement' or 'any'. "
                             f"Got {best_follows!r} instead.")
        if not (isinstance(min_delta, numbers.Real) and not isinstance(min_delta, bool) and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"The 'min_delta' parameter of Monitor must be a number >= 0. Got {min_delta!r} instead.")
        self.mode, self.min_delta = mode, float(min_delta)
        self.inclusive, self.best_follows, self.relative = inclusive, best_follows, bool(relative)
        self.best, self.wait = None, 0

    def gain(self, value):
        """How much better ``value`` is than the best (positive: better); inf before the first value."""
        if self.best is None:
            return math.inf
        return (self.best - value) if self.mode == "min" else (value - self.best)

    def update(self, value):
        """Observe ``value``; return True when it is an improvement (and reset ``wait``)."""
        value = float(value)
        gain = self.gain(value)
        margin = self.min_delta
        if self.relative:       # a fraction of the best; after an infinite best, any finite value improves
            margin = self.min_delta * self.best if self.best is not None and math.isfinite(self.best) else 0.0
        improved = gain >= margin if self.inclusive else gain > margin
        if math.isnan(value):
            improved = False
        if improved or (self.best_follows == "any" and gain > 0):
            self.best = value
        self.wait = 0 if improved else self.wait + 1
        return improved

    def state_dict(self):
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`; a ValueError for a best that is no number or a wait that is no count."""
        best, wait = state["best"], state["wait"]
        if best is not None and (isinstance(best, bool) or not isinstance(best, numbers.Real)):
            raise ValueError(f"the monitored best value is {best!r}, expected a number")
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            raise ValueError(f"the epochs without improvement are {wait!r}, expected an int >= 0")
        self.best, self.wait = best, wait

    def __repr__(self):
        rel = ", relative=True" if self.relative else ""
        return f"Monitor(mode={self.mode!r}, min_delta={self.min_delta!r}{rel}, best={self.best!r}, wait={self.wait})"
