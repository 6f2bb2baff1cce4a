"""Per-layer statistics during training, from the module hooks (Glorot and Bengio, 2010, figure 2).

For each layer (every module without children) and each recorded batch:

=============  =======================================================================================
column         meaning
=============  =======================================================================================
epoch          epochs of training done after this batch's update (fractional: step / steps per epoch)
step           the update number (1 = the first batch, seen at initialization)
layer, type    the module's path in the model (``"3"``, ``"2.1"``) and its class
act_mean       mean of the layer's output over the batch and its units
act_std        standard deviation of the same values
saturated      Sigmoid, Tanh: fraction of outputs within 10% of the output range of an asymptote
               (sigmoid ``y <= 0.1`` or ``y >= 0.9``, tanh ``|y| >= 0.8``)
dead           ReLU, LeakyReLU: fraction of units never active (``y > 0``) on the batch
grad_norm      L2 norm of the back-propagated gradient ``dL/dy`` at the layer's output
param_norm     L2 norm of the layer's parameters before the update
update_ratio   ``||theta_after - theta_before|| / ||theta_before||`` of this update
=============  =======================================================================================

Statistics are taken on whole batches, not every batch: the first one (the initialization), the
last full one of every epoch, and every ``every``-th update if asked. Hooks are attached only for a
recorded batch, so the other batches run exactly as without statistics.
"""

import contextlib
import csv
import io
import math

import numpy as np

from ..callbacks import Callback
from ..checkpoint import atomic_write
from ..modules import LeakyReLU, ReLU, Sigmoid, Tanh

COLUMNS = ["epoch", "step", "layer", "type", "act_mean", "act_std", "saturated", "dead", "grad_norm",
           "param_norm", "update_ratio"]
_FLOATS = ("epoch", "act_mean", "act_std", "saturated", "dead", "grad_norm", "param_norm", "update_ratio")
#: a unit is saturated within this share of its output range from an asymptote (the derivative is then
#: below 36% of its peak for the sigmoid, 36% for tanh)
SATURATION_MARGIN = 0.1


def saturated_sigmoid(y):
    """Fraction of sigmoid outputs within 0.1 of 0 or 1."""
    return np.count_nonzero(np.abs(y - 0.5) >= 0.5 - SATURATION_MARGIN) / max(y.size, 1)


def saturated_tanh(y):
    """Fraction of tanh outputs within 0.2 of -1 or 1."""
    return np.count_nonzero(np.abs(y) >= 1 - 2 * SATURATION_MARGIN) / max(y.size, 1)


def dead_units(y):
    """Fraction of units (positions of a sample's output) that are not ``> 0`` for any sample of the batch."""
    if y.ndim < 2 or len(y) == 0:
        return float("nan")
    return 1.0 - np.count_nonzero(np.any(y > 0, axis=0)) / y[0].size


#: class -> (column, fraction of y); subclasses are found through the MRO, users may add entries
UNIT_RULES = {Sigmoid: ("saturated", saturated_sigmoid), Tanh: ("saturated", saturated_tanh),
              ReLU: ("dead", dead_units), LeakyReLU: ("dead", dead_units)}


def unit_rule(module):
    """``(column, fn)`` for the module's class, or None."""
    return next((UNIT_RULES[c] for c in type(module).__mro__ if c in UNIT_RULES), None)


def _norm(arrays):
    return math.sqrt(sum(float(np.vdot(a, a)) for a in arrays))


class LayerStats(Callback):
    """Record per-layer statistics; a Trainer callback, or a context for the explicit loop.

    Parameters
    ----------
    every : int >= 1, optional
        Also record every ``every``-th update.
    csv_path, png_path : path, optional
        With the Trainer: ``layer_stats.csv`` is rewritten after every epoch (and on resume the rows
        after the checkpoint's step are dropped), ``layer_stats.png`` at the end of training.

    Examples
    --------
    The explicit loop::

        stats = LayerStats()
        for step, (xb, yb) in enumerate(batches, 1):
            with stats.record(model, step):
                loss.forward(model.forward(xb), yb)
                model.backward(loss.backward(), input_grad=False)
                model.update()
        stats.write_csv("layer_stats.csv"); stats.plot("layer_stats.png")
    """

    def __init__(self, every=None, *, csv_path=None, png_path=None):
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"The 'every' parameter of LayerStats must be an int >= 1. Got {every!r} instead.")
        self.every, self.csv_path, self.png_path = every, csv_path, png_path
        self.rows = []
        self._recording = None
        self._last_full = self._per_epoch = None
        self._snapshots = {}    # reused between recorded batches: no allocation per recording

    # -- recording one batch ----------------------------------------------------------------
    @staticmethod
    def layers(model):
        """``[(name, module)]`` of every module without children (``"3"``, ``"2.1"``)."""
        return [(name.rstrip("."), m) for name, m in model.named_modules() if name and not m.children()]

    def start(self, model, step, epoch=None):
        """Attach hooks and remember the parameters; the next forward/backward/update is recorded."""
        self.stop()
        found = {}
        handles = []
        for name, m in self.layers(model):
            row = found[name] = {"step": step, "epoch": epoch, "layer": name, "type": type(m).__name__}
            if m.params:
                row["_before"] = [self._snapshot((name, k), p) for k, p in m.params.items()]
            handles.append(m.register_forward_hook(self._forward_hook(row, unit_rule(m))))
            handles.append(m.register_backward_hook(self._backward_hook(row)))
        self._recording = (model, found, handles)

    def stop(self):
        """Detach the hooks, finish the rows (update ratios) and append them to :attr:`rows`."""
        if self._recording is None:
            return
        model, found, handles = self._recording
        self._recording = None
        for h in handles:
            h.remove()
        modules = dict(self.layers(model))
        for name, row in found.items():
            before = row.pop("_before", None)
            if before is not None:
                size = _norm(before)
                for b, a in zip(before, modules[name].params.values()):
                    np.subtract(a, b, out=b)     # the snapshot becomes the update, in place
                row["param_norm"] = size
                row["update_ratio"] = _norm(before) / size if size else float("nan")
            if "act_mean" in row or "grad_norm" in row:
                self.rows.append(row)

    def _snapshot(self, key, p):
        buf = self._snapshots.get(key)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype:
            buf = self._snapshots[key] = np.empty_like(p)
        np.copyto(buf, p)
        return buf

    @contextlib.contextmanager
    def record(self, model, step, epoch=None):
        """Record the forward, backward and update run inside the ``with`` block."""
        self.start(model, step, epoch)
        try:
            yield self
        finally:
            self.stop()

    @staticmethod
    def _forward_hook(row, rule):
        def hook(module, x, y):
            mean = float(y.mean(dtype=np.float64))
            centered = y - np.asarray(mean, y.dtype)    # two passes: exact even when std << mean
            row["act_mean"] = mean
            row["act_std"] = math.sqrt(float(np.vdot(centered, centered)) / max(y.size, 1))
            if rule is not None:
                row[rule[0]] = float(rule[1](y))
        return hook

    @staticmethod
    def _backward_hook(row):
        def hook(module, grad_y, grad_x):
            row["grad_norm"] = _norm([grad_y])
        return hook

    # -- the Trainer's events ---------------------------------------------------------------
    def _wanted(self, step, batch):
        last = batch == self._last_full
        return step == 1 or last or (self.every is not None and step % self.every == 0)

    def on_train_begin(self, trainer):
        if self.csv_path is not None and trainer.step > 0:
            self.rows = [r for r in read_csv(self.csv_path) if r["step"] <= trainer.step]

    def _count_batches(self, trainer):
        """Batches per epoch and the index of the last full one (a last, small batch gives noisy statistics)."""
        n, bs = trainer.n_train, trainer.batch_size
        self._per_epoch = -(-n // bs)
        self._last_full = max(n // bs, 1) - 1

    def on_epoch_begin(self, trainer):
        if trainer.n_train:
            self._count_batches(trainer)
        if self._wanted(trainer.step + 1, 0):
            self.start(trainer.model, trainer.step + 1)

    def on_batch_end(self, trainer, step, loss):
        self._count_batches(trainer)
        if self._recording is not None:
            for row in self._recording[1].values():
                row["epoch"] = trainer.epoch + (trainer.batch + 1) / self._per_epoch
            self.stop()
        nxt = trainer.batch + 1
        if nxt < self._per_epoch and self._wanted(step + 1, nxt):
            self.start(trainer.model, step + 1)

    def on_epoch_end(self, trainer, row):
        if self.csv_path is not None:
            self.write_csv(self.csv_path)

    def on_train_end(self, trainer):
        self.stop()
        if self.csv_path is not None:
            self.write_csv(self.csv_path)
        if self.png_path is not None and self.rows:
            self.plot(self.png_path)

    def on_exception(self, trainer, error):
        if self._recording is not None:      # detach; the half-recorded batch is not kept
            for h in self._recording[2]:
                h.remove()
            self._recording = None

    # -- output -----------------------------------------------------------------------------
    def write_csv(self, path):
        """Write :attr:`rows` with :data:`COLUMNS` (empty cells where a statistic does not apply)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        return atomic_write(path, buf.getvalue())

    def plot(self, path, *, title=None):
        """Draw :attr:`rows` as :func:`plot_layer_stats` does."""
        from .stats_plot import plot_layer_stats
        return plot_layer_stats(self.rows, path, title=title)


def read_csv(path):
    """The rows of a ``layer_stats.csv``, numbers parsed (missing statistics are absent keys)."""
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {"step": int(raw["step"]), "layer": raw["layer"], "type": raw["type"]}
            row.update({k: float(raw[k]) for k in _FLOATS if raw.get(k) not in (None, "")})
            rows.append(row)
    return rows


def config_callbacks(config, run_dir):
    """The callbacks a config's ``analysis`` section asks for, writing into ``run_dir``."""
    section = getattr(config, "analysis", None)
    if section is None or not section.layer_stats:
        return []
    return [LayerStats(section.every, csv_path=run_dir / "layer_stats.csv", png_path=run_dir / "layer_stats.png")]
