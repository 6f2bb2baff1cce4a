"""The gradient with respect to the input, asked for per call, with the model left as it was found.

Saliency maps, adversarial examples and dreams all differentiate a scalar of the model's output with
respect to the data. The model's backward adds into its parameter gradients on the way; the context
:func:`untouched` restores them (and every module's train/eval mode) afterwards, so these tools can
be called in the middle of training without disturbing it.
"""

import contextlib

import numpy as np

from ..modules.evaluation import modes_kept


@contextlib.contextmanager
def untouched(model, *, training=False):
    """Run the body in eval mode (or training mode); restore the modes and the gradients after."""
    grads = [(g, g.copy()) for _, m in model.named_modules() for g in m.grads.values()]
    try:
        with modes_kept(model, training):
            yield model
    finally:
        for g, saved in grads:
            g[...] = saved


def input_gradient(model, x, upstream):
    """``(y, dL/dx)`` where ``y = model.forward(x)`` and ``dL/dy = upstream(y)``.

    ``model.backward`` computes ``dL/dx`` unless told ``input_grad=False``; the parameter gradients
    it adds are left for the caller to discard (see :func:`untouched`).
    """
    y = model.forward(x)
    grad_x = model.backward(np.asarray(upstream(y), dtype=y.dtype))
    if grad_x is None:
        raise TypeError(f"{type(model).__name__}.backward returned None: it must return dL/dx.")
    return y, grad_x


def class_score_upstream(y, classes):
    """``dS/dy`` for the score ``S = sum_n y[n, classes[n]]``: a one-hot row per sample.

    A single-output model (binary) scores class 1 as ``y`` and class 0 as ``-y``.
    """
    g = np.zeros_like(y)
    rows = np.arange(len(y))
    if y.ndim == 2 and y.shape[1] == 1:
        g[rows, 0] = np.where(np.asarray(classes) == 1, 1.0, -1.0)
    else:
        g[rows, classes] = 1.0
    return g


def class_scores(y, classes):
    """The scores :func:`class_score_upstream` differentiates, one per sample."""
    rows = np.arange(len(y))
    if y.ndim == 2 and y.shape[1] == 1:
        return np.where(np.asarray(classes) == 1, y[:, 0], -y[:, 0])
    return y[rows, classes]
