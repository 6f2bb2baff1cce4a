"""Saliency maps (Simonyan, Vedaldi and Zisserman, 2013): the gradient of a class score with respect to the input.

The score is the model's output for the class, ``S_c(x) = y_c``: the logit when the model gives logits (a
loss such as cross_entropy applies the softmax), the probability when the model itself ends in a softmax
or sigmoid layer (bce). Its
gradient ``dS_c/dx`` is one backward pass with the upstream gradient ``e_c`` (one-hot), which
layerwise's explicit backward gives directly: ``model.backward(e_c)`` returns ``dL/dx``. The map
drawn for an image is ``max over channels |dS_c/dx|``.
"""

import numpy as np

from .gradients import class_score_upstream, input_gradient, untouched
from .images import plot_image_grid
from .plots import _figure, _save


def saliency(model, x, *, classes=None, labels=None):
    """``dS_c/dx`` for each sample of ``x`` and the class ``c`` it was taken for.

    Parameters
    ----------
    model : Module
    x : ndarray of shape (N, ...)
    classes : array of int (N,), optional
        The class whose score is differentiated for each sample; default the predicted one.
    labels : callable, optional
        Model outputs -> predicted classes (a loss's ``labels``); default argmax.

    Returns
    -------
    grad : ndarray, the shape of ``x``
    classes : ndarray of int (N,)
        The classes used (the predictions unless given).

    Notes
    -----
    Runs in eval mode; the model's modes and parameter gradients are as before afterwards.
    """
    x = np.asarray(x)
    with untouched(model):
        if classes is None:
            out = model.forward(x)
            classes = labels(out) if labels is not None else out.argmax(axis=1)
        classes = np.asarray(classes, dtype=np.int64)
        _, grad = input_gradient(model, x, lambda y: class_score_upstream(y, classes))
    return grad, classes


def saliency_map(grad):
    """The picture of a gradient: ``|grad|`` reduced over channels with a max, (N, H, W) for images."""
    a = np.abs(grad)
    return a.max(axis=1) if a.ndim == 4 else a


def plot_saliency(x, grad, predicted, true, class_names, path, *, ncols=4, title=None):
    """Pairs of cells: the image with ``pred / true`` labels, then its ``|gradient|`` map (PNG)."""
    names = [str(c) for c in class_names]
    maps = saliency_map(grad)
    cells = []
    for i in range(len(x)):
        ok = predicted[i] == true[i]
        cells.append({"image": x[i], "caption": f"pred {names[predicted[i]]} / true {names[true[i]]}",
                      "color": "black" if ok else "tab:red"})
        cells.append({"image": maps[i], "caption": "|dS/dx|", "cmap": "hot", "vmin": 0})
    return plot_image_grid(cells, path, ncols=2 * ncols, title=title or "saliency: |d score(predicted) / d input|")


def plot_feature_saliency(grad, path, *, feature_names=None, title=None):
    """For non-image data: the mean ``|dS/dx|`` of each feature over the samples, as bars (PNG)."""
    flat = np.abs(grad).reshape(len(grad), -1).mean(axis=0)
    names = feature_names or [str(i) for i in range(flat.size)]
    plt, (fig, ax) = _figure(figsize=(max(5, 0.25 * flat.size + 2), 3.5))
    ax.bar(np.arange(flat.size), flat, color="tab:orange")
    ax.set(xlabel="feature", ylabel="mean |dS/dx|", title=title or "saliency per input feature")
    if flat.size <= 40:
        ax.set_xticks(np.arange(flat.size), names, rotation=90, fontsize=7)
    return _save(plt, fig, path)
