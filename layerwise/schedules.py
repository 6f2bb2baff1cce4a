"""Learning-rate schedules, applied once per epoch to every optimizer of a model.

Each optimizer keeps its own base rate (a layer with its own ``lr`` is scaled by the same factor).
``factor(epoch)`` is the multiplier for epoch ``epoch`` (0-based); a linear warm-up over the first
``warmup_epochs`` epochs multiplies it by ``(epoch + 1) / warmup_epochs``.
"""

import math
import numbers

from .monitor import Monitor, mode_of, monitored_value
from .registry import Registry


class Schedule:
    """Constant learning rate (``type: none``), and the base of the others."""

    def __init__(self, optimizers, *, epochs, warmup_epochs=0):
        self.optimizers = list({id(o): o for o in optimizers}.values())
        self.base_lrs = [o.lr for o in self.optimizers]
        self.epochs = int(epochs)
        self.warmup_epochs = int(warmup_epochs)
        self.scale = 1.0      # what ``observe`` may change (plateau); saved for resume

    def factor(self, epoch):
        return 1.0

    def set_epoch(self, epoch):
        """Set every optimizer's ``lr`` for this epoch; returns the first one's rate.

        The constant schedule without warm-up sets nothing: a rate the user changes between epochs
        (a callback, ``opt.lr = ...`` before another ``fit``) stands, as in PyTorch without a scheduler.
        """
        if type(self) is Schedule and not self.warmup_epochs:
            return self.optimizers[0].lr if self.optimizers else 0.0
        f = self.factor(epoch) * self.scale
        if epoch < self.warmup_epochs:
            f *= (epoch + 1) / self.warmup_epochs
        for opt, base in zip(self.optimizers, self.base_lrs):
            opt.lr = self._floored(float(base * f), base, epoch)
        return self.optimizers[0].lr if self.optimizers else 0.0

    def _floored(self, lr, base, epoch):
        """The rate an optimizer gets (a schedule with a floor overrides this)."""
        return lr

    def observe(self, metrics):
        """Called after each epoch with its metrics (``val_loss``, ``val_accuracy``, ...)."""

    def state_dict(self):
        return {"scale": self.scale}

    def load_state_dict(self, state):
        self.scale = _scale(state["scale"])


class StepSchedule(Schedule):
    """``gamma ** ((epoch - warmup) // step_size)``."""

    def __init__(self, optimizers, *, epochs, step_size=10, gamma=0.1, warmup_epochs=0):
        super().__init__(optimizers, epochs=epochs, warmup_epochs=warmup_epochs)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def factor(self, epoch):
        return self.gamma ** (max(epoch - self.warmup_epochs, 0) // self.step_size)


class ExponentialSchedule(Schedule):
    """``gamma ** (epoch - warmup)``."""

    def __init__(self, optimizers, *, epochs, gamma=0.95, warmup_epochs=0):
        super().__init__(optimizers, epochs=epochs, warmup_epochs=warmup_epochs)
        self.gamma = float(gamma)

    def factor(self, epoch):
        return self.gamma ** max(epoch - self.warmup_epochs, 0)


class CosineSchedule(Schedule):
    """Cosine annealing from the base rate to ``min_lr`` over the epochs after warm-up.

    The curve depends on ``training.epochs``: extending a finished run with ``--resume`` and more
    epochs continues a curve stretched to the new length.
    """

    def __init__(self, optimizers, *, epochs, min_lr=0.0, warmup_epochs=0):
        super().__init__(optimizers, epochs=epochs, warmup_epochs=warmup_epochs)
        self.min_lr = float(min_lr)

    def set_epoch(self, epoch):
        span = max(self.epochs - self.warmup_epochs, 1)
        t = min(max(epoch - self.warmup_epochs, 0), span)
        cos = 0.5 * (1 + math.cos(math.pi * t / span))
        warm = (epoch + 1) / self.warmup_epochs if epoch < self.warmup_epochs else 1.0
        for opt, base in zip(self.optimizers, self.base_lrs):
            low = min(self.min_lr, base)
            opt.lr = float((low + (base - low) * cos) * warm)
        return self.optimizers[0].lr if self.optimizers else 0.0


class PlateauSchedule(Schedule):
    """Multiply the rates by ``factor`` when ``monitor`` has not improved for ``patience`` epochs;
    no optimizer's rate goes below ``min_lr``.

    An improvement beats the best by more than ``threshold``: a fraction of the best with
    ``threshold_mode="rel"`` (``val_loss < best * (1 - threshold)``), an amount with ``"abs"``; PyTorch's
    ``ReduceLROnPlateau`` rule and defaults (1e-4, relative). ``mode`` ("auto", "min", "max") says whether lower
    or higher is better; "auto" reads the name as :class:`~layerwise.callbacks.EarlyStopping` does.
    """

    def __init__(self, optimizers, *, epochs, factor=0.1, patience=3, monitor="val_loss", min_lr=0.0,
                 threshold=1e-4, threshold_mode="rel", warmup_epochs=0, mode="auto"):
        super().__init__(optimizers, epochs=epochs, warmup_epochs=warmup_epochs)
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("The 'threshold_mode' parameter of PlateauSchedule must be 'rel' or 'abs'. "
                             f"Got {threshold_mode!r} instead.")
        self.reduce, self.patience, self.monitor = float(factor), int(patience), monitor
        self.min_lr = float(min_lr)
        self.tracker = Monitor(mode_of(monitor, mode, "PlateauSchedule"), threshold, relative=threshold_mode == "rel")

    def observe(self, metrics):
        if self.tracker.update(monitored_value(metrics, self.monitor, "The plateau schedule")):
            return
        if self.tracker.wait > self.patience:
            # reductions stop once every optimizer sits at its floor (each one's own: see _floored)
            floor = min((self.min_lr / b for b in self.base_lrs if b > self.min_lr), default=1.0)
            self.scale = max(self.scale * self.reduce, floor)
            self.tracker.wait = 0

    def _floored(self, lr, base, epoch):
        """``max(lr, min_lr)`` for each optimizer, as PyTorch's ReduceLROnPlateau (a base rate already below
        ``min_lr`` is left as it is); not during warm-up, which starts below the base rate on purpose."""
        return lr if epoch < self.warmup_epochs else max(lr, min(self.min_lr, base))

    def state_dict(self):
        return {"scale": self.scale, **self.tracker.state_dict()}

    def load_state_dict(self, state):
        self.scale = _scale(state["scale"])
        self.tracker.load_state_dict(state)


def _scale(value):
    """A saved rate factor: a number > 0 (a factor of 0 would train at rate 0 from then on)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ValueError(f"the schedule's rate factor is {value!r}, expected a number > 0")
    return float(value)


SCHEDULES = Registry("schedule", {"none": Schedule, "step": StepSchedule, "exponential": ExponentialSchedule,
                                  "cosine": CosineSchedule, "plateau": PlateauSchedule})


def make_schedule(spec, optimizers, *, epochs):
    """A schedule from a config mapping such as ``{"type": "cosine", "warmup_epochs": 2}``."""
    spec = dict(spec)
    kind = spec.pop("type", "none")
    if kind not in SCHEDULES:
        raise ValueError(f"Unknown schedule {kind!r}. Expected one of {sorted(SCHEDULES)}.")
    return SCHEDULES[kind](optimizers, epochs=epochs, **spec)
