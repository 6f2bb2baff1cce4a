"""Config-driven experiments: data + model + Trainer -> a run directory. The CLI is a shell over this.

``fit(config)`` trains and writes ``runs/<name>-<timestamp>/``; ``resume(run_dir)`` continues a run
bit-exactly from its last checkpoint; ``evaluate(run_dir)`` reloads the model and recomputes the
test metrics.
"""

import csv
import io
import json
import platform
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .build import build_model
from .callbacks import Callback, as_callback
from .checkpoint import (atomic_write, check_finite, load_arrays, load_model_file, load_model_state, load_weights,
                         save_arrays, save_model)
from .config import DataConfig, from_set, load_config
from .errors import ConfigError, DataError, TrainingError
from .plugins import load_plugins, raised_in_plugin
from .rundir import check_out_dir, check_run_files, make_run_dir, new_run_id, open_out_dir, resume_note
from .optim import get_optimizer
from .losses import get_loss
from .schedules import make_schedule
from .task import check_head, test_metrics
from .modules.normalization import has_one_sample_batch, single_sample_refusal
from .trainer import Trainer

METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds",
                  "samples_per_second"]
# keys that --set may change when resuming: the rest would make a different experiment
RESUMABLE_KEYS = ("training.epochs", "training.eval_batch_size", "training.early_stopping", "data.path",
                  "data.download", "data.mirrors", "plugins")
#: what ``evaluate --set`` may change: where the data and the plugin files are and how the data is batched,
#: not which samples are tested
EVALUATE_KEYS = ("training.eval_batch_size", "data.path", "data.download", "data.mirrors", "plugins")


@dataclass
class Experiment:
    """A config made concrete: the data, the model with its optimizers, and the trainer."""

    config: object
    data: object
    model: object
    trainer: Trainer
    run_dir: Path = None
    summary: dict = field(default_factory=dict)
    note: str = None    # set when resume found nothing to do

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
        # None: the default; a run read back uses its own (its config.yaml writes every value), unchecked
        test_fraction = None if d.test_fraction == DataConfig().test_fraction else d.test_fraction
        return load_dataset(d.dataset, path=path, download=d.download, val_fraction=d.val_fraction,
                            test_fraction=test_fraction, normalize=d.normalize, seed=config.seed,
                            label_column=d.label_column, dtype=np.dtype(config.training.dtype),
                            mirrors=d.mirrors, task=d.task, delimiter=d.delimiter,
                            strict_test_fraction=not config.from_run)
    except DataError as e:
        raise type(e)(f"{config.source}: data: {e}") from None      # the same kind (MissingDataError too)


def _largest_batch(config, data):
    """``(size, label)`` of the largest batch the run will hold, for the memory check: the training batch, or
    the evaluation's (``training.eval_batch_size``, over the validation and test splits) when larger; no batch
    is larger than its split."""
    def capped(bs, *parts):
        sizes = [len(p) for p in parts if p is not None]
        return min(bs, max(sizes)) if sizes else bs
    t = config.training
    train = capped(t.batch_size, getattr(data, "X_train", None))
    evaluate = capped(t.eval_batch_size, getattr(data, "X_val", None), getattr(data, "X_test", None))
    return (train, None) if train >= evaluate else (evaluate, "an evaluation batch, training.eval_batch_size")


def check_something_trains(config, model):
    """A ConfigError for a new run whose every layer with parameters is frozen: it would change nothing."""
    trained = [m for m in model if next(m.named_parameters(), None) is not None]
    if trained and all(m.frozen for m in trained) and not config.from_run:
        raise ConfigError(f"{config.source}: model.layers: every layer with parameters is frozen, so training would "
                          "change nothing; set frozen: false on the layers to train.")


def check_batches(config, model, data):
    """A ConfigError when a training batch would hold one sample and the model has a BatchNorm, which cannot
    normalize one in training (as in PyTorch): ``batch_size: 1``, or a last batch of 1 (``n_train % batch_size``)."""
    n_train, bs = len(getattr(data, "X_train", ())), config.training.batch_size    # 0: no data here yet
    what = (f"training.batch_size {bs} makes batches of 1 sample" if bs == 1 else
            "the training split holds 1 sample" if n_train == 1 else
            f"training.batch_size {bs} leaves a last batch of 1 sample every epoch ({n_train} training samples "
            f"= {bs} x {n_train // bs} + 1)")
    refusal = single_sample_refusal(model, 1 if has_one_sample_batch(n_train, bs) else 0, what)
    if refusal:
        raise ConfigError(f"{config.source}: {refusal}")


def build(config, data, *, training=True, batch=None):
    """The model (optimizers set) and its Trainer for ``config`` and the loaded ``data`` (``training``: it will
    train, so its batches are checked; evaluate and time build without). ``batch``: ``(size, label)`` of the batch
    the memory check counts, when not the config's (``layerwise time``'s)."""
    load_plugins(config)
    model_rng, shuffle_seed, augment_rng = np.random.SeedSequence(config.seed).spawn(3)
    try:
        augment = make_augment(config, data, np.random.default_rng(augment_rng))
        hyper = config.optimizer.model_dump()
        default = get_optimizer(hyper.pop("type"), **hyper)
        model, out_shape = build_model(config.model.layers, data.input_shape, rng=np.random.default_rng(model_rng),
                                       dtype=np.dtype(config.training.dtype), optimizer=default,
                                       batch_size=batch or _largest_batch(config, data))
        loss = get_loss(config.loss)
        check_head(config, model, out_shape, loss, data)
        if training:
            check_batches(config, model, data)      # before the run directory is written (train, validate)
            check_something_trains(config, model)
    except ConfigError as e:
        msg = str(e)
        msg = msg if msg.startswith(config.source) else f"{config.source}: {msg}"
        raise ConfigError(from_set(msg, config.source, config.given)) from None
    schedule_spec = config.schedule.model_dump()
    optimizers = [m.optimizer for _, m in model.named_modules() if m.params and m.optimizer is not None]
    t = config.training
    trainer = Trainer(model, loss, epochs=t.epochs, batch_size=t.batch_size,
                      eval_batch_size=t.eval_batch_size,
                      schedule=make_schedule(schedule_spec, optimizers, epochs=t.epochs),
                      early_stopping=t.early_stopping.model_dump() if t.early_stopping else None,
                      grad_clip_norm=t.grad_clip_norm, seed=int(shuffle_seed.generate_state(1)[0]),
                      shuffle=t.shuffle, classification=getattr(data, "task", "classification") == "classification",
                      augment=augment)
    return model, trainer


def make_augment(config, data, rng):
    """The :class:`~layerwise.data.augment.Augment` that ``data.augment`` asks for, or None."""
    spec = config.data.augment
    if spec is None or not (spec.shift or spec.rotate):
        return None
    if len(data.input_shape) != 3:
        raise ConfigError(f"data.augment moves and turns images (C, H, W), but {config.data.dataset} samples "
                          f"have shape {tuple(data.input_shape)}; remove data.augment.")
    side = min(data.input_shape[1:])
    if spec.shift >= side:
        raise ConfigError(f"data.augment.shift is {spec.shift}, but {config.data.dataset} images are "
                          f"{data.input_shape[1]}x{data.input_shape[2]}: a shift of {side} or more moves an image off "
                          f"its canvas; give a shift < {side} (a pixel or two is usual).")
    from .data.augment import Augment
    return Augment(spec.shift, spec.rotate, rng=rng)


def prepare(config, overrides=(), *, training=True):
    """Load (if given a path) and realize a config: ``Experiment`` with data, model and trainer."""
    if not hasattr(config, "model_dump"):
        config = load_config(config, overrides)
    data = load_data(config)
    model, trainer = build(config, data, training=training)
    return Experiment(config, data, model, trainer)


def _resolved(config):
    """The config with every default filled in and file paths made absolute."""
    d = config.to_dict()
    if d["data"]["path"]:
        d["data"]["path"] = str(config.resolve_path(d["data"]["path"]).resolve())
    d["plugins"] = [str(config.resolve_path(p).resolve()) if p.endswith(".py") else p for p in d["plugins"]]
    return d


def _fixed_part(config):
    """The resolved config without the keys a resume may change (JSON values): what a checkpoint was
    trained with and a resume must find again."""
    d = json.loads(json.dumps(_resolved(config)))
    for key in RESUMABLE_KEYS:
        *parents, last = key.split(".")
        node = d
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return d


def _in_current_schema(trained_with, config):
    """A checkpoint's recorded config as the schema reads it now: a key added since, at its default (the plateau
    schedule's threshold), is no change. As recorded when the schema no longer takes it."""
    try:
        return _fixed_part(load_config(trained_with, source=config.source, from_run=True))
    except Exception:   # noqa: BLE001 - a key removed, a plugin gone: compared as recorded
        return trained_with


def changed_keys(a, b, prefix=""):
    """The dotted keys whose values differ between the nested dicts ``a`` and ``b``."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):     # model.layers[1].units
        return [k for i, (x, y) in enumerate(zip(a, b)) for k in changed_keys(x, y, f"{prefix.rstrip('.')}[{i}].")]
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [prefix.rstrip(".") or "(the whole config)"]
    return [k for key in sorted(a.keys() | b.keys())
            for k in changed_keys(a.get(key), b.get(key), f"{prefix}{key}.")]


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
        self.saved_epoch = None     # the epoch checkpoint.safetensors holds (what --resume continues from)
        self.trained_with = _fixed_part(exp.config)     # what a resume must find in config.yaml again
        self.io_seconds = 0.0       # spent writing (with fsync): compare's fit time leaves it out

    def on_train_begin(self, trainer):
        if trainer.epoch == 0:
            started = time.perf_counter()
            self._save(trainer)
            self.io_seconds += time.perf_counter() - started
        self.saved_epoch = trainer.epoch     # a resumed run starts from the checkpoint it loaded

    def on_epoch_end(self, trainer, row):
        started = time.perf_counter()
        self._save(trainer)
        self.io_seconds += time.perf_counter() - started

    def _save(self, trainer):
        meta, arrays = trainer.state()
        arrays.update({f"model.{k}": v for k, v in self.exp.model.state_dict().items()})
        # metrics.csv first: stopped between the two writes (Ctrl-C, a full disk), the checkpoint is the older
        # one, and its resume trains the epoch again and writes metrics.csv again; the other way round, the
        # checkpoint would hold an epoch that metrics.csv never gets
        _write_metrics(self.exp.run_dir, trainer.history)
        save_arrays(self.exp.run_dir / "checkpoint.safetensors", arrays,
                    {"trainer": meta, "run_id": self.exp.config.run_id, "config": self.trained_with,
                     "data_sha256": getattr(self.exp.data, "fingerprint", None)})
        self.saved_epoch = trainer.epoch


def _finish(exp):
    """Test metrics, the final model, summary.json and the plots."""
    from sklearn.metrics import confusion_matrix
    from .analysis.images import write_misclassified
    from .analysis.plots import plot_confusion_matrix, plot_learning_curves
    config, data, trainer, run_dir = exp.config, exp.data, exp.trainer, exp.run_dir
    test = test_metrics(trainer, data)
    classes = None if data.classes is None else [c.item() if hasattr(c, "item") else c for c in data.classes]
    save_model(run_dir / "model.safetensors", exp.model,
               {"config": _resolved(config), "classes": classes, "input_shape": list(data.input_shape),
                "normalize": data.normalizer.how, "run_id": config.run_id, "layerwise_version": __version__,
                "feature_names": getattr(data, "feature_names", None)},
               inputs=data.normalizer.arrays())
    key, sign = ("best_val_accuracy", 1) if data.task == "classification" else ("best_val_loss", -1)
    # best_epoch: the epoch of that best value (the first, on ties); kept_epoch: the epoch whose weights
    # were saved (early stopping's best on its own monitor, else the last)
    top = max(((sign * r[key[5:]], -r["epoch"]) for r in trainer.history if key[5:] in r), default=None)
    summary = {"name": config.name, **test, key: sign * top[0] if top else None, "epochs_run": trainer.epoch,
               "stopped_early": trainer.stopped_early, "best_epoch": -top[1] if top else None,
               "kept_epoch": trainer.kept_epoch,
               "train_seconds": trainer.train_seconds, "n_params": exp.model.n_params(), "seed": config.seed,
               "n_train": len(data.X_train), "n_val": len(data.X_val), "n_test": len(data.X_test),
               "versions": versions(), "run_id": config.run_id}
    plot_learning_curves(trainer.history, run_dir / "learning_curves.png", title=config.name)
    if data.task == "classification":
        outputs = trainer.predict(data.X_test)
        predicted = trainer.loss.labels(outputs)
        cm = confusion_matrix(data.y_test, predicted, labels=np.arange(data.n_classes))
        plot_confusion_matrix(cm, classes, run_dir / "confusion_matrix.png",
                              title=f"{config.name}: test accuracy {test['test_accuracy']:.4f}")
        write_misclassified(run_dir / "misclassified.png", data, trainer.loss, outputs, classes)   # images only
    # written last: a run directory with summary.json is finished
    atomic_write(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    exp.summary = summary
    return summary


def _default_run_dir(config):
    return make_run_dir(Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")


def fit(config, *, out=None, overwrite=False, overrides=(), progress="auto", stream=None, callbacks=()):
    """Train the experiment a config describes and write its run directory.

    Parameters
    ----------
    config : str, Path, dict or Config
        A YAML file, a dict with the same keys, or a loaded :class:`~layerwise.config.Config`.
    out : str or Path, optional
        The run directory; default ``runs/<name>-<timestamp>/``. A folder that already holds a run
        is refused (:class:`~layerwise.errors.RunDirError`) unless ``overwrite``.
    overwrite : bool, default False
        Empty ``out`` first if it holds a run (once the new config has loaded).
    overrides : sequence of "KEY=VALUE"
    progress : "auto", "bar", "lines" or "off"
    callbacks : list of Callback
        Run after the built-in ones (NaN guard, early stopping, progress) and the config's, and before the
        checkpoint, which is written once they have seen the epoch (their state in it is that epoch's); e.g.
        per-layer statistics or a pruner. ``resume`` takes the same callbacks, with their state from the checkpoint.

    Returns
    -------
    Experiment
        With ``run_dir``, ``summary`` (as in ``summary.json``), ``history``, ``model`` and ``data``.
    """
    if out:
        check_out_dir(out, overwrite=overwrite)   # before the data loads: a taken folder fails fast
    exp = prepare(config, overrides)
    exp.config = exp.config.model_copy(update={"run_id": new_run_id()})
    if out:
        exp.run_dir = open_out_dir(out, overwrite=overwrite, inputs=_inputs(config, exp.config))
    else:
        exp.run_dir = _default_run_dir(exp.config)
    try:
        atomic_write(exp.run_dir / "config.yaml", _yaml(_resolved(exp.config)), exclusive=True)
    except FileExistsError:
        check_out_dir(exp.run_dir)   # another process claimed the folder meanwhile
        raise
    return _train(exp, progress, stream, _attach_callbacks(exp, callbacks))


def _inputs(given, config):
    """The files a run reads: the config file, the data file or folder, plugin files."""
    files = [given] if isinstance(given, (str, Path)) else []
    files += [config.resolve_path(config.data.path)] if config.data.path else []
    return files + [config.resolve_path(p) for p in config.plugins if p.endswith(".py")]


def _yaml(data):
    import yaml
    return yaml.safe_dump(data, sort_keys=False)


def _attach_callbacks(exp, callbacks):
    """Put the run's callbacks after the trainer's own, in the same order for a new run and a resumed one (the
    checkpoint names each one's state by its place): the config's (layer statistics), the user's, and the
    checkpoint last, written after every other callback has seen the epoch, so that each one's state in it (a
    user's EarlyStopping) is of that epoch, as the weights are. Returns the :class:`Checkpoint`."""
    from .analysis.stats import config_callbacks
    checkpoint = Checkpoint(exp)
    exp.trainer.callbacks += [*config_callbacks(exp.config, exp.run_dir), *map(as_callback, callbacks), checkpoint]
    return checkpoint


def _train(exp, progress, stream, checkpoint):
    exp.trainer.progress, exp.trainer.stream = progress, stream
    d = exp.data
    try:
        exp.trainer.fit(d.X_train, d.y_train, d.X_val, d.y_val)
        exp.model.eval()   # trained: exp.model.forward predicts (Dropout off, BatchNorm's running statistics)
        _finish(exp)   # an interrupt while the plots are written is resumed too: resume writes them
    except (KeyboardInterrupt, BrokenPipeError) as e:    # Ctrl-C, or the reader of the output left (| head)
        if checkpoint.saved_epoch is not None:   # there is a checkpoint to resume from
            e.run_dir, e.epoch = exp.run_dir, checkpoint.saved_epoch
        raise
    except TrainingError as e:
        raise TrainingError(f"{e} The last good checkpoint (epoch {exp.trainer.epoch}) is in {exp.run_dir}.") from None
    except Exception as e:    # a bug in a module, a plugin's loss or optimizer: say where its run resumes once fixed
        resumable = getattr(e, "layerwise_user_module", False) or raised_in_plugin(e) or isinstance(e, OSError)
        if resumable and checkpoint.saved_epoch is not None:      # (OSError: a full disk, its output)
            e.run_dir, e.epoch = exp.run_dir, checkpoint.saved_epoch
        raise
    return exp


def check_run_overrides(overrides, *, resuming=False, command="evaluate"):
    """A ConfigError for a ``--set`` on a finished run (``command``: evaluate, saliency, attack, dream) or a
    resumed one that would make it another run: only where the data and plugins are, and batching, may change."""
    allowed = RESUMABLE_KEYS if resuming else EVALUATE_KEYS
    for assignment in overrides:
        key = assignment.partition("=")[0].strip()
        if not any(key == k or key.startswith(k + ".") for k in allowed):
            if resuming:
                raise ConfigError(f"--set {assignment}: a resumed run can only change "
                                  f"{', '.join(allowed)}; start a new run to change {key}.")
            raise ConfigError(f"--set {assignment}: {command} can only change where the data and plugins are and "
                              f"how the data is batched ({', '.join(allowed)}), so that the test set is the run's own; {key} would "
                              "change what is tested. To score other data use 'layerwise predict'; to change the "
                              "experiment, train a new run.")


def _run_config(run_dir, overrides, *, resuming):
    """The run's config with ``overrides``; resuming and evaluating accept only the keys that keep it the same run."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ConfigError(f"{run_dir}: no such run directory.")
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file; give the run's directory (the --out of 'layerwise train').")
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml in it).")
    check_run_overrides(overrides, resuming=resuming)
    return load_config(run_dir / "config.yaml", overrides, source=f"{run_dir / 'config.yaml'}", from_run=True)


def resume(run_dir, *, overrides=(), progress="auto", stream=None, callbacks=()):
    """Continue a run from its last checkpoint (bit-exact: as if it had never stopped)."""
    run_dir = Path(run_dir)
    config = _run_config(run_dir, overrides, resuming=True)
    ckpt = run_dir / "checkpoint.safetensors"
    if not ckpt.is_file():
        raise DataError(f"{ckpt}: is a folder, not a checkpoint file." if ckpt.is_dir()
                        else f"{run_dir}: no checkpoint.safetensors to resume from.")
    check_run_files(run_dir, config.run_id)
    exp = prepare(config, training=False)       # its batches are checked below, if training goes on
    exp.run_dir = run_dir
    arrays, meta = load_arrays(ckpt)
    trained_with, now = meta.get("config"), _fixed_part(config)    # checkpoints before it was recorded: none
    if trained_with is not None and trained_with != now:
        trained_with = _in_current_schema(trained_with, config)
    if trained_with is not None and trained_with != now:
        changed = changed_keys(trained_with, now)
        raise DataError(f"{run_dir / 'config.yaml'} is not the config {ckpt.name} was trained with ({', '.join(changed)} "
                        f"changed): a resumed run continues the same experiment. Put the file back, or train a new run "
                        f"with it; resuming may change only {', '.join(RESUMABLE_KEYS)} (--set).")
    trained_on, now_on = meta.get("data_sha256"), getattr(exp.data, "fingerprint", None)
    if trained_on is not None and now_on is not None and trained_on != now_on:    # older checkpoints: not recorded
        where = f"the data at data.path ({config.data.path})" if config.data.path else f"the {config.data.dataset} data"
        raise DataError(f"{ckpt}: {where} is not the data this run was trained on (its sha256 differs): a resumed run "
                        "continues the same experiment. Point data.path (--set) at the files it was trained on, or "
                        "train a new run on these.")
    check_finite({k: v for k, v in arrays.items() if k.startswith("model.")}, ckpt)
    checkpoint = _attach_callbacks(exp, callbacks)      # before the state: the user's take theirs from it
    try:
        load_weights(exp.model, {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}, ckpt, "model.")
        exp.trainer.load_state(meta["trainer"], arrays)
    except DataError:           # load_weights' own message names the file and the array
        raise
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, OverflowError) as e:   # damaged or edited
        raise DataError(f"{ckpt}: the checkpoint is damaged or does not fit the model of {run_dir / 'config.yaml'}: "
                        f"{e}") from None
    summary = _summary_of(run_dir, exp.trainer.epoch)
    exp.note = resume_note(run_dir, epoch=exp.trainer.epoch, epochs=config.training.epochs,
                           planned=_run_config(run_dir, [o for o in overrides if o.partition("=")[0].strip()
                                                         != "training.epochs"], resuming=True).training.epochs,
                           stopped_early=exp.trainer.stopped_early, finished=summary is not None,
                           stopping_set=any(o.partition("=")[0].strip().startswith("training.early_stopping")
                                            for o in overrides))
    if exp.note:
        exp.summary = summary
        # nothing to train: the model is the one the summary describes (early stopping's kept epoch, not the
        # checkpoint's last), in eval mode as after fit
        if (run_dir / "model.safetensors").is_file():
            load_model_state(exp.model, run_dir / "model.safetensors")
        exp.model.eval()
        return exp
    # training goes on: the final model and summary of an earlier finish no longer describe the run (a folder
    # with summary.json is finished), nor does a comparison made with them (layerwise compare --out): the
    # model and summary are written again at the end; compare them again with layerwise compare
    check_batches(config, exp.model, exp.data)      # before anything of the finished run is removed
    stale = ["summary.json", "model.safetensors", "compare.json", "compare.md",
             *(p.name for p in run_dir.glob("compare_*.png"))]
    for name in stale:
        (run_dir / name).unlink(missing_ok=True)
    atomic_write(run_dir / "config.yaml", _yaml(_resolved(config)))
    return _train(exp, progress, stream, checkpoint)


def _summary_of(run_dir, epoch):
    """The run's summary.json if it is the finish of the checkpoint's ``epoch``, else None (stale or none)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("epochs_run") == epoch else None


def check_data_fits(config, data, meta, weights):
    """A DataError when ``data`` (read with a run's config, maybe at another ``--set data.path``) is not what the
    model in ``weights`` (its metadata ``meta``) was trained on: other sample shapes, or another class count.
    Said before a model is built for it, so that the weights, which would not fit, are not blamed."""
    where = config.data.path or config.data.dataset
    trained_on = meta.get("input_shape")
    if isinstance(trained_on, list) and tuple(trained_on) != tuple(data.input_shape):
        raise DataError(f"{where}: samples of shape {tuple(data.input_shape)}, but {weights} was trained on samples of "
                        f"shape {tuple(trained_on)}: this is not the data the run was trained on.")
    classes = meta.get("classes")
    if isinstance(classes, list) and getattr(data, "classes", None) is not None and len(classes) != len(data.classes):
        raise DataError(f"{where}: {len(data.classes)} classes, but {weights} was trained on {len(classes)}: this is "
                        "not the data the run was trained on.")


def evaluate(run_dir, *, overrides=()):
    """Reload a finished run's model and recompute its test metrics (``overrides`` only of :data:`EVALUATE_KEYS`)."""
    run_dir = Path(run_dir)
    config = _run_config(run_dir, overrides, resuming=False)
    weights = run_dir / "model.safetensors"
    if weights.is_dir():
        raise DataError(f"{weights}: is a folder, not a model file.")
    if not weights.is_file():
        raise DataError(f"{run_dir}: no model.safetensors: the run has not finished; if it was interrupted, "
                        f"resume it with: layerwise train --resume {shlex.quote(str(run_dir))} (one the NaN guard stopped must "
                        "be trained afresh with a change).")
    check_run_files(run_dir, config.run_id, names=("model.safetensors", "summary.json"))   # what evaluate reads
    try:        # a checkpoint of another run still means a mixed folder; a damaged one is not read here
        check_run_files(run_dir, config.run_id, names=("checkpoint.safetensors",))
    except DataError:
        pass
    arrays, _, meta = load_model_file(weights)
    data = load_data(config)
    check_data_fits(config, data, meta, weights)
    model, trainer = build(config, data, training=False)
    load_weights(model, arrays, weights)
    return {**test_metrics(trainer, data), "n_test": len(data.X_test)}
