"""Matplotlib figures written as PNG (Agg backend, atomically)."""

import io
import warnings

import numpy as np

from ..checkpoint import atomic_write


def _figure(*args, **kwargs):
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt, plt.subplots(*args, **kwargs)


def _save(plt, fig, path):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # a run named in a script the default font lacks (日本語): boxes in the title, not six warnings per plot
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def plot_learning_curves(history, path, *, title=None, extra_curves=None):
    """Loss and accuracy per epoch (train and validation) as a PNG.

    ``extra_curves`` maps a label to a list of per-epoch losses drawn on the loss axis
    (for example scikit-learn's ``MLPClassifier.loss_curve_``).
    """
    epochs = [row["epoch"] for row in history]
    has_acc = any("train_accuracy" in row for row in history)
    plt, (fig, axes) = _figure(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 4))
    axes = np.atleast_1d(axes)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if any(key in row for row in history):
            axes[0].plot(epochs, [row.get(key, np.nan) for row in history], marker=".", label=label)
    for label, curve in (extra_curves or {}).items():
        axes[0].plot(np.arange(1, len(curve) + 1), curve, linestyle="--", label=label)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    if has_acc:
        for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            if any(key in row for row in history):
                axes[1].plot(epochs, [row.get(key, np.nan) for row in history], marker=".", label=label)
        axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        axes[1].legend()
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def plot_confusion_matrices(matrices, class_names, path):
    """Confusion matrices side by side: ``matrices`` maps a title to a (C, C) count matrix."""
    k = len(matrices)
    plt, (fig, axes) = _figure(1, k, figsize=(4.6 * k + 0.6, 4.4), squeeze=False)
    names = [str(c) for c in class_names]
    for ax, (title, cm) in zip(axes[0], matrices.items()):
        cm = np.asarray(cm)
        ax.imshow(cm, cmap="Blues")
        ax.set(title=title, xlabel="predicted", ylabel="true", xticks=range(len(names)),
               yticks=range(len(names)), xticklabels=names, yticklabels=names)
        if len(names) <= 20:
            top = cm.max() if cm.size else 0
            for (i, j), v in np.ndenumerate(cm):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > top / 2 else "black")
    return _save(plt, fig, path)


def plot_confusion_matrix(cm, class_names, path, *, title="confusion matrix (test)"):
    """One confusion matrix as a PNG."""
    return plot_confusion_matrices({title: cm}, class_names, path)


def plot_bars(labels, values, path, *, ylabel="test accuracy", title=None):
    """A horizontal bar per label, value written at its end."""
    plt, (fig, ax) = _figure(figsize=(7, 0.5 * len(labels) + 1.5))
    y = np.arange(len(labels))
    ax.barh(y, values, color="tab:blue")
    ax.set(yticks=y, yticklabels=labels, xlabel=ylabel, title=title or ylabel)
    ax.invert_yaxis()
    for yi, v in zip(y, values):
        if np.isfinite(v):
            ax.text(v, yi, f" {v:.4f}", va="center")
    finite = [v for v in values if np.isfinite(v)]
    low = min(finite + [1.0])
    lo = (low * 0.9 if low > 0 else low - 0.1) if finite else 0     # R^2 may be below 0
    ax.set_xlim(lo, 1.05)                                   # room for the value labels right of 1.0
    ax.set_xticks([t for t in ax.get_xticks() if lo <= t <= 1.0 + 1e-9])   # no tick beyond accuracy 1
    return _save(plt, fig, path)
