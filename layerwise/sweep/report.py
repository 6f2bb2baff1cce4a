"""A sweep's results from its study: ``sweep.csv``, ``sweep.md`` (sorted by the metric), ``best.yaml``, plots.

Everything here is rebuilt from the Optuna study, so the files are right after a resume, or when
several drivers share one ``--storage``. Trials that Ctrl-C interrupted (failed without a message,
and queued again) are left out: their retry is the trial.
"""

import csv
import io
import math
from pathlib import Path

from ..checkpoint import atomic_write
from ..monitor import mode_of
from .trial import kept_value

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "fail", "RUNNING": "running", "WAITING": "waiting"}
RANK = {"complete": 0, "pruned": 1, "running": 2, "fail": 3}


def is_interrupted(trial):
    """A trial the driver gave up on when interrupted: failed, with no error message; it was queued again."""
    return trial.state.name == "FAIL" and "error" not in trial.user_attrs


TEST_COLUMN = "test_accuracy"


def _run_dir(attrs, out):
    """A trial's run folder: relative to ``out`` when it is there, else the full path in the ``--out`` of the driver
    that ran it (several drivers sharing one ``--storage``)."""
    rel = attrs.get("run_dir")
    if rel is None or out is None or "out" not in attrs or (Path(out) / rel).is_dir():
        return rel          # (here: this driver's, also after the folder was moved or copied)
    return str(Path(attrs["out"]) / rel)


def trial_rows(study, keys, metric, out=None):
    """One dict per trial that ran or runs, in trial order: trial, state, each key, the metric,
    test_accuracy, test_rmse (a regression's), train_seconds, run_dir (see :func:`_run_dir`), error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if is_interrupted(t) or t.state.name == "WAITING":
            continue
        values = [t.intermediate_values[s] for s in sorted(t.intermediate_values)]
        a = t.user_attrs
        rows.append({"trial": t.number, "state": STATES[t.state.name], **{k: t.params.get(k) for k in keys},
                     metric: kept_value(values, a.get("kept_epoch"), metric), TEST_COLUMN: a.get("test_accuracy"),
                     "test_rmse": a.get("test_rmse"),
                     "train_seconds": a.get("train_seconds"), "run_dir": _run_dir(a, out), "error": a.get("error")})
    return rows


def ranked(rows, metric):
    """Complete trials best first, then pruned ones (best first), running, failed."""
    sign = 1 if mode_of(metric) == "min" else -1
    return sorted(rows, key=lambda r: (RANK[r["state"]], sign * r[metric] if r[metric] is not None else 0, r["trial"]))


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".")
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def test_column(rows):
    """The test metric of the sweep's table: test_accuracy, or a regression's test_rmse."""
    return "test_rmse" if any(r.get("test_rmse") is not None for r in rows) else TEST_COLUMN


def write_tables(out, rows, keys, metric):
    """``sweep.csv`` (trial order, full precision) and ``sweep.md`` (sorted by the metric)."""
    test = test_column(rows)
    columns = ["trial", "state", *keys, metric, test, "train_seconds", "run_dir", "error"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    atomic_write(out / "sweep.csv", buf.getvalue())
    shown = [c for c in columns if c != "error" or any(r["error"] for r in rows)]
    lines = ["| rank | " + " | ".join(shown) + " |", "|" + "---|" * (len(shown) + 1)]
    for i, row in enumerate(ranked(rows, metric), 1):
        cells = [f"{row[c]:.1f}" if c == "train_seconds" and row[c] is not None else _cell(row[c]) for c in shown]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    direction = "lower" if mode_of(metric) == "min" else "higher"
    atomic_write(out / "sweep.md", f"Trials sorted by {metric} ({direction} is better; chosen on validation "
                                   f"only, {test} is recorded, never used to choose).\n\n"
                 + "\n".join(lines) + "\n")


def write_best(out, rows, metric):
    """Copy the best complete trial's ``config.yaml`` to ``best.yaml`` (from another driver's folder too, when
    this machine sees it); returns that row (None if none), with ``best_yaml``: the file, or None when the best
    run's folder cannot be read here (then no best.yaml of an earlier best is left behind)."""
    best = next((r for r in ranked(rows, metric) if r["state"] == "complete" and r["run_dir"]), None)
    if best is None:
        return None
    source = out / best["run_dir"] / "config.yaml"      # (an absolute run_dir stays itself)
    if source.is_file():
        atomic_write(out / "best.yaml", source.read_bytes())
        return {**best, "best_yaml": out / "best.yaml"}
    (out / "best.yaml").unlink(missing_ok=True)
    return {**best, "best_yaml": None}


def _points(scored, key, spec):
    """The trials drawn against parameter ``key``: those that set it, None included when it is one of the
    choices (``grad_clip_norm: null,1.0``: dropping those dropped the best trial from the panel)."""
    takes_none = spec.kind == "choice" and None in spec.values
    return [r for r in scored if r.get(key) is not None or takes_none]


def plot_sweep(out, rows, space, metric):
    """``sweep_metric.png`` (the metric by trial, the best so far) and ``sweep_params.png`` (the metric
    against each parameter)."""
    from ..analysis.plots import _figure, _save
    scored = [r for r in rows if r[metric] is not None and r["state"] in ("complete", "pruned")]
    if not scored:
        return
    plt, (fig, ax) = _figure(figsize=(6.5, 4))
    for state, style in (("complete", {"color": "C0"}), ("pruned", {"facecolors": "none", "edgecolors": "C1"})):
        pts = [r for r in scored if r["state"] == state]
        if pts:
            ax.scatter([r["trial"] for r in pts], [r[metric] for r in pts], label=state, **style)
    better = min if mode_of(metric) == "min" else max
    best, xs, ys = None, [], []
    for r in sorted((r for r in scored if r["state"] == "complete"), key=lambda r: r["trial"]):
        best = r[metric] if best is None else better(best, r[metric])
        xs.append(r["trial"])
        ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="C2", label="best so far")
    ax.set(xlabel="trial", ylabel=metric, title=f"{metric} by trial")
    ax.legend()
    _save(plt, fig, out / "sweep_metric.png")

    keys = list(space)
    cols = min(3, len(keys))
    plt, (fig, axes) = _figure(math.ceil(len(keys) / cols), cols, figsize=(4.2 * cols, 3.4 * math.ceil(len(keys) / cols)),
                               squeeze=False)
    for ax, key in zip(axes.flat, keys):
        spec = space[key]
        pts = _points(scored, key, spec)
        if spec.kind == "choice" and not all(isinstance(v, (int, float)) for v in spec.values):
            labels = [str(v) for v in spec.values]
            xs = [labels.index(str(r[key])) for r in pts]
            ax.set_xticks(range(len(labels)), labels)
        else:
            xs = [r[key] for r in pts]
            positive = all(v > 0 for v in spec.probes())
            if spec.log or (spec.kind == "choice" and positive and max(spec.values) / min(spec.values) >= 100):
                ax.set_xscale("log")
        colors = ["C0" if r["state"] == "complete" else "C1" for r in pts]
        ax.scatter(xs, [r[metric] for r in pts], c=colors)
        ax.set(xlabel=key, ylabel=metric)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    _save(plt, fig, out / "sweep_params.png")
