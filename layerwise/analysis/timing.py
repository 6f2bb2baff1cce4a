"""``layerwise time``: forward and backward time of each layer for one batch, as ``caffe time`` prints.

Times come from the module hooks: each layer's forward lasts from the end of the previous layer's
forward (or the start of the pass) to its own forward hook, and likewise backward in reverse. Any
model is covered; in a model that is not a plain chain the split between siblings is approximate.
The backward pass is the trainer's: ``input_grad=False``, so layers before the first one with
parameters do not run backward at all.
"""

import copy
import time

import numpy as np

from ..modules.base import backward_without_input_grad


def _leaves(model):
    return [(name.rstrip("."), m) for name, m in model.named_modules() if name and not m.children()]


def time_layers(model, loss, x, y, *, repeats=20, warmup=3):
    """Median seconds per layer for forward and backward, and for the loss and the update.

    Parameters
    ----------
    model : Module
        With an optimizer set; it is trained on ``(x, y)`` for ``repeats + warmup`` steps.
    loss : Loss
    x, y : one batch of inputs and labels

    Returns
    -------
    dict
        ``{"layers": [(name, type, forward_s, backward_s)], "loss": (forward_s, backward_s),
        "update": s, "step": s, "wall": s}``, every figure a median over ``repeats`` steps; ``step``
        is the sum of the parts, ``wall`` the median time of a whole step (hooks included).

    Notes
    -----
    The timing hooks keep Sequential from running a ReLU -> MaxPool2d pair pool first, so each layer
    is timed in the written order: such a pair costs a little more here than in training.
    """
    leaves = _leaves(model)
    events = []
    clock = time.perf_counter
    hooks = []
    for name, m in leaves:
        hooks.append(m.register_forward_hook(lambda mod, a, b, name=name: events.append(("f", name, clock()))))
        hooks.append(m.register_backward_hook(lambda mod, a, b, name=name: events.append(("b", name, clock()))))
    samples = {"loss_forward": [], "loss_backward": [], "update": [], "step": []}
    per_layer = {name: ([], []) for name, _ in leaves}
    model.train()
    try:
        for k in range(warmup + repeats):
            events.clear()
            t0 = clock()
            out = model.forward(x)
            t1 = clock()
            loss.forward(out, loss.targets(y, out.shape[-1]))
            t_loss = clock()
            grad = loss.backward()
            t2 = clock()
            backward_without_input_grad(model, grad)
            t3 = clock()
            model.update()
            t4 = clock()
            if k < warmup:
                continue
            starts = {"f": t0, "b": t2}
            seen = {name: [0.0, 0.0] for name, _ in leaves}
            for kind, name, t in events:
                seen[name][kind == "b"] += t - starts[kind]
                starts[kind] = t
            for name, (f, b) in seen.items():
                per_layer[name][0].append(f)
                per_layer[name][1].append(b)
            samples["loss_forward"].append(t_loss - t1)
            samples["loss_backward"].append(t2 - t_loss)
            samples["update"].append(t4 - t3)
            samples["step"].append(t4 - t0)
    finally:
        for h in hooks:
            h.remove()
    med = lambda v: float(np.median(v)) if v else 0.0
    layers = [(name, type(m).__name__, med(per_layer[name][0]), med(per_layer[name][1])) for name, m in leaves]
    out = {"layers": layers, "loss": (med(samples["loss_forward"]), med(samples["loss_backward"])),
           "update": med(samples["update"]), "wall": med(samples["step"])}
    # the shares add up to 100% only against the sum of the parts' medians (on a busy machine the
    # median step need not be the sum of the median parts)
    out["step"] = sum(f + b for _, _, f, b in layers) + sum(out["loss"]) + out["update"]
    return out


def time_both(model, loss, x, y, *, repeats=20, warmup=3):
    """:func:`time_layers` in float32 and in float64 (copies of ``model``): ``{"float32": ..., "float64": ...}``."""
    out = {}
    for dtype in (np.float32, np.float64):
        m = copy.deepcopy(model).astype(dtype)
        out[np.dtype(dtype).name] = time_layers(m, loss, x.astype(dtype), y, repeats=repeats, warmup=warmup)
    return out


def format_timing(results):
    """A table: layer, type, then forward ms, backward ms and share of the step per dtype."""
    dtypes = list(results)
    first = results[dtypes[0]]
    head = ["layer", "type"] + [f"{h} {d}" for d in dtypes for h in ("fwd ms", "bwd ms", "share")]
    rows = []

    def cells(r, f, b):
        step = r["step"] or float("nan")
        ms = lambda t: "" if t is None else f"{t * 1e3:.3f}"
        return [ms(f), ms(b), f"{((f or 0) + (b or 0)) / step:.1%}"]

    for i, (name, kind, _, _) in enumerate(first["layers"]):
        row = [name, kind]
        for d in dtypes:
            _, _, f, b = results[d]["layers"][i]
            row += cells(results[d], f, b)
        rows.append(row)
    rows.append(["loss", ""] + [c for d in dtypes for c in cells(results[d], *results[d]["loss"])])
    rows.append(["update", ""] + [c for d in dtypes for c in cells(results[d], results[d]["update"], None)])
    total = ["step", ""]
    for d in dtypes:
        total += [f"{results[d]['step'] * 1e3:.3f}", "", "100%"]
    widths = [max(len(r[j]) for r in rows + [head, total]) for j in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths)))
    rule = "-" * len(fmt(head))
    wall = ", ".join(f"{results[d]['wall'] * 1e3:.3f} ms in {d}" for d in dtypes)
    return "\n".join([fmt(head), rule, *map(fmt, rows), rule, fmt(total),
                      f"step: the sum of the medians above; a whole step timed at once (median): {wall}"])
