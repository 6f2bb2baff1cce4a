"""Grids of images as PNG: the picture behind saliency, attack, dream and misclassified examples."""

import numpy as np

from .plots import _figure, _save


def as_picture(sample):
    """An (H, W) or (H, W, 3) array for ``imshow`` from a sample (C, H, W), (H, W) or a flat square."""
    a = np.asarray(sample, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        return a[0]
    if a.ndim == 3 and a.shape[0] == 3:
        a = np.moveaxis(a, 0, -1)
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if a.ndim == 3:
        return a.mean(axis=0)
    if a.ndim == 1:
        side = int(round(np.sqrt(a.size)))
        if side * side == a.size:
            return a.reshape(side, side)
        return a[None, :]
    return a


def plot_image_grid(cells, path, *, ncols=8, title=None, row_labels=None, cell=1.35):
    """Draw ``cells`` row by row, ``ncols`` per row, as a PNG.

    Parameters
    ----------
    cells : list of dict
        Each with ``image`` (a sample), and optionally ``caption``, ``color`` (of the caption),
        ``cmap`` (default "gray"), ``vmin`` and ``vmax``. ``None`` leaves a blank cell.
    row_labels : list of str, optional
        Written left of each row.
    """
    n = max(len(cells), 1)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    plt, (fig, axes) = _figure(nrows, ncols, figsize=(cell * ncols + (0.8 if row_labels else 0),
                                                      cell * 1.15 * nrows + (0.5 if title else 0)),
                               squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        c = cells[k] if k < len(cells) else None
        if c is None:
            ax.axis("off")
            continue
        ax.imshow(as_picture(c["image"]), cmap=c.get("cmap", "gray"), vmin=c.get("vmin"), vmax=c.get("vmax"),
                  interpolation="nearest")
        if c.get("caption"):
            ax.set_title(c["caption"], fontsize=7, color=c.get("color", "black"), pad=2)
        for side in ax.spines.values():
            side.set_visible(False)
    if row_labels:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path)


def plot_misclassified(X, y_true, y_pred, classes, path, *, proba=None, n=40, ncols=10, title=None):
    """The first ``n`` misclassified samples, captioned ``true -> predicted`` (and its probability).

    Writes a figure that says so when nothing is misclassified. Returns the path.
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    names = [str(c) for c in classes]
    head = title or f"misclassified test images: {len(wrong)} of {len(y_true)} (true -> predicted, its probability)"
    if len(wrong) == 0:
        plt, (fig, ax) = _figure(figsize=(4, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no misclassified test images (of {len(y_true)})", ha="center", va="center")
        return _save(plt, fig, path)
    cells = []
    for i in wrong[:n]:
        caption = f"{names[y_true[i]]} -> {names[y_pred[i]]}"
        if proba is not None:
            caption += f" ({proba[i, y_pred[i]]:.2f})"
        cells.append({"image": X[i], "caption": caption, "color": "tab:red"})
    return plot_image_grid(cells, path, ncols=ncols, title=head)


def write_misclassified(path, data, loss, outputs, classes):
    """:func:`plot_misclassified` of a run's test set when its samples are images (C, H, W); else nothing.

    Returns the path written, or None.
    """
    if len(data.input_shape) != 3:
        return None
    try:
        proba = loss.proba(outputs)
    except NotImplementedError:
        proba = None
    return plot_misclassified(data.X_test, data.y_test, loss.labels(outputs), classes, path, proba=proba)
