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
    on_exception(trainer, error)                   # instead of the rest when training is interrupted

During an epoch the trainer exposes ``batch`` (index in the epoch), ``batch_x`` and ``batch_y`` (the
batch, a fresh array each step: a callback, hook or augment may keep it), ``seen``, ``loss_sum`` and
``correct`` (running totals of the epoch) and ``n_train``.

Setting ``trainer.stop_training = True`` ends training after the current epoch. A callback whose
state must survive ``--resume`` returns it from :meth:`Callback.state_dict` (JSON types) and gets it
back in :meth:`Callback.load_state_dict`; arrays go through :meth:`Callback.arrays`.
"""

import math
import sys
import weakref

import numpy as np

from .errors import TrainingError
from .monitor import Monitor, check_monitor_has_data, mode_of, monitored_value

EVENTS = ("on_train_begin", "on_epoch_begin", "on_before_backward", "on_batch_end", "on_epoch_end",
          "on_train_end", "on_exception")


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

    def on_exception(self, trainer, error):
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
        """True when this callback defines ``event`` itself, in its class or on the instance
        (``cb.on_epoch_end = fn``); the trainer skips the others."""
        return event in vars(self) or getattr(type(self), event) is not getattr(Callback, event)


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


class ForwardingCallback(Callback):
    """Any object with some of the ``on_*`` methods of :data:`EVENTS` (duck typing, as Keras users write
    them), as a :class:`Callback`: the trainer calls the object's own methods. State that must survive
    ``--resume`` needs a :class:`Callback` subclass (``state_key``, ``state_dict``)."""

    def __init__(self, obj):
        self.obj = obj
        for event in EVENTS:
            handler = getattr(obj, event, None)
            if callable(handler):
                setattr(self, event, handler)


def as_callback(cb):
    """``cb`` as a :class:`Callback`: a Callback as it is, an object with any ``on_*`` event method
    through :class:`ForwardingCallback`, a plain function through :class:`FunctionCallback`."""
    if isinstance(cb, Callback):
        return cb
    if isinstance(cb, type):
        raise TypeError(f"Trainer takes callback instances; got the class {cb.__name__}: pass {cb.__name__}().")
    if any(callable(getattr(cb, event, None)) for event in EVENTS):
        return ForwardingCallback(cb)
    if callable(cb):
        return FunctionCallback(cb)
    raise TypeError(f"A callback must be a layerwise.callbacks.Callback, an object with any of the methods "
                    f"{', '.join(EVENTS)}, or a function fn(trainer, event). Got {cb!r} instead.")


class NaNGuard(Callback):
    """Stop at the first non-finite batch loss, naming the step and the first module whose output went bad.

    The check runs before backward, so the weights of the last good step are untouched.
    """

    def on_before_backward(self, trainer, batch, loss):
        if not math.isfinite(loss):
            raise self.diagnose(trainer, batch, loss)

    @staticmethod
    def diagnose(trainer, batch, loss):
        where = f"epoch {trainer.epoch + 1}, batch {batch + 1} (step {trainer.step + 1})"
        advice = "Try a smaller optimizer.lr or training.grad_clip_norm."
        model, xb = trainer.model, trainer.batch_x
        for name, m, k in model.named_parameters():
            if not np.all(np.isfinite(m.params[k])):
                module = name.rpartition(".")[0] or "model"
                return TrainingError(f"Training stopped at {where}: parameter '{name}' of module {module} "
                                     f"({type(m).__name__}) holds NaN or Inf. {advice}")
        if xb is not None and not np.all(np.isfinite(xb)):
            return TrainingError(f"Training stopped at {where}: the input batch holds NaN or Inf; check the data.")
        yb = getattr(trainer, "batch_y", None)
        if yb is not None and np.asarray(yb).dtype.kind == "f" and not np.all(np.isfinite(yb)):
            return TrainingError(f"Training stopped at {where}: the targets of the batch hold NaN or Inf; "
                                 "check the data.")
        bad, handles = [], []
        for name, m in model.named_modules():
            def record(mod, x, y, name=name):
                if not bad and not np.all(np.isfinite(y)):
                    bad.append((name.rstrip(".") or "model", type(mod).__name__))
            handles.append(m.register_forward_hook(record))
        # the probe is a training forward, as the step's was: what it changes (batch norm's running statistics,
        # the dropout generators) is put back: the probe leaves them as the failed step's forward left them
        from .checkpoint import generator_states, set_generator_states
        buffers = [(m.buffers, k, v.copy()) for _, m in model.named_modules() for k, v in m.buffers.items()]
        rngs = generator_states(model)
        try:
            with np.errstate(all="ignore"):
                model.forward(xb)
        finally:
            for h in handles:
                h.remove()
            for held, k, v in buffers:
                np.copyto(held[k], v)
            set_generator_states(model, rngs)
        if bad:
            return TrainingError(f"Training stopped at {where}: the output of module {bad[0][0]} ({bad[0][1]}) "
                                 f"is NaN or Inf. {advice}")
        return TrainingError(f"Training stopped at {where}: the loss is {loss}. {advice}")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights at the end.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch's metrics row (a callback before this one in the list may add its own).
    patience : int >= 1, default 5
    min_delta : float >= 0, default 0
    restore_best : bool, default True
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better. ``"auto"`` reads the name: losses and errors (``val_loss``,
        ``val_mae``) are minimised, accuracies and scores maximised; any other name needs ``mode``.

    A fit that starts at epoch 0 (a new Trainer) starts tracking afresh: the instance may be reused for
    another model or fold. A resumed or continued fit goes on from the best so far. A fit of the same trainer
    continued in the same process after the best weights were restored at the end of the last one starts from
    that last epoch's weights again (unless they were changed since), as ``layerwise train --resume`` does from
    its checkpoint: ``epochs=6`` then ``epochs=16`` trains as one fit of 16 epochs. (A state saved with
    ``Trainer.state()`` and the restored weights after such a fit goes on from the best ones.)
    """

    state_key = "early_stopping"

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True, mode="auto"):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"The 'patience' parameter of EarlyStopping must be an int >= 1. Got {patience!r} instead.")
        self.monitor, self.patience, self.restore_best = monitor, patience, restore_best
        self.mode = mode_of(monitor, mode, "EarlyStopping")
        self.tracker = Monitor(self.mode, min_delta)
        self.best_epoch, self.best_state = 0, None
        self._last = None           # (trainer, epoch, weights) replaced by the best at the end of the last fit

    def __getstate__(self):
        """Pickled or copied without the last fit's weights: they are for that trainer's next fit (a weak reference
        to it, which pickle cannot take)."""
        return {**vars(self), "_last": None}

    def on_train_begin(self, trainer):
        check_monitor_has_data(self.monitor, trainer.X_val is not None, "Early stopping")
        last, self._last = getattr(self, "_last", None), None
        if trainer.epoch == 0:      # a new training: the best of another model (or fold) is not this one's
            self.tracker = Monitor(self.mode, self.tracker.min_delta)
            self.best_epoch, self.best_state = 0, None
        elif last is not None and last[0]() is trainer and last[1] == trainer.epoch and self.best_state is not None:
            now = trainer.model.state_dict()
            if set(now) == set(self.best_state) and all(np.array_equal(now[k], v) for k, v in self.best_state.items()):
                trainer.model.load_state_dict(last[2])      # untouched since the restore: go on from the last epoch

    def on_epoch_end(self, trainer, row):
        hint = (" Trainer(early_stopping=...) runs before your callbacks; to watch a metric that one of them adds, "
                "pass EarlyStopping(...) in callbacks after it." if getattr(trainer, "early_stopping", None) is self
                else "")
        if self.tracker.update(monitored_value(row, self.monitor, "EarlyStopping", hint)):
            self.best_epoch, self.best_state = trainer.epoch, trainer.model.state_dict()
        elif self.tracker.wait >= self.patience:
            trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best and self.best_state is not None:
            self._last = (weakref.ref(trainer), trainer.epoch, trainer.model.state_dict())   # (a fold's trainer may go)
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self):
        return {**self.tracker.state_dict(), "best_epoch": self.best_epoch, "monitor": self.monitor, "mode": self.mode}

    def load_state_dict(self, state):
        """Go on from a checkpoint's best, unless it watched another metric or direction (a resume may change
        ``training.early_stopping``): then tracking starts afresh, as the best of another metric means nothing."""
        self._last = None       # the weights a fit of this object replaced were not this state's
        self._other_metric = (state.get("monitor", self.monitor), state.get("mode", self.mode)) != (self.monitor,
                                                                                                     self.mode)
        if self._other_metric:
            self.tracker = Monitor(self.mode, self.tracker.min_delta)
            self.best_epoch, self.best_state = 0, None
            return
        epoch = state["best_epoch"]          # (the tracker checks its best value)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"early stopping's best_epoch is {epoch!r}, expected an int >= 0")
        self.tracker.load_state_dict(state)
        self.best_epoch = epoch

    def arrays(self):
        return dict(self.best_state) if self.best_state is not None else {}

    def load_arrays(self, arrays):
        if not getattr(self, "_other_metric", False):
            self.best_state = dict(arrays) or None

    def arrays_problem(self, model):
        """What makes the loaded best weights unfit for ``model`` (None when they fit): the weights restored at the
        end must be the model's own arrays, finite, or be there at all when a best epoch was recorded."""
        if self.best_state is None:
            return (f"early stopping recorded epoch {self.best_epoch} as the best but holds no weights of it"
                    if self.best_epoch and self.restore_best else None)
        want = model.state_dict()
        if set(self.best_state) != set(want):
            odd = sorted(set(self.best_state) ^ set(want))
            return f"early stopping's best weights do not name the model's arrays ({', '.join(odd[:3])})"
        for name, value in self.best_state.items():
            value = np.asarray(value)
            if value.shape != want[name].shape or value.dtype != want[name].dtype:
                return (f"early stopping's best weight {name!r} is {value.dtype} of shape {value.shape}, expected "
                        f"{want[name].dtype} of shape {want[name].shape}")
            if value.dtype.kind in "fc" and not np.isfinite(value).all():
                return f"early stopping's best weight {name!r} holds NaN or Inf"
        return None


class ProgressLogger(Callback):
    """A tqdm bar per epoch on a terminal and one line per epoch, as ``trainer.progress`` asks.

    ``"auto"``: a bar when stderr is a terminal, lines always; ``"bar"``, ``"lines"``, ``"off"``.
    Lines go to ``trainer.stream`` (default: sys.stdout at the time of printing).
    """

    def __init__(self):
        self.bar = None

    def on_epoch_begin(self, trainer):
        stream = sys.stderr
        if trainer.progress == "bar" or (trainer.progress == "auto" and stream.isatty()):
            from tqdm import tqdm
            self.bar = tqdm(total=trainer.n_train, desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}",
                            unit="samples", unit_scale=True, leave=False, file=stream, dynamic_ncols=True)

    def on_batch_end(self, trainer, step, loss):
        bar = self.bar
        if bar is not None and (trainer.batch % 10 == 0 or trainer.seen == trainer.n_train):
            bar.update(trainer.seen - bar.n)
            acc = f" acc {trainer.correct / trainer.seen:.4f}" if trainer.classification else ""
            bar.set_postfix_str(f"loss {trainer.loss_sum / trainer.seen:.4f}{acc}", refresh=False)

    def on_epoch_end(self, trainer, row):
        self.close()
        if trainer.progress == "off":
            return
        parts = [f"epoch {row['epoch']:>3}/{trainer.epochs}", f"loss {row['train_loss']:.4f}"]
        for key, label in (("train_accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc")):
            if key in row:
                parts.append(f"{label} {row[key]:.4f}")
        parts += [f"lr {row['lr']:.3g}", f"{row['samples_per_second']:,.0f} samples/s"]
        print("  ".join(parts), file=trainer.stream or sys.stdout, flush=True)

    def on_exception(self, trainer, error):
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["Callback", "FunctionCallback", "NaNGuard", "EarlyStopping", "ProgressLogger", "as_callback", "EVENTS"]
