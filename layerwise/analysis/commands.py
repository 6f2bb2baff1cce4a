"""The analysis subcommands of ``layerwise``: check, saliency, attack, dream, time.

Each handler takes the parsed arguments and returns the exit status; errors a user can fix raise a
:class:`~layerwise.errors.LayerwiseError`, which the CLI prints on one line with exit status 2.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import LayerwiseError, MissingDataError
from ..modules.normalization import single_sample_refusal

EXAMPLES = {
    "check": "examples:\n  layerwise check my_layers.py:ScaledTanh --args '{\"features\": 8}'\n"
             "  layerwise check my_layers.py:MyConv --input-shape 2,3,8,8\n  layerwise check --all",
    "saliency": "example:\n  layerwise saliency runs/digits_mlp-20260101-120000 --n 16",
    "attack": "examples:\n  layerwise attack runs/digits_mlp-20260101-120000 --eps 0,0.05,0.1,0.2\n"
              "  layerwise attack runs/digits_mlp-20260101-120000 --eps 0,0.05,0.1 --steps 10",
    "dream": "examples:\n  layerwise dream runs/digits_mlp-20260101-120000\n"
             "  layerwise dream runs/digits_mlp-20260101-120000 --class 3 --from-test 0\n"
             "  layerwise dream runs/digits_mlp-20260101-120000 --layer 2 --unit 0,1,2,3",
    "time": "example:\n  layerwise time configs/digits_mlp.yaml --batch-size 128",
}


def _floats(text, flag="--eps"):
    try:
        values = [float(v) for v in text.split(",")]      # an empty item is an error too (float(""))
    except ValueError:
        raise LayerwiseError(f"{flag}: expected comma-separated numbers such as 0,0.05,0.1; got {text!r}.") from None
    if not values or any(not np.isfinite(v) or v < 0 for v in values):
        raise LayerwiseError(f"{flag}: expected comma-separated numbers >= 0 such as 0,0.05,0.1; got {text!r}.")
    return values


def _ints(text, what, low=0):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or any(v < low for v in values):
        raise LayerwiseError(f"{what} must be comma-separated integers >= {low}, got {text!r}.")
    return values


#: the most samples one picture draws (saliency rows, attack columns): more makes a PNG tens of thousands of
#: pixels long that no viewer shows; attack.json's accuracies cover the whole test set whatever --n is
MAX_DRAWN = 100


def _at_most_drawn(args, run):
    """Images are drawn one per sample (a feature saliency is one bar chart, whatever --n)."""
    if run.is_image and args.n > MAX_DRAWN:
        raise LayerwiseError(f"--n must be <= {MAX_DRAWN} (samples drawn in one picture), got {args.n}.")


def _at_least(args, **lowest):
    """Refuse an option below its lowest value (``n=1``: ``--n`` must be >= 1) before any work.

    argparse checks only that an ``int`` option is an integer; a count of 0 or a negative seed
    would otherwise run and draw an empty picture or fail deep inside NumPy.
    """
    for dest, low in lowest.items():
        value = getattr(args, dest)
        if value is not None and not low <= value < np.inf:      # also refuses NaN and inf
            raise LayerwiseError(f"--{dest.replace('_', '-')} must be >= {low}, got {value}.")


def add_commands(command):
    """Add the analysis subcommands with ``command(name, help) -> parser`` (the CLI's factory)."""
    from ..cli import nonempty_path
    c = command("check", "Gradient-check a module against finite differences, in training and eval mode; "
                "exit 1 when a gradient is wrong.")
    c.add_argument("module", nargs="?", metavar="FILE.py:ClassName", help="the module class to check")
    c.add_argument("--args", default="{}", metavar="JSON", help="the constructor's keyword arguments as JSON")
    c.add_argument("--input-shape", metavar="N,D,...", help="the input's shape (default 4,8)")
    c.add_argument("--all", action="store_true", help="check every registered module")
    c.add_argument("--seed", type=int, default=0)

    s = command("saliency", "Draw the gradient of the predicted class's score with respect to the input.")
    s.add_argument("run_dir", help="a run directory written by 'layerwise train'")
    s.add_argument("--n", type=int, default=16, help="test samples to draw (default 16)")
    s.add_argument("--out", metavar="DIR", type=nonempty_path, help="output folder (default: the run directory)")

    a = command("attack", "Adversarial examples on the test set (FGSM, or PGD with --steps); attack.json and plots.")
    a.add_argument("run_dir", help="a run directory written by 'layerwise train'")
    a.add_argument("--eps", default="0,0.05,0.1,0.2", help="comma-separated eps values (default 0,0.05,0.1,0.2)")
    a.add_argument("--steps", type=int, default=0, help="iterate k projected steps (PGD) instead of one (default 0: FGSM, one step)")
    a.add_argument("--n", type=int, default=10, help="test images per row of the example grid (default 10)")
    a.add_argument("--out", metavar="DIR", type=nonempty_path, help="output folder (default: the run directory)")

    d = command("dream", "Gradient ascent on the input to maximise a class score or a unit; one image each.")
    d.add_argument("run_dir", help="a run directory written by 'layerwise train'")
    d.add_argument("--class", dest="classes", metavar="C[,C...]", help="classes (default: all)")
    d.add_argument("--layer", metavar="L", help="a module path from the model summary, such as 2 or 3.1")
    d.add_argument("--unit", metavar="U[,U...]", help="units of --layer (default: the first 10)")
    d.add_argument("--from-test", type=int, metavar="INDEX", help="start from this test image instead of noise")
    d.add_argument("--steps", type=int, default=200, help="ascent steps (default 200)")
    d.add_argument("--lr", type=float, default=0.01, help="step size per input value, in RMS units (default 0.01)")
    d.add_argument("--l2", type=float, default=1.0,
                   help="weight of the pull towards the mean training input (default 1.0; 0 turns it off)")
    d.add_argument("--jitter", type=int, default=None,
                   help="random shift of up to this many pixels per step (images only; default 1)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", metavar="DIR", type=nonempty_path, help="output folder (default: the run directory)")

    t = command("time", "Forward and backward time of each layer for one batch, in float32 and float64.")
    t.add_argument("config", help="the YAML config file")
    t.add_argument("--batch-size", type=int, help="default: the config's training.batch_size")
    t.add_argument("--repeats", type=int, default=20, help="steps timed; medians are shown (default 20)")
    for q in (s, a, d, t):
        q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (for example data.path); repeatable")
    for name, q in (("check", c), ("saliency", s), ("attack", a), ("dream", d), ("time", t)):
        q.epilog = EXAMPLES[name]


def _out(args):
    out = Path(args.out or args.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- check --------------------------------------------------------------------------------------
def run_check(args):
    import sys
    from .check import check_all, check_class, format_results, load_class
    if args.all == bool(args.module):
        raise LayerwiseError("check takes FILE.py:ClassName or --all (one of them). "
                             "Example: layerwise check my_layers.py:ScaledTanh")
    _at_least(args, seed=0)
    if args.all:
        results = list(check_all(seed=args.seed).values())
    else:
        try:
            kwargs = json.loads(args.args)
        except json.JSONDecodeError as e:
            raise LayerwiseError(f"--args must be a JSON object such as '{{\"features\": 8}}': {e}.") from None
        if not isinstance(kwargs, dict):
            raise LayerwiseError(f"--args must be a JSON object such as '{{\"features\": 8}}', got {args.args!r}.")
        shape = tuple(_ints(args.input_shape, "--input-shape", 1)) if args.input_shape is not None else None
        results = [check_class(load_class(args.module), kwargs=kwargs, input_shape=shape, seed=args.seed)]
    print(format_results(results))
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"layerwise: check in {r.failure.mode} mode: {r.failure}", file=sys.stderr)
    if not bad:
        print(f"all gradients match finite differences ({len(results)} module{'s' if len(results) > 1 else ''}, "
              "training and eval mode)")
    return 1 if bad else 0


# -- saliency, attack, dream --------------------------------------------------------------------
def run_saliency(args):
    from .runs import first_per_class, load_run
    from .saliency import plot_feature_saliency, plot_saliency, saliency
    _at_least(args, n=1)
    r = load_run(args.run_dir, overrides=args.overrides, command="saliency").require_classification("saliency")
    _at_most_drawn(args, r)
    d = r.data
    idx = first_per_class(d.y_test, args.n, d.n_classes)
    grad, predicted = saliency(r.model, d.X_test[idx], labels=r.loss.labels)
    out = _out(args) / "saliency.png"
    if r.is_image:
        plot_saliency(d.X_test[idx], grad, predicted, d.y_test[idx], r.classes, out,
                      title=f"{r.config.name}: saliency |d score(predicted) / d input|")
    else:
        plot_feature_saliency(grad, out, title=f"{r.config.name}: mean |d score(predicted) / d input|")
    print(f"saliency of {len(idx)} test samples -> {out}")
    return 0


def run_attack(args):
    from .adversarial import attack, plot_attack_accuracy
    from .images import plot_image_grid
    from ..checkpoint import atomic_write
    from .runs import first_per_class, load_run
    eps_values = _floats(args.eps)
    _at_least(args, steps=0, n=1)
    r = load_run(args.run_dir, overrides=args.overrides, command="attack").require_classification("attack")
    _at_most_drawn(args, r)
    d, out = r.data, _out(args)
    name = f"PGD, {args.steps} steps" if args.steps > 1 else "FGSM"
    order = first_per_class(d.y_test, args.n, d.n_classes)       # shown first, then the rest
    rest = np.setdiff1d(np.arange(len(d.y_test)), order)
    X, y = d.X_test[np.r_[order, rest]], d.y_test[np.r_[order, rest]]
    lo, hi = r.value_range
    result = attack(r.model, r.loss, X, y, eps_values, steps=args.steps, clip=(lo, hi), keep=len(order))
    bounds = [float(r.raw(lo).min()), float(r.raw(hi).max())]   # the widest, in the data's units; each value its own
    record = {"accuracy": {repr(e): a for e, a in result["accuracy"].items()}, "attack": name.split(",")[0].lower(),
              "steps": max(args.steps, 1), "clip": bounds, "n_test": int(len(y))}
    (out / "attack.json").unlink(missing_ok=True)       # an earlier attack's: it would vouch for these pictures
    plot_attack_accuracy({name: result["accuracy"]}, out / "attack_accuracy.png",
                         title=f"{r.config.name}: test accuracy under {name}")
    names = [str(c) for c in r.classes]
    if r.is_image:      # drawn in the images' own units: the normalization undone
        cells, labels, (raw_lo, raw_hi) = [], [], bounds
        for eps, (xs, ps) in result["examples"].items():
            labels.append(f"eps {eps:g}")
            cells += [{"image": r.raw(xs[i]), "caption": names[ps[i]], "vmin": raw_lo, "vmax": raw_hi,
                       "color": "black" if ps[i] == y[i] else "tab:red"} for i in range(len(xs))]
        plot_image_grid(cells, out / "attack_examples.png", ncols=len(order), row_labels=labels,
                        title=f"{name}: predictions on perturbed test images (red: wrong)")
    # the record last: stopped before it (Ctrl-C in the plots), no attack.json says the pictures are complete
    atomic_write(out / "attack.json", json.dumps(record, indent=2) + "\n")
    width = max(len(k) for k in record["accuracy"])
    where = "the pixels' range" if r.is_image else "each feature's training range"
    print(f"{name} on {len(y)} test samples, inputs clipped to {where} ([{bounds[0]:g}, {bounds[1]:g}] in the data's "
          "units, at the widest; never by more than eps)")
    for k, v in record["accuracy"].items():
        print(f"  eps {k:<{width}}  accuracy {v:.4f}")
    print(f"-> {out / 'attack.json'}, attack_accuracy.png{', attack_examples.png' if r.is_image else ''}")
    return 0


def run_dream(args):
    from ..checkpoint import atomic_write
    from .dream import dream, truncate
    from .images import plot_image_grid
    from .runs import load_run
    if (args.unit is not None) and args.layer is None:
        raise LayerwiseError("--unit needs --layer (the module whose unit to maximise).")
    if args.layer is not None and args.classes is not None:
        raise LayerwiseError("give either --class or --layer, not both.")
    given_jitter = args.jitter is not None
    args.jitter = 1 if args.jitter is None else args.jitter
    _at_least(args, steps=0, jitter=0, seed=0, l2=0)
    if not 0 < args.lr < np.inf:
        raise LayerwiseError(f"--lr must be > 0, got {args.lr}.")
    r = load_run(args.run_dir, overrides=args.overrides, command="dream").require_classification("dream")
    d = r.data
    if given_jitter and args.jitter and len(d.input_shape) != 3:
        raise LayerwiseError(f"--jitter shifts images (C, H, W), but this run's samples have shape {d.input_shape}: "
                             "leave it out.")
    lo, hi = r.value_range
    mean = d.X_train.mean(axis=0)
    if args.layer is not None:
        try:
            probe = truncate(r.model, args.layer).forward(d.X_test[:1])
        except ValueError as e:
            raise LayerwiseError(f"--layer: {e}") from None
        units = _ints(args.unit, "--unit") if args.unit is not None else list(range(min(10, probe.shape[1])))
        if max(units) >= probe.shape[1]:
            raise LayerwiseError(f"--unit {max(units)}: layer {args.layer} has {probe.shape[1]} units (0 to "
                                 f"{probe.shape[1] - 1}).")
        targets = [("unit", u) for u in units]
    else:
        classes = _ints(args.classes, "--class") if args.classes is not None else list(range(d.n_classes))
        if max(classes) >= d.n_classes:
            raise LayerwiseError(f"--class {max(classes)}: the model has {d.n_classes} classes (0 to {d.n_classes - 1}).")
        targets = [("class", c) for c in classes]
    if args.from_test is not None:
        if not 0 <= args.from_test < len(d.X_test):
            raise LayerwiseError(f"--from-test must be in 0..{len(d.X_test) - 1}, got {args.from_test}.")
        x0 = np.repeat(d.X_test[args.from_test:args.from_test + 1], len(targets), axis=0)
    else:   # the mean training input plus a little noise
        noise = np.random.default_rng(args.seed).normal(size=(len(targets), *d.input_shape)) * (0.05 * (hi - lo))
        x0 = np.clip(mean + noise, lo, hi).astype(d.X_test.dtype)
    kw = dict(steps=args.steps, lr=args.lr, l2=args.l2, jitter=args.jitter, clip=(lo, hi), ref=mean, seed=args.seed)
    if args.layer is None:   # classes in one batch; units one by one (each its own objective)
        x, before, after = dream(r.model, x0, classes=[v for _, v in targets], **kw)
    else:
        parts = [dream(r.model, x0[i:i + 1], layer=args.layer, unit=u, **kw) for i, (_, u) in enumerate(targets)]
        x, before, after = (np.concatenate(p) for p in zip(*parts))
    names = [str(c) for c in r.classes]
    label = (lambda v: f"class {names[v]}") if args.layer is None else (lambda v: f"unit {v}")
    out = _out(args)
    record = {"target": "class" if args.layer is None else f"layer {args.layer}",
              "start": "noise" if args.from_test is None else f"test image {args.from_test}",
              "scores": [{"target": label(v), "before": float(b), "after": float(a)}
                         for (_, v), b, a in zip(targets, before, after)]}
    (out / "dream.json").unlink(missing_ok=True)        # an earlier dream's: it would vouch for this picture
    if r.is_image:
        raw_lo, raw_hi = r.raw(lo).min(), r.raw(hi).max()      # drawn in the images' own units
        cells = [{"image": r.raw(x[i]), "caption": f"{label(v)}\n{before[i]:.2g} -> {after[i]:.3g}",
                  "vmin": raw_lo, "vmax": raw_hi} for i, (_, v) in enumerate(targets)]
        plot_image_grid(cells, out / "dream.png", ncols=min(len(cells), 10),
                        title=f"{r.config.name}: inputs that maximise each {'class score' if args.layer is None else 'unit'}")
    atomic_write(out / "dream.json", json.dumps(record, indent=2) + "\n")     # the record last, as attack's
    for s in record["scores"]:
        print(f"  {s['target']:<10} score {s['before']:.4g} -> {s['after']:.4g}")
    print(f"-> {out / 'dream.json'}{', dream.png' if r.is_image else ''}")
    return 0


# -- time ---------------------------------------------------------------------------------------
def run_time(args):
    from .. import run
    from ..config import load_config
    from ..data import KNOWN_SHAPES
    from .timing import format_timing, time_both
    _at_least(args, batch_size=1, repeats=1)
    config = load_config(args.config, args.overrides)
    bs = args.batch_size or config.training.batch_size
    rng = np.random.default_rng(config.seed)
    stand_in = ""
    try:
        data = run.load_data(config)
        shape = data.input_shape
    except MissingDataError:    # files not there (not fetched, or no mirror answered for them): random images
        # of the shape; damaged files, or a copy whose sha256 is not the published one, are an error
        if config.data.dataset not in KNOWN_SHAPES:
            raise
        shape, n_classes = KNOWN_SHAPES[config.data.dataset]
        stand_in = f" (random images: {config.data.dataset}'s files are not here)"
        data = SimpleNamespace(input_shape=shape, n_classes=n_classes)
    # the batch it times is judged, not the config's: its memory before any of it is made
    model, trainer = run.build(config, data, training=False, batch=(bs, "--batch-size" if args.batch_size else None))
    if stand_in:
        x, y = rng.random((bs, *shape)), rng.integers(0, data.n_classes, bs)
    else:
        rows = np.arange(bs) % len(data.X_train)   # the first training samples, repeated if too few
        x, y = data.X_train[rows], data.y_train[rows]
    refusal = single_sample_refusal(model, bs, "--batch-size 1 times a training step on one sample")
    if refusal:
        raise LayerwiseError(refusal)
    results = time_both(model, trainer.loss, x, y, repeats=args.repeats)
    print(f"{config.name}: one training step on a batch of {bs} samples of shape {tuple(shape)}{stand_in}, median "
          f"of {args.repeats} steps")
    print(format_timing(results))
    return 0


HANDLERS = {"check": run_check, "saliency": run_saliency, "attack": run_attack, "dream": run_dream,
            "time": run_time}
