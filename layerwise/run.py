"""Config-driven experiments: data + model + Trainer -> a run directory. The CLI is a shell over this.

``fit(config)`` trains and writes ``runs/<name>-<timestamp>/``; ``resume(run_dir)`` continues a run
bit-exactly from its last checkpoint; ``evaluate(run_dir)`` reloads the model and recomputes the
test metrics.
"""

import csv
import io
import itertools
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .build import build_model
from .callbacks import Callback, as_callback
from .checkpoint import atomic_write, load_arrays, load_model_state, save_arrays, save_model
from .config import load_config
from .errors import ConfigError, DataError, TrainingError
from .plugins import load_plugins
from .optim import get_optimizer
from .schedules import make_schedule
from .trainer import Trainer

METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds",
                  "samples_per_second"]
# keys that --set may change when resuming: the rest would make a different experiment
RESUMABLE_KEYS = ("training.epochs", "training.eval_batch_size", "training.early_stopping", "data.path",
                  "data.download", "data.mirrors")


@dataclass
class Experiment:
    """A config made concrete: the data, the model with its optimizers, and the trainer."""

    config: object
    data: object
    model: object
    trainer: Trainer
    run_dir: Path = None
    summary: dict = field(default_factory=dict)

    @property
    def history(self):
        return self.trainer.history


# -- pieces ---------------------------------------------------------------------------------------
def load_data(config):
    """The dataset the config names, split and normalized, in ``training.dtype``."""
    from .data import load_dataset
    d = config.data
    path = str(config.resolve_path(d.path)) if d.path else None
    try:
        return load_dataset(d.dataset, path=path, download=d.download, val_fraction=d.val_fraction,
                            test_fraction=d.test_fraction, normalize=d.normalize, seed=config.seed,
                            label_column=d.label_column, dtype=np.dtype(config.training.dtype),
                            mirrors=d.mirrors)
    except DataError as e:
        raise DataError(f"{config.source}: data: {e}") from None


def _check_outputs(config, out_shape, n_classes):
    loss, want = config.loss, (n_classes,)
    if loss in ("bce", "bce_with_logits") and n_classes == 2:
        want = (1,)
    if tuple(out_shape) != want:
        k = len(config.model.layers) - 1
        raise ConfigError(f"{config.source}: model.layers[{k}]: the model outputs shape {tuple(out_shape)} per "
                          f"sample, but {loss} on {n_classes} classes needs {want}; set units: {want[0]} on "
                          "the last linear layer.")


def build(config, data):
    """The model (optimizers set) and its Trainer for ``config`` and the loaded ``data``."""
    load_plugins(config)
    model_rng, shuffle_seed = np.random.SeedSequence(config.seed).spawn(2)
    try:
        hyper = config.optimizer.model_dump()
        default = get_optimizer(hyper.pop("type"), **hyper)
        model, out_shape = build_model(config.model.layers, data.input_shape, rng=np.random.default_rng(model_rng),
                                       dtype=np.dtype(config.training.dtype), optimizer=default,
                                       batch_size=config.training.batch_size)
        _check_outputs(config, out_shape, data.n_classes)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(config.source) else f"{config.source}: {msg}") from None
    schedule_spec = config.schedule.model_dump()
    optimizers = [m.optimizer for _, m in model.named_modules() if m.params and m.optimizer is not None]
    t = config.training
    trainer = Trainer(model, config.loss, epochs=t.epochs, batch_size=t.batch_size,
                      eval_batch_size=t.eval_batch_size,
                      schedule=make_schedule(schedule_spec, optimizers, epochs=t.epochs),
                      early_stopping=t.early_stopping.model_dump() if t.early_stopping else None,
                      grad_clip_norm=t.grad_clip_norm, seed=int(shuffle_seed.generate_state(1)[0]),
                      shuffle=t.shuffle)
    return model, trainer


def prepare(config, overrides=()):
    """Load (if given a path) and realize a config: ``Experiment`` with data, model and trainer."""
    if not hasattr(config, "model_dump"):
        config = load_config(config, overrides)
    data = load_data(config)
    model, trainer = build(config, data)
    return Experiment(config, data, model, trainer)


def _resolved(config):
    """The config with every default filled in and file paths made absolute."""
    d = config.to_dict()
    if d["data"]["path"]:
        d["data"]["path"] = str(config.resolve_path(d["data"]["path"]).resolve())
    d["plugins"] = [str(config.resolve_path(p).resolve()) if p.endswith(".py") else p for p in d["plugins"]]
    return d


def versions():
    import sklearn
    return {"layerwise": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scikit-learn": sklearn.__version__}


# -- the run directory -------------------------------------------------------------------------
def _write_metrics(run_dir, history):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write(run_dir / "metrics.csv", buf.getvalue())


class Checkpoint(Callback):
    """Write ``checkpoint.safetensors`` and ``metrics.csv`` atomically at the start and after each epoch."""

    def __init__(self, exp):
        self.exp = exp

    def on_train_begin(self, trainer):
        if trainer.epoch == 0:
            self._save(trainer)

    def on_epoch_end(self, trainer, row):
        self._save(trainer)

    def _save(self, trainer):
        meta, arrays = trainer.state()
        arrays.update({f"model.{k}": v for k, v in self.exp.model.state_dict().items()})
        save_arrays(self.exp.run_dir / "checkpoint.safetensors", arrays, {"trainer": meta})
        _write_metrics(self.exp.run_dir, trainer.history)


def _finish(exp):
    """Test metrics, the final model, summary.json and the plots."""
    from sklearn.metrics import confusion_matrix
    from .analysis.plots import plot_confusion_matrix, plot_learning_curves
    config, data, trainer, run_dir = exp.config, exp.data, exp.trainer, exp.run_dir
    test = trainer.evaluate(data.X_test, data.y_test)
    classes = [c.item() if hasattr(c, "item") else c for c in data.classes]
    save_model(run_dir / "model.safetensors", exp.model,
               {"config": _resolved(config), "classes": classes, "input_shape": list(data.input_shape),
                "layerwise_version": __version__})
    val_acc = [r["val_accuracy"] for r in trainer.history if "val_accuracy" in r]
    summary = {"name": config.name, "test_accuracy": test.get("accuracy"), "test_loss": test["loss"],
               "best_val_accuracy": max(val_acc) if val_acc else None, "epochs_run": trainer.epoch,
               "stopped_early": trainer.stopped_early, "best_epoch": trainer.best_epoch or trainer.epoch,
               "train_seconds": trainer.train_seconds, "n_params": exp.model.n_params(), "seed": config.seed,
               "n_train": len(data.X_train), "n_val": len(data.X_val), "n_test": len(data.X_test),
               "versions": versions()}
    atomic_write(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    plot_learning_curves(trainer.history, run_dir / "learning_curves.png", title=config.name)
    predicted = trainer.loss.labels(trainer.predict(data.X_test))
    cm = confusion_matrix(data.y_test, predicted, labels=np.arange(data.n_classes))
    plot_confusion_matrix(cm, classes, run_dir / "confusion_matrix.png",
                          title=f"{config.name}: test accuracy {test.get('accuracy', 0):.4f}")
    exp.summary = summary
    return summary


def make_run_dir(base):
    """Create a new, empty run directory at ``base`` or, if taken, ``base-2``, ``base-3``, ...

    ``mkdir`` without ``exist_ok`` is atomic, so processes started in the same second (a sweep)
    each get their own directory. Returns the Path created.
    """
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in itertools.count(1):
        path = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _default_run_dir(config):
    return make_run_dir(Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")


def fit(config, *, out=None, overrides=(), progress="auto", stream=None, callbacks=()):
    """Train the experiment a config describes and write its run directory.

    Parameters
    ----------
    config : str, Path, dict or Config
        A YAML file, a dict with the same keys, or a loaded :class:`~layerwise.config.Config`.
    out : str or Path, optional
        The run directory; default ``runs/<name>-<timestamp>/``.
    overrides : sequence of "KEY=VALUE"
    progress : "auto", "bar", "lines" or "off"
    callbacks : list of Callback
        Run after the built-in ones and the checkpoint, e.g. per-layer statistics or a pruner.

    Returns
    -------
    Experiment
        With ``run_dir``, ``summary`` (as in ``summary.json``), ``history``, ``model`` and ``data``.
    """
    exp = prepare(config, overrides)
    if out:
        exp.run_dir = Path(out)
        exp.run_dir.mkdir(parents=True, exist_ok=True)
    else:
        exp.run_dir = _default_run_dir(exp.config)
    atomic_write(exp.run_dir / "config.yaml", _yaml(_resolved(exp.config)))
    return _train(exp, progress, stream, callbacks)


def _yaml(data):
    import yaml
    return yaml.safe_dump(data, sort_keys=False)


def _train(exp, progress, stream, callbacks=()):
    exp.trainer.progress, exp.trainer.stream = progress, stream
    exp.trainer.callbacks += [Checkpoint(exp), *map(as_callback, callbacks)]
    d = exp.data
    try:
        exp.trainer.fit(d.X_train, d.y_train, d.X_val, d.y_val)
        _finish(exp)   # an interrupt while the plots are written is resumed too: resume writes them
    except KeyboardInterrupt as e:
        e.run_dir, e.epoch = exp.run_dir, exp.trainer.epoch
        raise
    except TrainingError as e:
        raise TrainingError(f"{e} The last good checkpoint (epoch {exp.trainer.epoch}) is in {exp.run_dir}.") from None
    return exp


def _run_config(run_dir, overrides, *, resuming):
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml in it).")
    if resuming:
        for assignment in overrides:
            key = assignment.partition("=")[0]
            if not any(key == k or key.startswith(k + ".") for k in RESUMABLE_KEYS):
                raise ConfigError(f"--set {assignment}: a resumed run can only change "
                                  f"{', '.join(RESUMABLE_KEYS)}; start a new run to change {key}.")
    return load_config(run_dir / "config.yaml", overrides, source=f"{run_dir / 'config.yaml'}")


def resume(run_dir, *, overrides=(), progress="auto", stream=None, callbacks=()):
    """Continue a run from its last checkpoint (bit-exact: as if it had never stopped)."""
    run_dir = Path(run_dir)
    config = _run_config(run_dir, overrides, resuming=True)
    ckpt = run_dir / "checkpoint.safetensors"
    if not ckpt.is_file():
        raise DataError(f"{run_dir}: no checkpoint.safetensors to resume from.")
    exp = prepare(config)
    exp.run_dir = run_dir
    arrays, meta = load_arrays(ckpt)
    try:
        exp.model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
        exp.trainer.load_state(meta["trainer"], arrays)
    except (KeyError, ValueError) as e:
        raise DataError(f"{ckpt}: the checkpoint does not fit the model of {run_dir / 'config.yaml'}: {e}") from None
    atomic_write(run_dir / "config.yaml", _yaml(_resolved(config)))
    return _train(exp, progress, stream, callbacks)


def evaluate(run_dir, *, overrides=()):
    """Reload a finished run's model and recompute its test metrics (``--set data.path=...`` allowed)."""
    run_dir = Path(run_dir)
    config = _run_config(run_dir, overrides, resuming=False)
    weights = run_dir / "model.safetensors"
    if not weights.is_file():
        raise DataError(f"{run_dir}: no model.safetensors: the run has not finished; resume it with "
                        f"'layerwise train --resume {run_dir}'.")
    exp = prepare(config)
    load_model_state(exp.model, weights)
    test = exp.trainer.evaluate(exp.data.X_test, exp.data.y_test)
    return {"test_accuracy": test.get("accuracy"), "test_loss": test["loss"], "n_test": len(exp.data.X_test)}
