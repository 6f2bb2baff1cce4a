"""Dreams: gradient ascent on the input to maximise a class score or one unit's activation.

This is Erhan et al.'s (2009) activation maximisation, the idea behind DeepDream: start from noise
(or a test image) and follow ``dS/dx``, where ``S`` is the class's output (logit) or a unit's
activation, minus a small L2 penalty ``l2 * ||x - x_ref||^2`` that keeps the image plausible. Each
step shifts the image by a random jitter of up to ``jitter`` pixels before the forward pass and shifts
the gradient back, so that the result does not lock onto single pixels.
"""

import numpy as np

from ..modules import Sequential
from .gradients import class_score_upstream, class_scores, input_gradient, untouched


def truncate(model, layer):
    """The model up to and including the module at path ``layer`` (``"3"`` or ``"2.1"``), sharing its modules.

    Needs a Sequential on the way down (as every config-built model is).
    """
    parts = [p for p in str(layer).strip(".").split(".") if p != ""]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"A layer is a path such as '3' or '2.1' (see the model summary). Got {layer!r} instead.")
    i, rest = int(parts[0]), parts[1:]
    if not isinstance(model, Sequential):
        raise ValueError(f"Only a Sequential can be cut at layer {layer!r}; {type(model).__name__} cannot.")
    if i >= len(model):
        raise ValueError(f"Layer {layer!r} does not exist: the model has {len(model)} modules (0 to {len(model) - 1}).")
    if not rest:
        return Sequential(*model.modules[:i + 1])
    inner = model.modules[i]
    if not isinstance(inner, Sequential):
        inside = "is not a Sequential, so it cannot be cut inside" if inner.children() else "has no modules inside it"
        raise ValueError(f"Layer {layer!r} cannot be cut: module {i} ({type(inner).__name__}) {inside}; give '{i}' "
                         "itself, or a path from the model summary.")
    return Sequential(*model.modules[:i], truncate(inner, ".".join(rest)))


def unit_upstream(y, unit):
    """``dS/dy`` for ``S = sum_n mean(y[n, unit])``: a unit is a column, or a channel of a feature map."""
    g = np.zeros_like(y)
    g[:, unit] = 1.0 / max(int(np.prod(y.shape[2:])), 1)
    return g


def unit_scores(y, unit):
    return y[:, unit].reshape(len(y), -1).mean(axis=1)


def dream(model, x0, *, classes=None, layer=None, unit=None, steps=200, lr=0.05, l2=1e-3, jitter=1,
          clip=None, ref=None, seed=0):
    """Gradient ascent on a batch of inputs; returns ``(x, scores_before, scores_after)``.

    Parameters
    ----------
    model : Module
    x0 : ndarray (N, ...)
        Starting inputs (noise or test images).
    classes : array of int (N,), optional
        Maximise the output of ``classes[n]`` for sample ``n``.
    layer, unit : str and int, optional
        Instead, maximise unit ``unit`` of the module at path ``layer`` (its mean over a feature map).
    steps : int
    lr : float
        Each step moves ``x`` by ``lr`` times the gradient scaled to unit RMS per sample.
    l2 : float
        Weight of the L2 penalty ``l2 * ||x - ref||^2``.
    jitter : int
        Largest random shift (pixels) per step, for image inputs (N, C, H, W); 0 turns it off.
    clip : (low, high), optional
        The data's range.
    ref : ndarray, optional
        What the penalty pulls towards (broadcast to ``x0``), such as the mean training image; default ``x0``.
    """
    if (classes is None) == (layer is None):
        raise ValueError("dream needs either classes or a layer and a unit.")
    if layer is not None:
        net = truncate(model, layer)
        upstream, scores = (lambda y: unit_upstream(y, unit)), (lambda y: unit_scores(y, unit))
    else:
        net = model
        classes = np.asarray(classes, dtype=np.int64)
        upstream, scores = (lambda y: class_score_upstream(y, classes)), (lambda y: class_scores(y, classes))
    rng = np.random.default_rng(seed)
    x = np.array(x0, copy=True)
    ref = x.copy() if ref is None else np.asarray(ref, dtype=x.dtype)
    image = x.ndim == 4 and jitter > 0
    with untouched(model):
        before = scores(net.forward(x))
        for _ in range(steps):
            dy, dx = rng.integers(-jitter, jitter + 1, size=2) if image else (0, 0)
            shifted = np.roll(x, (dy, dx), axis=(2, 3)) if image else x
            _, grad = input_gradient(net, shifted, upstream)
            if image:
                grad = np.roll(grad, (-dy, -dx), axis=(2, 3))
            grad = grad - 2 * l2 * (x - ref)
            rms = np.sqrt(np.mean(grad.reshape(len(x), -1) ** 2, axis=1)) + 1e-12
            x += (lr / rms).reshape(-1, *[1] * (x.ndim - 1)).astype(x.dtype) * grad.astype(x.dtype)
            if clip is not None:
                np.clip(x, *clip, out=x)
        after = scores(net.forward(x))
    return x, before, after
