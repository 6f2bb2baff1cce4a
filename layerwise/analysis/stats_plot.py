"""``layer_stats.png``: Glorot and Bengio's figure 2 and the gradients behind it, from layer statistics rows."""

import numpy as np

from .plots import _figure, _save


def _series(rows, key):
    """``{layer: (x, values)}`` for rows that carry ``key``, in order of first appearance."""
    out = {}
    for r in rows:
        if key in r and r[key] is not None and np.isfinite(r[key]):
            x = r["epoch"] if r.get("epoch") is not None else r["step"]
            xs, vs = out.setdefault((r["layer"], r["type"]), ([], []))
            xs.append(x)
            vs.append(r[key])
    return {k: (np.array(x), np.array(v)) for k, (x, v) in out.items()}


def _label(layer, kind):
    return f"layer {layer} ({kind})"


def plot_layer_stats(rows, path, *, title=None):
    """Four panels against training time, one line per layer.

    Top left, Glorot and Bengio (2010) figure 2: the mean of each activation layer's output with a
    band of one standard deviation. Top right: the fraction of saturated (sigmoid, tanh) or dead
    (ReLU) units. Bottom: the norm of the back-propagated gradient ``dL/dy`` at the output of each
    layer with parameters, and the size of each update relative to the weights (log scales).
    Activation layers are those with a unit rule (:data:`~layerwise.analysis.stats.UNIT_RULES`); when
    a model has none, every layer without parameters is drawn.
    """
    have_params = {r["layer"] for r in rows if "param_norm" in r}
    units = {r["layer"] for r in rows if "saturated" in r or "dead" in r}
    act_layers = units or ({r["layer"] for r in rows} - have_params)
    uses_epochs = any(r.get("epoch") is not None for r in rows)
    plt, (fig, axes) = _figure(2, 2, figsize=(11, 7.5))
    (a_act, a_unit), (a_grad, a_upd) = axes
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    means, stds = _series(rows, "act_mean"), _series(rows, "act_std")
    for i, (key, (x, m)) in enumerate((k, v) for k, v in means.items() if k[0] in act_layers):
        c = colors[i % len(colors)]
        s = stds[key][1]
        a_act.plot(x, m, color=c, label=_label(*key), lw=1.4)
        a_act.fill_between(x, m - s, m + s, color=c, alpha=0.15, lw=0)
    a_act.set(title="activations: mean and one standard deviation", ylabel="output value")

    for key_name, style in (("saturated", "-"), ("dead", "--")):
        for i, (key, (x, v)) in enumerate(_series(rows, key_name).items()):
            a_unit.plot(x, v, style, color=colors[i % len(colors)], label=f"{_label(*key)} {key_name}")
    a_unit.set(title="saturated (sigmoid, tanh) or dead (ReLU) units", ylabel="fraction of units",
               ylim=(-0.02, 1.02))

    for ax, column, name in ((a_grad, "grad_norm", "back-propagated gradient ||dL/dy||"),
                             (a_upd, "update_ratio", "update size / weight size")):
        for i, (key, (x, v)) in enumerate((k, v) for k, v in _series(rows, column).items() if k[0] in have_params):
            ax.plot(x, v, color=colors[i % len(colors)], label=_label(*key), lw=1.2)
        ax.set(title=f"{name} per layer with parameters", yscale="log")
    for ax in axes.flat:
        ax.set_xlabel("epochs" if uses_epochs else "step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)
