"""Trainer callbacks: one interface for early stopping, the NaN guard, checkpoints, progress and user code.

A callback overrides the events it needs; the :class:`~layerwise.trainer.Trainer` calls only the
methods a callback overrides, so an unused event costs nothing per batch.

Events, in the order of one training run::

    on_train_begin(trainer)
      on_epoch_begin(trainer)
        on_before_backward(trainer, batch, loss)   # loss computed, before backward and update
        on_batch_end(trainer, step, loss)          # after the update; step = updates so far
      on_epoch_end(trainer, row)                   # row: this epoch's metrics (also trainer.history[-1])
    on_train_end(trainer)

Setting ``trainer.stop_training = True`` ends training after the current epoch. A callback whose
state must survive ``--resume`` returns it from :meth:`Callback.state_dict` (JSON types) and gets it
back in :meth:`Callback.load_state_dict`; arrays go through :meth:`Callback.arrays`.
"""

import math
import sys

import numpy as np

from .errors import TrainingError
from .monitor import Monitor, mode_of

EVENTS = ("on_train_begin", "on_epoch_begin", "on_before_backward", "on_batch_end", "on_epoch_end",
          "on_train_end")


class Callback:
    """Base class: every event is a no-op until a subclass overrides it."""

    #: key under which the trainer saves this callback's state (None: nothing to save)
    state_key = None

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer):
        pass

    def on_before_backward(self, trainer, batch, loss):
        pass

    def on_batch_end(self, trainer, step, loss):
        pass

    def on_epoch_end(self, trainer, row):
        pass

    def on_train_end(self, trainer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def arrays(self):
        """Arrays to save with the checkpoint (name -> ndarray)."""
        return {}

    def load_arrays(self, arrays):
        pass

    def overrides(self, event):
        """True when this callback defines ``event`` itself (the trainer skips the others)."""
        return getattr(type(self), event) is not getattr(Callback, event)


class FunctionCallback(Callback):
    """A plain function ``fn(trainer, event)`` called with "train_begin", "epoch_end" and "train_end"."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"A callback must be a layerwise.callbacks.Callback or a function. Got {fn!r} instead.")
        self.fn = fn

    def on_train_begin(self, trainer):
        self.fn(trainer, "train_begin")

    def on_epoch_end(self, trainer, row):
        self.fn(trainer, "epoch_end")

    def on_train_end(self, trainer):
        self.fn(trainer, "train_end")


def as_callback(cb):
    return cb if isinstance(cb, Callback) else FunctionCallback(cb)
