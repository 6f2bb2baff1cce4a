"""scikit-learn baselines trained on exactly the arrays of a layerwise experiment, and the compare report.

``compare(config)`` trains the config's layerwise model and every baseline on the same train / val /
test split (same preprocessing, same seed) and writes ``compare.json``, ``compare.md`` and plots. A
classification is scored by accuracy and macro F1, a regression by RMSE, MAE and R^2. The
estimators come from :mod:`layerwise.estimators`, which checks every entry before anything trains.
"""

import json
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .callbacks import Callback
from .checkpoint import atomic_write
from .estimators import DEFAULT_BASELINES, _mlp_matched, baseline_specs, check_baselines, make_baseline  # noqa: F401
from .task import regression_metrics, regression_predictions

#: the score columns of each task: (key in compare.json, table heading, format)
SCORES = {"classification": (("test_accuracy", "test accuracy", ".4f"), ("macro_f1", "macro F1", ".4f")),
          "regression": (("test_rmse", "test RMSE", ".4g"), ("test_mae", "test MAE", ".4g"),
                         ("test_r2", "test R2", ".4f"))}


def _io_seconds(trainer):
    return sum(getattr(cb, "io_seconds", 0.0) for cb in trainer.callbacks)


class FitClock(Callback):
    """Wall time of a whole ``Trainer.fit``, from ``on_train_begin`` to ``on_train_end``, less the time the
    run's own files took to write (the checkpoint after each epoch, synced to disk: a callback's
    ``io_seconds``).

    It covers what a scikit-learn estimator's ``fit`` covers: every epoch with its validation pass (a
    baseline's early stopping validates too); the trainer's ``train_seconds`` counts only the training passes.
    """

    def __init__(self):
        self.started = self.seconds = None
        self._io = 0.0

    def on_train_begin(self, trainer):
        self._io = _io_seconds(trainer)
        self.started = time.perf_counter()

    def on_train_end(self, trainer):
        self.seconds = time.perf_counter() - self.started - (_io_seconds(trainer) - self._io)


@contextmanager
def _interrupts_seen():
    """A list that records each Ctrl-C (SIGINT) in the block; the Ctrl-C still raises KeyboardInterrupt.

    scikit-learn's MLPClassifier and MLPRegressor catch that KeyboardInterrupt, stop, warn and return a
    half-trained model; the list lets the caller raise it again after such a ``fit``. Only where
    Ctrl-C means KeyboardInterrupt (the main thread, Python's default handler) is a handler set, and
    the default one comes back at the end.
    """
    seen = []
    ours = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)

    def record(signum, frame):
        seen.append(signum)
        signal.default_int_handler(signum, frame)

    if ours:
        signal.signal(signal.SIGINT, record)
    try:
        yield seen
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _n_params(est):
    if hasattr(est, "coefs_"):
        return int(sum(w.size for w in est.coefs_) + sum(b.size for b in est.intercepts_))
    if hasattr(est, "coef_"):
        return int(est.coef_.size + np.size(getattr(est, "intercept_", 0)))
    return None


def _scores(task, y, pred):
    if task == "regression":
        return {f"test_{k}": v for k, v in regression_metrics(y, pred).items()}
    from sklearn.metrics import accuracy_score, f1_score
    return {"test_accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro"))}


def compare(config, *, out=None, overwrite=False, overrides=(), progress="off", stream=None):
    """Train the layerwise model and the baselines on one split; returns the rows of ``compare.json``.

    Every ``fit_seconds`` is the wall time of a whole fit: for layerwise the training loop with its
    per-epoch validation, not the run's checkpoint writes (:class:`FitClock`), for a baseline its ``fit``.
    The baselines fit on the same training rows in the same dtype (``training.dtype``).
    """
    from . import run
    from .config import load_config
    cfg = config if hasattr(config, "model_dump") else load_config(config, overrides)
    check_baselines(cfg)                 # config errors before any training
    clock = FitClock()
    exp = run.fit(cfg, out=out, overwrite=overwrite, progress=progress, stream=stream, callbacks=[clock])
    try:
        return _compare_after_training(cfg, exp, clock)
    except KeyboardInterrupt as e:      # the run folder exists: `layerwise compare` says how to start it again
        e.run_dir = exp.run_dir
        raise


def _compare_after_training(cfg, exp, clock):
    """``compare``'s baselines, scores and reports, once layerwise's run in ``exp`` has trained."""
    from sklearn.metrics import confusion_matrix
    from .analysis.plots import plot_bars, plot_confusion_matrices, plot_learning_curves
    task = cfg.data.task
    d, out_dir = exp.data, exp.run_dir
    baselines = [make_baseline(s, cfg, len(d.X_train), d.n_targets or 1, where=f"baselines[{i}]")
                 for i, s in enumerate(baseline_specs(cfg))]
    started = time.perf_counter()
    outputs = exp.trainer.predict(d.X_test)
    if task == "regression":
        lw_pred = regression_predictions(outputs, d.y_test)
    else:
        lw_pred = exp.trainer.loss.labels(outputs)
    rows = [{"model": f"layerwise ({cfg.name})", **_scores(task, d.y_test, lw_pred), "fit_seconds": clock.seconds,
             "predict_seconds": time.perf_counter() - started, "n_params": exp.model.n_params(), "error": None}]
    matrix = None if d.classes is None else (
        lambda pred: confusion_matrix(d.y_test, pred, labels=np.arange(d.n_classes)))
    matrices = {rows[0]["model"]: matrix(lw_pred)} if matrix else {}
    flat = lambda X: X.reshape(len(X), -1)     # in layerwise's dtype: MLPClassifier computes in X's
    X_fit = flat(d.X_train)   # the baselines fit on layerwise's training part; validation stays held out
    mlp_curve = None
    for label, est in baselines:
        row = {"model": label, **{key: None for key, _, _ in SCORES[task]}, "fit_seconds": None,
               "predict_seconds": None, "n_params": None, "error": None}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0 = time.perf_counter()
                with _interrupts_seen() as interrupts:
                    est.fit(X_fit, d.y_train)
                if interrupts:       # the estimator swallowed the Ctrl-C: no half-trained row, no report
                    raise KeyboardInterrupt
                row["fit_seconds"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                pred = est.predict(flat(d.X_test))
                row["predict_seconds"] = time.perf_counter() - t0
            row.update(_scores(task, d.y_test, pred), n_params=_n_params(est))
            notes = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught
                            if issubclass(w.category, (UserWarning, RuntimeWarning))})
            if getattr(est, "layerwise_note", None):
                notes.insert(0, est.layerwise_note)
            if notes:
                row["warning"] = "; ".join(notes)
            if matrix:
                matrices[label] = matrix(pred)
            if hasattr(est, "loss_curve_") and mlp_curve is None:
                mlp_curve = (label, list(est.loss_curve_))
        except Exception as e:  # a failing baseline gets a row saying why; the others still run
            row["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        rows.append(row)
    _write_reports(out_dir, cfg, rows)
    bar, heading = ("test_r2", "test R2") if task == "regression" else ("test_accuracy", "test accuracy")
    ok = [r for r in rows if r[bar] is not None]
    plot_bars([r["model"] for r in ok], [r[bar] for r in ok], out_dir / f"compare_{bar[5:]}.png", ylabel=heading,
              title=f"{cfg.name}: {heading} on the same split")
    what = "squared error / 2 per target, + L2" if task == "regression" else "loss_curve_"
    extra = {f"{mlp_curve[0]} training loss ({what})": mlp_curve[1]} if mlp_curve else None
    title = f"{cfg.name}: layerwise vs {mlp_curve[0]}" if mlp_curve else f"{cfg.name}: layerwise (no baseline has a loss curve)"
    plot_learning_curves(exp.history, out_dir / "compare_loss.png", title=title, extra_curves=extra)
    if matrices:
        plot_confusion_matrices(matrices, [str(c) for c in d.classes], out_dir / "compare_confusion.png")
    return rows, out_dir


def format_table(rows):
    """The compare table as Markdown (also printed on the terminal); its score columns follow the task."""
    scores = SCORES["regression" if any("test_rmse" in r for r in rows) else "classification"]
    head = "| model | " + " | ".join(h for _, h, _ in scores) + " | fit s | predict s | parameters |"
    lines = [head, "|---|" + "---:|" * (len(scores) + 3)]
    fmt = lambda v, f: "" if v is None else format(v, f)
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['model']} | failed: {r['error']} |" + " |" * (len(scores) + 2))
            continue
        cells = [fmt(r.get(key), f) for key, _, f in scores]
        cells += [fmt(r["fit_seconds"], ".2f"), fmt(r["predict_seconds"], ".3f"), fmt(r["n_params"], ",")]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    notes = [f"- {r['model']}: {r['warning']}" for r in rows if r.get("warning") and not r["error"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def _write_reports(out_dir, cfg, rows):
    payload = {"name": cfg.name, "seed": cfg.seed, "dataset": cfg.data.dataset, "rows": rows}
    atomic_write(Path(out_dir) / "compare.json", json.dumps(payload, indent=2) + "\n")
    atomic_write(Path(out_dir) / "compare.md", f"# {cfg.name}: layerwise and scikit-learn on the same split\n\n"
                 + format_table(rows) + "\n")
