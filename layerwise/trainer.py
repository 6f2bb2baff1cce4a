"""The fit loop over arrays: seeded shuffling, schedules, early stopping, clipping, NaN guard, progress.

:class:`Trainer` knows modules only through the Module contract. The config-driven driver
(:mod:`layerwise.run`) and the scikit-learn estimator both stand on it.
"""

import math
import sys
import time

import numpy as np

from .errors import TrainingError
from .losses import get_loss
from .schedules import Schedule


class Trainer:
    """Train a model with the explicit loop: forward, loss, backward, update.

    Parameters
    ----------
    model : Module
        With its optimizer(s) already set (``model.set_optimizer``).
    loss : str or Loss, default "cross_entropy"
    epochs, batch_size : int
    eval_batch_size : int
        Batch size for validation and test passes (no effect on results).
    schedule : Schedule, optional
    early_stopping : dict, optional
        ``{"patience": 5, "monitor": "val_loss" | "val_accuracy", "min_delta": 0.0}``; the best
        weights are restored when training ends.
    grad_clip_norm : float, optional
        Clip the global L2 norm of all gradients before each update.
    seed : int
        Seeds the shuffling Generator.
    classification : bool
        Compute accuracies (labels are class codes 0..C-1).
    progress : "auto", "bar", "lines" or "off"
        A progress bar on a terminal, one line per epoch otherwise.
    callbacks : list of callables ``f(trainer, event)``
        Events: "train_begin", "epoch_end", "train_end".
    """

    def __init__(self, model, loss="cross_entropy", *, epochs=20, batch_size=64, eval_batch_size=1024,
                 schedule=None, early_stopping=None, grad_clip_norm=None, seed=0, shuffle=True,
                 classification=True, progress="auto", callbacks=(), stream=None):
        self.model = model
        self.loss = get_loss(loss)
        self.epochs, self.batch_size, self.eval_batch_size = int(epochs), int(batch_size), int(eval_batch_size)
        self.schedule = schedule or Schedule(self._optimizers(), epochs=epochs)
        self.early_stopping = dict(early_stopping) if early_stopping else None
        self.grad_clip_norm = grad_clip_norm
        self.shuffle = shuffle
        self.classification = classification
        self.progress = progress
        self.callbacks = list(callbacks)
        self.stream = stream            # None: sys.stdout at the time of printing
        self.rng = np.random.default_rng(seed)
        self.epoch = 0                  # epochs completed
        self.step = 0                   # updates done
        self.history = []
        self.best = None                # early stopping: best monitored value, its epoch, patience used
        self.best_epoch = 0
        self.wait = 0
        self.best_state = None
        self.stopped_early = False
        self.train_seconds = 0.0

    def _optimizers(self):
        return [m.optimizer for _, m in self.model.named_modules() if m.params and m.optimizer is not None]

    # -- passes --------------------------------------------------------------------------------
    def predict(self, X):
        """Model outputs for ``X`` in eval mode, in batches of ``eval_batch_size``."""
        self.model.eval()
        outs = [self.model.forward(X[i:i + self.eval_batch_size]) for i in range(0, len(X), self.eval_batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,))

    def evaluate(self, X, y):
        """``{"loss": mean loss, "accuracy": fraction correct}`` on ``(X, y)`` in eval mode."""
        self.model.eval()
        total, correct, n = 0.0, 0, len(X)
        for i in range(0, n, self.eval_batch_size):
            out = self.model.forward(X[i:i + self.eval_batch_size])
            yb = y[i:i + self.eval_batch_size]
            total += self.loss.forward(out, self.loss.targets(yb, out.shape[-1])) * len(yb)
            if self.classification:
                correct += int(np.count_nonzero(self.loss.labels(out) == yb))
        result = {"loss": total / max(n, 1)}
        if self.classification:
            result["accuracy"] = correct / max(n, 1)
        return result

    def _clip(self):
        grads = [m.grads[k] for _, m, k in self.model.named_parameters()]
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
        if norm > self.grad_clip_norm:
            scale = self.grad_clip_norm / (norm + 1e-6)
            for g in grads:
                g *= scale
        return norm

    def _diagnose(self, xb, loss_value, batch):
        where = f"epoch {self.epoch + 1}, batch {batch + 1} (step {self.step + 1})"
        for name, m, k in self.model.named_parameters():
            if not np.all(np.isfinite(m.params[k])):
                module = name.rpartition(".")[0] or "0"
                return TrainingError(f"Training stopped at {where}: parameter '{name}' of module {module} "
                                     f"({type(m).__name__}) holds NaN or Inf. Try a smaller optimizer.lr or "
                                     "training.grad_clip_norm.")
        if not np.all(np.isfinite(xb)):
            return TrainingError(f"Training stopped at {where}: the input batch holds NaN or Inf; check the data.")
        x = xb
        modules = list(self.model) if hasattr(self.model, "__iter__") else [self.model]
        with np.errstate(all="ignore"):
            for i, m in enumerate(modules):
                x = m.forward(x)
                if not np.all(np.isfinite(x)):
                    return TrainingError(
                        f"Training stopped at {where}: the output of module {i} ({type(m).__name__}) "
                        "is NaN or Inf. Try a smaller optimizer.lr or training.grad_clip_norm.")
        return TrainingError(f"Training stopped at {where}: the loss is {loss_value}. "
                             "Try a smaller optimizer.lr or training.grad_clip_norm.")

    def _train_epoch(self, X, y, bar):
        model, loss, bs = self.model, self.loss, self.batch_size
        n = len(X)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        buf = np.empty((min(bs, n), *X.shape[1:]), dtype=X.dtype)
        total, correct, seen = 0.0, 0, 0
        model.train()
        for b, start in enumerate(range(0, n, bs)):
            idx = order[start:start + bs]
            xb = np.take(X, idx, axis=0, out=buf) if len(idx) == len(buf) else X[idx]
            yb = y[idx]
            out = model.forward(xb)
            value = loss.forward(out, loss.targets(yb, out.shape[-1]))
            if not math.isfinite(value):
                raise self._diagnose(xb, value, b)
            model.backward(loss.backward())
            if self.grad_clip_norm:
                self._clip()
            model.update()
            self.step += 1
            total += value * len(idx)
            seen += len(idx)
            if self.classification:
                correct += int(np.count_nonzero(loss.labels(out) == yb))
            if bar is not None and (b % 10 == 0 or seen == n):
                bar.update(seen - bar.n)
                bar.set_postfix_str(f"loss {total / seen:.4f}" + (f" acc {correct / seen:.4f}"
                                                                   if self.classification else ""), refresh=False)
        row = {"train_loss": total / max(seen, 1)}
        if self.classification:
            row["train_accuracy"] = correct / max(seen, 1)
        return row

    # -- early stopping ----------------------------------------------------------------------
    def _improved(self, row):
        monitor = self.early_stopping.get("monitor", "val_loss")
        value = row[monitor]
        delta = self.early_stopping.get("min_delta", 0.0)
        sign = 1 if monitor.endswith("loss") else -1
        if self.best is None or sign * (self.best - value) > delta:
            self.best, self.best_epoch, self.wait = value, self.epoch, 0
            self.best_state = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.early_stopping.get("patience", 5):
            self.stopped_early = True

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None):
        """Train from the current epoch up to ``epochs``; returns the history (one dict per epoch)."""
        has_val = X_val is not None and len(X_val) > 0
        if self.early_stopping and not has_val:
            raise ValueError("Early stopping monitors the validation set: pass X_val and y_val.")
        self._emit("train_begin")
        bar = None
        while self.epoch < self.epochs and not self.stopped_early:
            lr = self.schedule.set_epoch(self.epoch)
            started = time.perf_counter()
            bar = self._bar(len(X))
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # the NaN guard reports divergence
                    row = {"epoch": self.epoch + 1, "lr": lr, **self._train_epoch(X, y, bar)}
            finally:
                if bar is not None:
                    bar.close()
            seconds = time.perf_counter() - started
            self.train_seconds += seconds
            if has_val:
                row.update({f"val_{k}": v for k, v in self.evaluate(X_val, y_val).items()})
            row["seconds"] = seconds
            row["samples_per_second"] = len(X) / seconds if seconds > 0 else float("inf")
            self.epoch += 1
            self.history.append(row)
            self.schedule.observe(row)
            if self.early_stopping:
                self._improved(row)
            self._log(row)
            self._emit("epoch_end")
        if self.early_stopping and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self._emit("train_end")
        return self.history

    def _bar(self, total):
        stream = sys.stderr
        use_bar = self.progress == "bar" or (self.progress == "auto" and stream.isatty())
        if not use_bar:
            return None
        from tqdm import tqdm
        return tqdm(total=total, desc=f"epoch {self.epoch + 1}/{self.epochs}", unit="samples",
                    unit_scale=True, leave=False, file=stream, dynamic_ncols=True)

    def _log(self, row):
        if self.progress == "off":
            return
        parts = [f"epoch {row['epoch']:>3}/{self.epochs}", f"loss {row['train_loss']:.4f}"]
        if "train_accuracy" in row:
            parts.append(f"acc {row['train_accuracy']:.4f}")
        if "val_loss" in row:
            parts.append(f"val_loss {row['val_loss']:.4f}")
        if "val_accuracy" in row:
            parts.append(f"val_acc {row['val_accuracy']:.4f}")
        parts += [f"lr {row['lr']:.3g}", f"{row['samples_per_second']:,.0f} samples/s"]
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)

    def _emit(self, event):
        for cb in self.callbacks:
            cb(self, event)

    # -- resume --------------------------------------------------------------------------------
    def state(self):
        """Everything but the weights that a bit-exact resume needs: ``(json_state, arrays)``."""
        from .checkpoint import generator_states
        meta = {"epoch": self.epoch, "step": self.step, "history": self.history, "best": self.best,
                "best_epoch": self.best_epoch, "wait": self.wait, "stopped_early": self.stopped_early,
                "train_seconds": self.train_seconds, "rng": self.rng.bit_generator.state,
                "module_rngs": generator_states(self.model), "schedule": self.schedule.state_dict()}
        arrays = {f"optim.{k}": v for k, v in self.model.optimizer_state_dict().items()}
        if self.best_state is not None:
            arrays.update({f"best.{k}": v for k, v in self.best_state.items()})
        return meta, arrays

    def load_state(self, meta, arrays):
        """Restore what :meth:`state` returned (the weights are loaded separately)."""
        from .checkpoint import set_generator_states
        self.epoch, self.step, self.history = meta["epoch"], meta["step"], meta["history"]
        self.best, self.best_epoch, self.wait = meta["best"], meta["best_epoch"], meta["wait"]
        self.stopped_early, self.train_seconds = meta["stopped_early"], meta["train_seconds"]
        self.rng.bit_generator.state = meta["rng"]
        set_generator_states(self.model, meta["module_rngs"])
        self.schedule.load_state_dict(meta["schedule"])
        self.model.load_optimizer_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim.")})
        best = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")}
        self.best_state = best or None
