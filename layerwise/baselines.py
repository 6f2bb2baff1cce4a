"""scikit-learn baselines trained on exactly the arrays of a layerwise experiment, and the compare report.

``compare(config)`` trains the config's layerwise model and every baseline on the same train / val /
test split (same preprocessing, same seed) and writes ``compare.json``, ``compare.md`` and plots.
"""

import importlib
import json
import time
import warnings
from pathlib import Path

import numpy as np

from .callbacks import Callback
from .checkpoint import atomic_write
from .errors import ConfigError

DEFAULT_BASELINES = ("logistic_regression", "mlp")
BUILTIN_BASELINES = ("logistic_regression", "mlp", "linear_svm", "random_forest", "knn")


class FitClock(Callback):
    """Wall time of a whole ``Trainer.fit``, from ``on_train_begin`` to ``on_train_end``.

    It covers what a scikit-learn estimator's ``fit`` covers: every epoch with its validation pass
    (and, in a run, the checkpoint written after each epoch); the trainer's ``train_seconds`` counts
    only the training passes.
    """

    def __init__(self):
        self.started = self.seconds = None

    def on_train_begin(self, trainer):
        self.started = time.perf_counter()

    def on_train_end(self, trainer):
        self.seconds = time.perf_counter() - self.started


def _mlp_matched(config, n_train):
    """An MLPClassifier with the layerwise model's hidden sizes, activation, batch size, lr, solver, epochs."""
    from sklearn.neural_network import MLPClassifier
    from ._mlp import ACTIVATIONS, alpha_from_weight_decay
    layers = config.model.layers
    hidden = [int(l["units"]) for l in layers if l.get("type") == "linear"][:-1]
    sklearn_name = {layer_type: name for name, layer_type in ACTIVATIONS.items() if layer_type}
    activation = next((sklearn_name[l["type"]] for l in layers if l.get("type") in sklearn_name), "identity")
    opt, t = config.optimizer, config.training
    solver = "adam" if opt.type == "adam" else "sgd"
    batch = min(t.batch_size, n_train)
    params = dict(hidden_layer_sizes=tuple(hidden) or (100,), activation=activation, solver=solver,
                  alpha=alpha_from_weight_decay(opt.weight_decay, batch), batch_size=batch,
                  learning_rate_init=opt.lr, max_iter=t.epochs, random_state=config.seed, shuffle=t.shuffle,
                  early_stopping=t.early_stopping is not None, n_iter_no_change=t.epochs + 1, tol=0.0)
    if t.early_stopping is not None:
        params.update(n_iter_no_change=t.early_stopping.patience, validation_fraction=config.data.val_fraction)
    if solver == "sgd":
        params.update(momentum=getattr(opt, "momentum", 0.0), nesterovs_momentum=getattr(opt, "nesterov", False))
    return MLPClassifier(**params)


def _builtin(name, config, n_train):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import LinearSVC
    return {
        "logistic_regression": lambda: LogisticRegression(max_iter=2000),
        "mlp": lambda: _mlp_matched(config, n_train),
        "linear_svm": lambda: LinearSVC(random_state=config.seed),
        "random_forest": lambda: RandomForestClassifier(n_estimators=200, random_state=config.seed, n_jobs=1),
        "knn": lambda: KNeighborsClassifier(n_neighbors=5),
    }[name]()


def make_baseline(spec, config, n_train):
    """``(label, estimator)`` from a name or ``{class: sklearn.x.Y, params: {...}, name: ...}``."""
    from sklearn.base import is_classifier
    if isinstance(spec, str):
        if spec not in BUILTIN_BASELINES:
            from .config import did_you_mean
            raise ConfigError(f"{config.source}: baselines: unknown baseline {spec!r}."
                              f"{did_you_mean(spec, BUILTIN_BASELINES)} Built-in names: "
                              f"{', '.join(BUILTIN_BASELINES)}; or any scikit-learn classifier as "
                              "{class: sklearn.svm.SVC, params: {C: 10}}.")
        return spec, _builtin(spec, config, n_train)
    path = spec.class_
    module_name, _, cls_name = path.rpartition(".")
    plugin_modules = [p for p in config.plugins if not p.endswith(".py")]
    if not (path.startswith("sklearn.") or module_name in plugin_modules):
        raise ConfigError(f"{config.source}: baselines: class {path!r} is not under sklearn.*; list its module in "
                          "plugins to allow it.")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"{config.source}: baselines: cannot import {path!r}.") from None
    estimator = cls(**spec.params) if isinstance(cls, type) else None
    if estimator is None or not is_classifier(estimator):
        raise ConfigError(f"{config.source}: baselines: {path!r} is not a scikit-learn classifier.")
    return spec.name or cls_name, estimator


def _n_params(est):
    if hasattr(est, "coefs_"):
        return int(sum(w.size for w in est.coefs_) + sum(b.size for b in est.intercepts_))
    if hasattr(est, "coef_"):
        return int(est.coef_.size + np.size(getattr(est, "intercept_", 0)))
    return None


def compare(config, *, out=None, overrides=(), progress="off", stream=None):
    """Train the layerwise model and the baselines on one split; returns the rows of ``compare.json``.

    Every ``fit_seconds`` is the wall time of a whole fit: for layerwise the training loop with its
    per-epoch validation (:class:`FitClock`), for a baseline its ``fit``.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from . import run
    from .analysis.plots import plot_bars, plot_confusion_matrices, plot_learning_curves
    from .config import load_config
    cfg = config if hasattr(config, "model_dump") else load_config(config, overrides)
    specs = cfg.baselines if cfg.baselines is not None else list(DEFAULT_BASELINES)
    for s in specs:                      # config errors before any training
        make_baseline(s, cfg, cfg.training.batch_size)
    clock = FitClock()
    exp = run.fit(cfg, out=out, progress=progress, stream=stream, callbacks=[clock])
    d, out_dir = exp.data, exp.run_dir
    baselines = [make_baseline(s, cfg, len(d.X_train)) for s in specs]
    started = time.perf_counter()
    outputs = exp.trainer.predict(d.X_test)
    lw_pred = exp.trainer.loss.labels(outputs)
    rows = [{"model": f"layerwise ({cfg.name})", "test_accuracy": float(accuracy_score(d.y_test, lw_pred)),
             "macro_f1": float(f1_score(d.y_test, lw_pred, average="macro")),
             "fit_seconds": clock.seconds, "predict_seconds": time.perf_counter() - started,
             "n_params": exp.model.n_params(), "error": None}]
    matrices = {rows[0]["model"]: confusion_matrix(d.y_test, lw_pred, labels=np.arange(d.n_classes))}
    flat = lambda X: X.reshape(len(X), -1).astype(np.float64)
    X_fit = flat(d.X_train)   # the baselines fit on layerwise's training part; validation stays held out
    mlp_curve = None
    for label, est in baselines:
        row = {"model": label, "test_accuracy": None, "macro_f1": None, "fit_seconds": None,
               "predict_seconds": None, "n_params": None, "error": None}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0 = time.perf_counter()
                est.fit(X_fit, d.y_train)
                row["fit_seconds"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                pred = est.predict(flat(d.X_test))
                row["predict_seconds"] = time.perf_counter() - t0
            row.update(test_accuracy=float(accuracy_score(d.y_test, pred)),
                       macro_f1=float(f1_score(d.y_test, pred, average="macro")), n_params=_n_params(est))
            notes = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught
                            if issubclass(w.category, (UserWarning, RuntimeWarning))})
            if notes:
                row["warning"] = "; ".join(notes)
            matrices[label] = confusion_matrix(d.y_test, pred, labels=np.arange(d.n_classes))
            if hasattr(est, "loss_curve_") and mlp_curve is None:
                mlp_curve = (label, list(est.loss_curve_))
        except Exception as e:  # a failing baseline gets a row saying why; the others still run
            row["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        rows.append(row)
    _write_reports(out_dir, cfg, rows)
    ok = [r for r in rows if r["test_accuracy"] is not None]
    plot_bars([r["model"] for r in ok], [r["test_accuracy"] for r in ok], out_dir / "compare_accuracy.png",
              title=f"{cfg.name}: test accuracy on the same split")
    extra = {f"{mlp_curve[0]} training loss (loss_curve_)": mlp_curve[1]} if mlp_curve else None
    plot_learning_curves(exp.history, out_dir / "compare_loss.png", title=f"{cfg.name}: layerwise vs MLPClassifier",
                         extra_curves=extra)
    classes = [str(c) for c in d.classes]
    plot_confusion_matrices(matrices, classes, out_dir / "compare_confusion.png")
    return rows, out_dir


def format_table(rows):
    """The compare table as Markdown (also printed on the terminal)."""
    head = "| model | test accuracy | macro F1 | fit s | predict s | parameters |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    fmt = lambda v, f: "" if v is None else format(v, f)
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['model']} | failed: {r['error']} | | | | |")
            continue
        lines.append(f"| {r['model']} | {fmt(r['test_accuracy'], '.4f')} | {fmt(r['macro_f1'], '.4f')} | "
                     f"{fmt(r['fit_seconds'], '.2f')} | {fmt(r['predict_seconds'], '.3f')} | "
                     f"{fmt(r['n_params'], ',')} |")
    return "\n".join(lines)


def _write_reports(out_dir, cfg, rows):
    payload = {"name": cfg.name, "seed": cfg.seed, "dataset": cfg.data.dataset, "rows": rows}
    atomic_write(Path(out_dir) / "compare.json", json.dumps(payload, indent=2) + "\n")
    atomic_write(Path(out_dir) / "compare.md", f"# {cfg.name}: layerwise and scikit-learn on the same split\n\n"
                 + format_table(rows) + "\n")
