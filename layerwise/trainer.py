"""The fit loop over arrays: seeded shuffling, schedules, clipping, and callbacks for everything else.

:class:`Trainer` knows modules only through the Module contract. Early stopping, the NaN guard,
progress display and checkpoints are callbacks (:mod:`layerwise.callbacks`), the same interface
users get. The config-driven driver (:mod:`layerwise.run`) and the scikit-learn estimator stand on it.
"""

import copy
import inspect
import math
import reprlib
import time
import warnings

import numpy as np

from ._finite import first_nonfinite_row
from ._heap import keep_freed_memory, release_free_memory
from .callbacks import EarlyStopping, NaNGuard, ProgressLogger, as_callback
from .errors import ConfigError, LayerwiseError
from .losses import get_loss
from .monitor import check_monitor_has_data
from .modules.base import Module, backward_without_input_grad, check_initialized
from .modules.evaluation import attributes_kept, mark_step, modes_kept, unmark_step
from .modules.normalization import has_one_sample_batch, single_sample_refusal
from .registry import is_builtin
from .schedules import Schedule


_PROGRESS = ("auto", "bar", "lines", "off")


class Trainer:
    """Train a model with the explicit loop: forward, loss, backward, update.

    Parameters
    ----------
    model : Module
        With its optimizer(s) already set (``model.set_optimizer``).
    loss : str or Loss, default "cross_entropy"
    epochs, batch_size : int
    eval_batch_size : int
        Batch size for validation and test passes: it changes their losses only in float rounding (the
        float32 sums are grouped otherwise), about 1e-7 relative.
    schedule : Schedule, optional
    early_stopping : dict, optional
        Keyword arguments of :class:`~layerwise.callbacks.EarlyStopping`
        (``{"patience": 5, "monitor": "val_loss", "min_delta": 0.0}``); the best weights are restored.
    grad_clip_norm : float, optional
        Clip the global L2 norm of all gradients before each update.
    seed : int
        Seeds the shuffling Generator.
    classification : bool, optional
        Compute accuracies (labels are class codes 0..C-1, or one-hot rows). Default: whether the loss
        is for classification (``cross_entropy``, ``bce``: yes; ``l1``, ``huber``: no); for ``mse``,
        which serves both, whether the targets are integer codes or one-hot rows (float targets: a
        regression, no accuracy).
    progress : "auto", "bar", "lines" or "off"
        A progress bar on a terminal, one line per epoch otherwise.
    callbacks : list of Callback (or functions ``f(trainer, event)``)
        Run after the built-in ones (NaN guard, early stopping, progress), in order.
    augment : callable, optional
        ``augment(xb) -> xb``, applied to each training batch (never to validation or test data), e.g.
        :class:`~layerwise.data.augment.Augment`. Its ``state_dict()`` (the state of its Generator), if it
        has one, is saved with the trainer's state, so a resumed run draws what the whole run would have.

    Notes
    -----
    The gradient with respect to the data is never computed: ``backward(..., input_grad=False)``.
    """

    def __init__(self, model, loss="cross_entropy", *, epochs=20, batch_size=64, eval_batch_size=1024,
                 schedule=None, early_stopping=None, grad_clip_norm=None, seed=0, shuffle=True,
                 classification=None, progress="auto", callbacks=(), stream=None, augment=None):
        if isinstance(model, Module):
            check_initialized(model)    # a user module without super().__init__(): said here, not deep inside
        self.model = model
        self.loss = get_loss(loss)
        self.epochs = _count(epochs, "epochs", 0)
        self.batch_size, self.eval_batch_size = _count(batch_size, "batch_size"), _count(eval_batch_size, "eval_batch_size")
        schedule = None if schedule is False else schedule              # False: none, as Keras reads it
        early_stopping = None if early_stopping is False else early_stopping
        if schedule is not None and not callable(getattr(schedule, "set_epoch", None)):
            raise TypeError(f"Trainer's schedule must be a Schedule (layerwise.schedules.make_schedule(...)), "
                            f"not {schedule!r}.")
        if early_stopping is not None and not isinstance(early_stopping, dict):
            raise TypeError("Trainer's early_stopping is a dict of EarlyStopping's arguments, e.g. "
                            f"{{'patience': 5, 'monitor': 'val_loss'}}; got {early_stopping!r}.")
        if progress not in _PROGRESS:
            raise ValueError(f"The 'progress' parameter of Trainer must be one of {list(_PROGRESS)}. "
                             f"Got {progress!r} instead.")
        self.schedule = schedule or Schedule(self._optimizers(), epochs=epochs)
        self._default_schedule = None if schedule else self.schedule    # the trainer's own constant rate
        self.grad_clip_norm = _clip_limit(grad_clip_norm)
        self.shuffle = shuffle
        tasks = getattr(self.loss, "tasks", ("classification",))
        # a loss for both tasks (mse): the targets decide, at fit and evaluate (see _looks_like_classes)
        self._task_from_targets = classification is None and len(tasks) > 1
        if classification is None:
            classification = tasks[0] == "classification"
        self.classification = bool(classification)
        self.progress = progress
        self.stream = stream            # None: sys.stdout at the time of printing
        try:
            self.early_stopping = EarlyStopping(**early_stopping) if early_stopping else None
        except TypeError as err:
            raise TypeError(f"Trainer's early_stopping: {err}. It takes "
                            f"{list(inspect.signature(EarlyStopping).parameters)}.") from None
        builtin = [NaNGuard(), *([self.early_stopping] if self.early_stopping else []), ProgressLogger()]
        self.callbacks = builtin + [as_callback(cb) for cb in callbacks]
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        self.epoch = 0                  # epochs completed
        self.step = 0                   # updates done
        self.history = []
        self.stop_training = False      # a callback sets it to end training after this epoch
        self._stopped_by_fit = False    # stop_training set during a fit of this object (not loaded from a checkpoint)
        self.train_seconds = 0.0
        self.X_val = None
        self.batch = self.seen = self.correct = self.n_train = 0
        self.loss_sum = 0.0
        self.batch_x = self.batch_y = None

    @property
    def stopped_early(self):
        """True when a callback (early stopping) ended training before ``epochs``."""
        return self.stop_training

    @property
    def best_epoch(self):
        """The epoch of the best monitored value: the early stopping's, ``Trainer(early_stopping=...)`` or the
        first EarlyStopping among the callbacks (0 without one)."""
        stopper = self._stopper()
        return stopper.best_epoch if stopper else 0

    @property
    def kept_epoch(self):
        """The epoch whose weights the model holds after fit: the best one when an early stopping restored it
        (``restore_best``), else the last."""
        stopper = self._stopper()
        restored = stopper is not None and stopper.restore_best and stopper.best_epoch
        return stopper.best_epoch if restored else self.epoch

    def _stopper(self):
        """The early stopping: ``Trainer(early_stopping=...)``'s, else the first EarlyStopping among the callbacks."""
        return self.early_stopping or next((cb for cb in self.callbacks if isinstance(cb, EarlyStopping)), None)

    def _optimizers(self):
        return [m.optimizer for _, m in self.model.named_modules() if m.params and m.optimizer is not None]

    # -- passes --------------------------------------------------------------------------------
    def predict(self, X):
        """Model outputs for ``X`` in eval mode, in batches of ``eval_batch_size`` (each module's mode is put
        back after)."""
        X = _array(X)
        with modes_kept(self.model):
            outs = [self.model.forward(X[i:i + self.eval_batch_size]) for i in range(0, len(X), self.eval_batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,))

    def evaluate(self, X, y):
        """``{"loss": mean loss, "accuracy": fraction correct}`` on ``(X, y)`` in eval mode (each module's
        mode is put back after: a callback may evaluate in the middle of an epoch)."""
        X, y = self._samples(X, y, "X", "y")
        with modes_kept(self.model), attributes_kept(self.loss):
            return self._evaluate(X, y)

    def _evaluate(self, X, y):
        total, correct, n = 0.0, 0, len(X)
        for i in range(0, n, self.eval_batch_size):
            out = self.model.forward(X[i:i + self.eval_batch_size])
            yb = y[i:i + self.eval_batch_size]
            total += self.loss.forward(out, self.loss.targets(yb, out.shape[-1])) * len(yb)
            if self.classification:
                correct += int(np.count_nonzero(self.loss.labels(out) == _codes(yb)))
        result = {"loss": total / max(n, 1)}
        if self.classification:
            result["accuracy"] = correct / max(n, 1)
        return result

    def _samples(self, X, y, xname, yname):
        """``(X, y)`` as arrays of as many rows; class labels must be the integer codes the loss takes."""
        X, y = _array(X), _array(y)
        if self._task_from_targets and y is not None:
            self.classification = _looks_like_classes(y)
        if y is None or len(y) != len(X):
            raise ValueError(f"{xname} has {len(X)} samples but {yname} has "
                             f"{'none' if y is None else len(y)}: give one target per sample.")
        if self.classification and (y.dtype.kind in "US" or (y.dtype.kind == "O" and any(isinstance(v, str)
                                                                                     for v in y.ravel()[:1000]))):
            raise ValueError(f"{yname} holds {y.dtype} labels; Trainer takes integer class codes 0..C-1. Encode "
                             "them (sklearn.preprocessing.LabelEncoder), or use layerwise.sklearn.LayerwiseClassifier, "
                             "which does.")
        return X, y

    def _clip(self):
        """Scale the gradients that ``update()`` will use (not a frozen module's) to a norm <= the limit."""
        grads = list(_trainable_grads(self.model))
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
        if norm > self.grad_clip_norm:
            scale = self.grad_clip_norm / (norm + 1e-6)
            for g in grads:
                g *= scale
        return norm

    def _handlers(self, event):
        return [getattr(cb, event) for cb in self.callbacks if cb.overrides(event)]

    def _train_epoch(self, X, y):
        model, loss, bs = self.model, self.loss, self.batch_size
        before, after = self._handlers("on_before_backward"), self._handlers("on_batch_end")
        n = self.n_train = len(X)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        # every batch is a fresh array, which hooks, augments and callbacks may keep: gathering into one
        # kept buffer instead measured -0.6% to +2.0% an epoch (a former variant of scripts/bench_mlp.py, four
        # runs over two sessions), within the noise, so it went
        ids = frozenset(id(m) for _, m in model.named_modules())
        plain_rows = type(X).__getitem__ is np.ndarray.__getitem__
        own_loss = not is_builtin(type(loss))
        self.loss_sum, self.correct, self.seen = 0.0, 0, 0
        model.train()
        for b, start in enumerate(range(0, n, bs)):
            idx = order[start:start + bs]
            # np.take copies the rows of X[idx] in a simpler loop than fancy indexing (scripts/bench_mlp.py's
            # gather phase went from 32 to 29 ms an epoch); an array class with indexing of its own gets it
            xb = np.take(X, idx, axis=0) if plain_rows else X[idx]
            if self.augment is not None:
                xb = self.augment(xb)
            yb = y[idx]
            self.batch, self.batch_x, self.batch_y = b, xb, yb
            out = model.forward(xb)
            value = loss.forward(out, loss.targets(yb, out.shape[-1]))
            if before:          # between this batch's forward and its backward: evaluations keep its caches
                mark_step(ids)
                try:
                    for fn in before:
                        fn(self, b, value)
                finally:
                    unmark_step(ids)
            grad = loss.backward()
            if own_loss:        # a plugin's or user's loss: what it gives back is checked before the model takes it
                _check_loss_grad(loss, grad, out, self.step + 1)
            backward_without_input_grad(model, grad)
            if self.grad_clip_norm:
                self._clip()
            model.update()
            self.step += 1
            self.loss_sum += value * len(idx)
            self.seen += len(idx)
            if self.classification:
                self.correct += int(np.count_nonzero(loss.labels(out) == _codes(yb)))
            for fn in after:
                fn(self, self.step, value)
        self.batch_x = self.batch_y = None
        row = {"train_loss": self.loss_sum / max(self.seen, 1)}
        if self.classification:
            row["train_accuracy"] = self.correct / max(self.seen, 1)
        return row

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None):
        """Train from the current epoch up to ``epochs``; returns the history (one dict per epoch).

        Each epoch sets the whole model to training mode (``model.train()``, as PyTorch's loops do); the
        validation pass puts every module's mode back, so the model is left in training mode: call
        ``model.eval()`` before predicting with ``model.forward`` (``predict`` and ``evaluate`` do it).
        """
        self.model.check_children()     # a layer added after set_optimizer, or an array two layers share
        keep_freed_memory()             # each step reuses the pages the last one freed (layerwise._heap)
        release_free_memory()           # but what was freed before training goes back to the system
        X, y = self._samples(X, y, "X", "y")
        if len(X) == 0:
            raise ValueError("Trainer.fit got no training samples (X has 0 rows).")
        if self.schedule is self._default_schedule:   # the constant rate reports the optimizers set now, also after __init__
            self.schedule.optimizers = list({id(o): o for o in self._optimizers()}.values())
            self.schedule.base_lrs = [o.lr for o in self.schedule.optimizers]
        bs, n = self.batch_size, len(X)
        refusal = single_sample_refusal(self.model, 1 if has_one_sample_batch(n, bs) else 0,
                                        f"batch_size {bs} makes batches of 1 sample" if bs == 1 else
                                        "X holds 1 sample" if n == 1 else
                                        f"{n} training samples in batches of {bs} leave a last batch of 1 sample "
                                        "every epoch (training.batch_size)")
        if refusal:
            raise ConfigError(refusal)
        if self.stop_training and self._stopped_by_fit and self.epoch < self.epochs:
            warnings.warn(f"Trainer.fit: training stopped early at epoch {self.epoch} (stop_training is True), so no "
                          "epoch runs. Set trainer.stop_training = False to train on.", stacklevel=2)
        if X_val is not None:
            X_val, y_val = self._samples(X_val, y_val, "X_val", "y_val")
            for name, values in (("X_val", X_val), ("y_val", y_val)):
                _check_finite(values, name)
        has_val = X_val is not None and len(X_val) > 0
        self.X_val = X_val if has_val else None
        check_monitor_has_data(getattr(self.schedule, "monitor", None), has_val, f"The {type(self.schedule).__name__}")
        try:
            self._emit("on_train_begin")
            while self.epoch < self.epochs and not self.stop_training:
                lr = self.schedule.set_epoch(self.epoch)
                self._emit("on_epoch_begin")
                started = time.perf_counter()
                with np.errstate(over="ignore", invalid="ignore"):  # the NaN guard reports divergence
                    row = {"epoch": self.epoch + 1, "lr": lr, **self._train_epoch(X, y)}
                seconds = time.perf_counter() - started
                self.train_seconds += seconds
                if has_val:
                    row.update({f"val_{k}": v for k, v in self.evaluate(X_val, y_val).items()})
                row["seconds"] = seconds
                row["samples_per_second"] = len(X) / seconds if seconds > 0 else float("inf")
                self.epoch += 1
                self.history.append(row)
                self.schedule.observe(row)
                for fn in self._handlers("on_epoch_end"):
                    fn(self, row)
                    _plain_values(row, fn)
            self._emit("on_train_end")
            self._stopped_by_fit = self.stop_training   # a later fit of this object says why it trains no epoch
        except BaseException as error:
            for fn in self._handlers("on_exception"):
                fn(self, error)
            raise
        return self.history

    def _emit(self, event, *args):
        for fn in self._handlers(event):
            fn(self, *args)

    # -- resume --------------------------------------------------------------------------------
    def state(self):
        """Everything but the weights that a bit-exact resume needs: ``(json_state, arrays)``."""
        from .checkpoint import generator_states
        meta = {"epoch": self.epoch, "step": self.step, "history": self.history,
                "stop_training": self.stop_training, "train_seconds": self.train_seconds,
                "rng": self.rng.bit_generator.state, "module_rngs": generator_states(self.model),
                "schedule": self.schedule.state_dict(),
                "callbacks": {key: cb.state_dict() for key, cb in self._stateful_callbacks()},
                "callback_keys": CALLBACK_KEYS}
        if hasattr(self.augment, "state_dict"):
            meta["augment"] = self.augment.state_dict()
        meta = copy.deepcopy(meta)      # a snapshot: the history this trainer goes on appending to is not in it
        arrays = {f"optim.{k}": v for k, v in self.model.optimizer_state_dict().items()}
        for key, cb in self._stateful_callbacks():
            arrays.update({f"{key}.{k}": v for k, v in cb.arrays().items()})
        return meta, arrays

    def _stateful_callbacks(self, legacy=False):
        """``[(key, callback)]`` of each callback with state: the trainer's own (``early_stopping=``) under its
        ``state_key``; the user's under ``key#1``, ``key#2``... counted among the user's callbacks of that key, so that
        each keeps its own state whether or not the trainer has one of its own (a resume may add or drop it).
        ``legacy``: the keys of checkpoints written before (the first callback of a key under the key itself, the
        next ones ``key#2``...; the first layerwise versions wrote one entry per key)."""
        seen, out = {}, []
        for cb in self.callbacks:
            if not cb.state_key:
                continue
            if cb is self.early_stopping and not legacy:
                out.append((cb.state_key, cb))
                continue
            n = seen[cb.state_key] = seen.get(cb.state_key, 0) + 1
            out.append((f"{cb.state_key}#{n}" if n > 1 or not legacy else cb.state_key, cb))
        return out

    def load_state(self, meta, arrays):
        """Restore what :meth:`state` returned (the weights are loaded separately). A state refused part way
        (a missing optimizer state, unfit best weights) leaves the trainer and the model's optimizer state as they
        were."""
        _check_state(meta)
        before = self._snapshot()
        try:
            self._set_state(meta, arrays)
        except BaseException:
            self._rollback(before)
            raise

    def _snapshot(self):
        """What :meth:`_set_state` changes, to put back when a state is refused part way. Of a callback whose state
        cannot be taken yet (made lazily, in ``on_train_begin``), its attributes as they are."""
        from .checkpoint import generator_states
        callbacks = []
        for _, cb in self._stateful_callbacks():
            try:
                callbacks.append((cb, copy.deepcopy(cb.state_dict()), dict(cb.arrays()), vars(cb).get("_last"), None))
            except Exception:       # noqa: BLE001 - no state yet (made lazily): its attributes as they are
                callbacks.append((cb, None, None, None, dict(vars(cb)) if hasattr(cb, "__dict__") else None))
        augment = self.augment
        restorable = hasattr(augment, "state_dict") and hasattr(augment, "load_state_dict")
        return {"plain": (self.epoch, self.step, self.history, self.stop_training, self.train_seconds),
                "rng": self.rng.bit_generator.state, "module_rngs": generator_states(self.model),
                "schedule": copy.deepcopy(self.schedule.state_dict()),
                "augment": copy.deepcopy(augment.state_dict()) if restorable else None,
                # each module's own dicts, put back as they are (not checked again: a state the optimizer would
                # refuse now, NaN after a divergence, must not hide the refusal being reported)
                "optim": [(m, m.optim_state) for _, m in self.model.named_modules()], "callbacks": callbacks}

    def _rollback(self, snap):
        from .checkpoint import set_generator_states
        self.epoch, self.step, self.history, self.stop_training, self.train_seconds = snap["plain"]
        self.rng.bit_generator.state = snap["rng"]
        set_generator_states(self.model, snap["module_rngs"])
        self.schedule.load_state_dict(snap["schedule"])
        if snap["augment"] is not None:
            self.augment.load_state_dict(snap["augment"])
        for m, state in snap["optim"]:
            m.optim_state = state
        for cb, state, arrays, last, attributes in snap["callbacks"]:
            if state is None:
                if attributes is not None:
                    vars(cb).clear()
                    vars(cb).update(attributes)
                continue
            cb.load_state_dict(state)
            cb.load_arrays(arrays)
            if last is not None:
                cb._last = last

    def _set_state(self, meta, arrays):
        from .checkpoint import set_generator_states
        keyed = self._stateful_callbacks(legacy=_legacy_keys(meta, self))
        meta = copy.deepcopy(meta)      # the caller's dict stays theirs: this trainer appends to its history
        self.epoch, self.step, self.history = meta["epoch"], meta["step"], meta["history"]
        self.stop_training, self.train_seconds = meta["stop_training"], meta["train_seconds"]
        self.rng.bit_generator.state = meta["rng"]
        set_generator_states(self.model, meta["module_rngs"])
        self.schedule.load_state_dict(meta["schedule"])
        if "augment" in meta and hasattr(self.augment, "load_state_dict"):
            self.augment.load_state_dict(meta["augment"])
        self.model.load_optimizer_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim.")})
        if meta["step"]:
            _check_stepped_state(self.model, meta["step"])
        for key, cb in keyed:
            if key in meta["callbacks"]:
                cb.load_state_dict(meta["callbacks"][key])
                prefix = key + "."
                cb.load_arrays({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
                problem = cb.arrays_problem(self.model) if hasattr(cb, "arrays_problem") else None
                if problem:
                    raise ValueError(problem)


#: how :meth:`Trainer.state` keys its callbacks' states (recorded in it): 2, the user's apart as ``key#1``...
CALLBACK_KEYS = 2


def _legacy_keys(meta, trainer):
    """Whether the callback states of ``meta`` are keyed as before the user's got ``key#1`` (written with no
    ``callback_keys``) and the trainer has a stateful callback of the user's."""
    users = [cb for cb in trainer.callbacks if cb.state_key and cb is not trainer.early_stopping]
    return bool(users) and "callback_keys" not in meta


def _trainable_grads(module, frozen=False):
    """The gradients of the parameters ``module.update()`` steps: none of a frozen module or its children."""
    frozen = frozen or module.frozen
    if not frozen:
        yield from (module.grads[k] for k in module.params)
    for child in module.children():
        yield from _trainable_grads(child, frozen)


_ROW_NUMBERS = ("lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds", "samples_per_second")


def _history_problem(rows):
    """What is wrong with ``rows`` as a history as fit writes it (what the summary and the plots read from it on
    resume), or None."""
    if not isinstance(rows, list):
        return f"is {type(rows).__name__}, expected a list of rows"
    last = 0
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or "epoch" not in r:
            return f"row {i} has no 'epoch'" if isinstance(r, dict) else f"row {i} is {reprlib.repr(r)}, not a mapping"
        epoch = r["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch <= last:
            return f"row {i} has epoch {reprlib.repr(epoch)}, expected an int after {last}"
        bad = next((k for k in _ROW_NUMBERS if isinstance(r.get(k), bool) or not isinstance(r.get(k, 0), (int, float))),
                   None)
        if bad is not None:
            return f"row {i} (epoch {epoch}) has {bad} {reprlib.repr(r[bad])}, expected a number"
        last = epoch
    return None


def _check_state(meta):
    """A ValueError naming the first entry of a trainer state (a checkpoint's metadata) of the wrong kind."""
    def count(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    kinds = {"epoch": (count, "an int >= 0"), "step": (count, "an int >= 0"),
             "history": (lambda v: isinstance(v, list), "a list of rows"),
             "stop_training": (lambda v: isinstance(v, bool), "a bool"),
             "train_seconds": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
             "rng": (lambda v: isinstance(v, dict), "a generator state"),
             "callbacks": (lambda v: isinstance(v, dict), "a mapping")}
    if not isinstance(meta, dict):
        raise ValueError(f"the trainer state is {type(meta).__name__}, expected a mapping")
    for key, (ok, what) in kinds.items():
        if key not in meta:
            raise ValueError(f"the trainer state has no {key!r}")
        if not ok(meta[key]):
            raise ValueError(f"the trainer state's {key!r} is {reprlib.repr(meta[key])}, expected {what}")
    problem = _history_problem(meta["history"])
    if problem:
        raise ValueError(f"the trainer state's history: {problem}")
    if len(meta["history"]) != meta["epoch"]:
        raise ValueError(f"the trainer state is at epoch {meta['epoch']} but its history holds "
                         f"{len(meta['history'])} epochs")


def _check_stepped_state(model, steps):
    """A ValueError naming a trained parameter with no optimizer state in a checkpoint taken after ``steps``
    steps: its optimizer (a built-in one that keeps state) would start it again from zero, and the resumed run
    would not be the one it continues. (A layer unfrozen or added by hand since has none: the Python API's
    ``load_optimizer_state_dict`` takes that; a run's model cannot change.)"""
    frozen = [prefix for prefix, m in model.named_modules() if m.frozen]
    for prefix, m in model.named_modules():
        keys_of = getattr(m.optimizer, "state_keys", None)
        if not m.params or keys_of is None or any(prefix.startswith(f) for f in frozen):
            continue
        if not is_builtin(type(m.optimizer)) or not keys_of():
            continue
        missing = [name for name in m.params if not m.optim_state.get(name)]
        if missing:
            raise ValueError(f"the optimizer state of parameter '{prefix}{missing[0]}' is missing, though the "
                             f"checkpoint was taken after {steps} steps")


def _looks_like_classes(y):
    """Integer (or bool, or string) labels, or rows of 0/1 with one 1 each: classes; anything else a regression."""
    if y.dtype.kind in "iubUSO":
        return True
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind == "f":
        return bool(np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())
    return False


def _check_loss_grad(loss, grad, out, step):
    """A LayerwiseError unless ``grad`` is an array of the outputs' shape: a loss's ``backward`` gives dL/d(outputs).
    (Not a TrainingError: the loss's code is to fix, then the run resumes, as after a module's error.)"""
    if not isinstance(grad, np.ndarray) or grad.shape != out.shape:
        got = f"an array of shape {grad.shape}" if isinstance(grad, np.ndarray) else type(grad).__name__
        error = LayerwiseError(f"step {step}: the loss {type(loss).__name__}'s backward() returned {got}; it must "
                               f"return dL/d(outputs), an array of the outputs' shape {out.shape}.")
        error.layerwise_user_module = True      # the run can be resumed once the loss is fixed
        raise error


def _check_finite(values, name):
    """A ValueError naming the first row of ``values`` that holds NaN or Inf. Validation data is checked once,
    before training: a NaN there would only show as a NaN ``val_loss`` at the end of each epoch."""
    row = first_nonfinite_row(values)
    if row is not None:
        raise ValueError(f"{name} holds NaN or Inf (row {row}); check the data.")


def _plain(value):
    """``value`` with NumPy scalars (and 0-d arrays) as Python ones, inside lists and dicts too; None when
    something in it is no JSON value (an array, an object)."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biufU":
        return np.asarray(value).item()
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return None if any(i is None and v is not None for i, v in zip(items, value)) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _plain(v) for k, v in value.items()}
        return None if any(items[k] is None and v is not None for k, v in value.items()) else items
    return None


def _plain_values(row, handler):
    """NumPy scalars that an ``on_epoch_end`` handler put into the epoch's row become Python numbers, which
    history, metrics.csv, summary.json and checkpoints (JSON) keep; a value JSON cannot hold (an array, an
    object) is refused there, naming the key and the callback: the checkpoint would fail later, naming neither."""
    for key, value in row.items():
        plain = _plain(value)
        if plain is None and value is not None:
            owner = getattr(handler, "__self__", handler)
            name = type(getattr(owner, "obj", owner)).__name__
            raise TypeError(f"{name}.on_epoch_end set the epoch row's {key!r} to {type(value).__name__} {value!r:.60}: "
                            "the row takes numbers, strings, bools, None, and lists or dicts of them (history and "
                            "checkpoints keep it as JSON). Convert it, e.g. float(value) or array.tolist().")
        row[key] = plain


def _codes(targets):
    """Class codes (N,) of a batch's targets: labels as they are, one-hot or probability rows (N, C)
    by their largest entry, a (N, 1) column as (N,)."""
    if targets.ndim == 2:
        return targets[:, 0] if targets.shape[1] == 1 else targets.argmax(axis=1)
    return targets


def _array(a):
    """``a`` as an ndarray (an ndarray, subclasses included, as it is); None stays None."""
    return a if a is None or isinstance(a, np.ndarray) else np.asarray(a)


def _clip_limit(value):
    """None, or the clipping norm as a float > 0 (a negative one would turn every step into ascent)."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"The 'grad_clip_norm' parameter of Trainer must be None or a number > 0. Got {value!r} "
                         "instead.")
    return float(value)


def _count(value, name, low=1):
    """An int >= ``low`` for a Trainer argument (a whole float such as 10.0 too), or a ValueError in
    scikit-learn's words."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The '{name}' parameter of Trainer must be an int >= {low}. Got {value!r} instead.")
    return int(value)

