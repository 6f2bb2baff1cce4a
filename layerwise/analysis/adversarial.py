"""Adversarial examples: the fast gradient sign method (Goodfellow, Shlens and Szegedy, 2014) and its
iterated, projected version (PGD; Madry et al., 2017).

FGSM moves every input value by ``eps`` in the direction that increases the loss:
``x_adv = clip(x + eps * sign(dL/dx))``. PGD takes ``steps`` such moves of ``alpha`` each and projects
back onto the box ``|x_adv - x| <= eps`` (and the data's range) after each one. ``eps`` is in the model's
input units, after the normalization (for images scaled to [0, 1]: a fraction of the pixel maximum). The
data's range never moves a value by more than ``eps``: a value outside it may stay where it is.
"""

import numpy as np

from .gradients import input_gradient, untouched
from .plots import _figure, _save


def loss_input_gradient(model, loss, x, y):
    """``(outputs, dL/dx)`` of the model's loss on ``(x, y)`` (eval mode; gradients restored)."""
    with untouched(model):
        def upstream(out):
            loss.forward(out, loss.targets(y, out.shape[-1]))
            return loss.backward()
        return input_gradient(model, x, upstream)


def fgsm(model, loss, x, y, eps, *, clip=None):
    """``clip(x + eps * sign(dL/dx))``; ``clip`` is ``(low, high)`` of the data, numbers or arrays that broadcast
    against one sample (None: no clipping)."""
    x = np.asarray(x)
    if eps == 0:
        return x.copy()
    _, grad = loss_input_gradient(model, loss, x, y)
    adv = x + np.asarray(eps, x.dtype) * np.sign(grad).astype(x.dtype)
    if clip is None:
        return adv
    return np.clip(adv, np.minimum(clip[0], x), np.maximum(clip[1], x))   # (a value outside the range stays)


def pgd(model, loss, x, y, eps, *, steps=10, step_size=None, clip=None):
    """``steps`` signed-gradient steps of ``step_size`` (default ``2.5 * eps / steps``), each projected
    onto ``|x_adv - x| <= eps`` and the data's range. Starts at ``x`` (no random start: deterministic)."""
    x = np.asarray(x)
    if eps == 0:
        return x.copy()
    alpha = np.asarray(2.5 * eps / steps if step_size is None else step_size, x.dtype)
    lo, hi = x - np.asarray(eps, x.dtype), x + np.asarray(eps, x.dtype)
    if clip is not None:
        lo, hi = np.maximum(lo, np.minimum(clip[0], x)), np.minimum(hi, np.maximum(clip[1], x))
    adv = x.copy()
    for _ in range(steps):
        _, grad = loss_input_gradient(model, loss, adv, y)
        adv += alpha * np.sign(grad).astype(x.dtype)
        np.clip(adv, lo, hi, out=adv)
    return adv


def attack(model, loss, X, y, eps_values, *, steps=0, batch_size=512, clip=None, keep=0):
    """Accuracy on ``(X, y)`` under FGSM (``steps`` 0 or 1) or PGD (``steps`` > 1) for each eps.

    Returns
    -------
    dict
        ``{"accuracy": {eps: float}, "examples": {eps: (x_adv[:keep], predicted[:keep])}}``.
    """
    accuracy, examples = {}, {}
    for eps in eps_values:
        correct, kept_x, kept_p = 0, [], []
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            if steps > 1:
                adv = pgd(model, loss, xb, yb, eps, steps=steps, clip=clip)
            else:
                adv = fgsm(model, loss, xb, yb, eps, clip=clip)
            with untouched(model):
                predicted = loss.labels(model.forward(adv))
            correct += int(np.count_nonzero(predicted == yb))
            if start < keep:
                kept_x.append(adv[:keep - start])
                kept_p.append(predicted[:keep - start])
        accuracy[eps] = correct / max(len(X), 1)
        if keep:
            examples[eps] = (np.concatenate(kept_x), np.concatenate(kept_p))
    return {"accuracy": accuracy, "examples": examples}


def plot_attack_accuracy(accuracy, path, *, title=None):
    """Test accuracy against eps, one line per attack: ``accuracy`` maps a label to ``{eps: acc}``."""
    plt, (fig, ax) = _figure(figsize=(5.5, 4))
    for label, curve in accuracy.items():
        eps = sorted(curve)
        ax.plot(eps, [curve[e] for e in eps], marker="o", label=label)
    ax.set(xlabel="eps (max change of an input value)", ylabel="test accuracy", ylim=(-0.02, 1.02),
           title=title or "accuracy under attack")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)
