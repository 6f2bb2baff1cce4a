"""The ``layerwise`` command: a thin shell over :mod:`layerwise.run`.

Errors a user can fix (config, data, diverged training) print one line to stderr and exit 2;
Ctrl-C exits 130 after saying how to resume. A traceback means a bug in layerwise.
"""

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from . import __version__
from .errors import DataError, LayerwiseError

EXAMPLES = {
    "train": "examples:\n  layerwise train configs/digits_mlp.yaml\n"
             "  layerwise train configs/digits_mlp.yaml --out runs/try1 --set optimizer.lr=0.05 --set training.epochs=5\n"
             "  layerwise train --resume runs/try1 --set training.epochs=40",
    "evaluate": "example:\n  layerwise evaluate runs/try1\n"
                "  layerwise evaluate runs/mnist --set data.path=/data/mnist",
    "compare": "examples:\n  layerwise compare configs/digits_mlp.yaml\n"
               "  layerwise compare configs/digits_mlp.yaml --out runs/cmp --set training.epochs=10",
    "validate": "example:\n  layerwise validate configs/digits_mlp.yaml --set model.layers.1.units=256",
}


def _parser():
    p = argparse.ArgumentParser(
        prog="layerwise", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train and compare NumPy networks from YAML configs.",
        epilog="examples:\n  layerwise train configs/digits_mlp.yaml\n  layerwise validate configs/mnist_mlp.yaml\n"
               "  layerwise evaluate runs/digits_mlp-20260101-120000\n\n'layerwise COMMAND --help' for more.")
    p.add_argument("--version", action="version", version=f"layerwise {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, help_):
        return sub.add_parser(name, help=help_, description=help_, epilog=EXAMPLES.get(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def overrides(q):
        q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (dotted, list items by index; value parsed as YAML); repeatable")

    t = command("train", "Train the model a YAML config describes and write a run directory.")
    t.add_argument("config", nargs="?", help="the YAML config file")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    t.add_argument("--out", metavar="DIR", help="run directory (default runs/<name>-<timestamp>/)")
    t.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto",
                   help="progress display (default: a bar on a terminal, one line per epoch otherwise)")
    overrides(t)

    e = command("evaluate", "Reload a finished run's model and recompute its test metrics; "
                                    "exit 1 when they differ from summary.json.")
    e.add_argument("run_dir", help="a run directory written by 'layerwise train'")
    overrides(e)

    c = command("compare", "Train the config's model and scikit-learn baselines on the same split; one table.")
    c.add_argument("config", help="the YAML config file (its 'baselines:' list, default logistic_regression and mlp)")
    c.add_argument("--out", metavar="DIR", help="output directory (default runs/<name>-<timestamp>/)")
    c.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="off",
                   help="progress display of the layerwise training (default off)")
    overrides(c)

    v = command("validate", "Check a config and print the model summary, without training. MNIST and "
                "Fashion-MNIST models are checked against 28x28 inputs even before their files are "
                "downloaded; the missing files are then reported as an error (exit 2).")
    v.add_argument("config", help="the YAML config file")
    overrides(v)
    return p


def _train(args):
    from . import run
    if args.resume and args.config:
        raise LayerwiseError("train takes either CONFIG or --resume RUN_DIR, not both.")
    if not args.resume and not args.config:
        raise LayerwiseError("train needs a CONFIG file (or --resume RUN_DIR). Example: "
                             "layerwise train configs/digits_mlp.yaml")
    if args.resume:
        if args.out:
            raise LayerwiseError("--out cannot be used with --resume: the run continues in its own directory.")
        print(f"resuming {args.resume}", flush=True)
        exp = run.resume(args.resume, overrides=args.overrides, progress=args.progress)
    else:
        exp = run.fit(args.config, out=args.out, overrides=args.overrides, progress=args.progress)
    s = exp.summary
    acc = f"test accuracy {s['test_accuracy']:.4f}  " if s.get("test_accuracy") is not None else ""
    print(f"{acc}test loss {s['test_loss']:.4f}  epochs {s['epochs_run']}  "
          f"train {s['train_seconds']:.1f}s  ->  {exp.run_dir}")
    return 0


def _evaluate(args):
    from . import run
    result = run.evaluate(args.run_dir, overrides=args.overrides)
    summary_path = Path(args.run_dir) / "summary.json"
    saved = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    print(json.dumps(result, indent=2))
    if saved.get("test_accuracy") is not None and not args.overrides:
        if saved["test_accuracy"] != result["test_accuracy"]:
            print(f"layerwise: summary.json test_accuracy {saved['test_accuracy']} is DIFFERENT from the "
                  f"reloaded model's {result['test_accuracy']}: the run does not reproduce.", file=sys.stderr)
            return 1
        print(f"summary.json test_accuracy {saved['test_accuracy']}: reproduced")
    return 0


def _validate(args):
    from . import run
    from .config import load_config
    from .data import KNOWN_SHAPES
    config = load_config(args.config, args.overrides)
    try:
        data = run.load_data(config)
    except DataError:
        if config.data.dataset not in KNOWN_SHAPES:
            raise
        # The IDX files are not there yet, but their shape is fixed: check and show the model all the
        # same, then report the missing data (exit 2: the config cannot train yet).
        shape, n_classes = KNOWN_SHAPES[config.data.dataset]
        model, _ = run.build(config, SimpleNamespace(input_shape=shape, n_classes=n_classes))
        print(f"{args.config}: the model is ok. {config.name}: {config.data.dataset}, samples of shape {shape}, "
              f"{n_classes} classes; its data is not there yet:")
        print(model.summary(shape))
        raise
    model, _ = run.build(config, data)
    print(f"{args.config}: ok. {config.name}: {data.name} with {len(data.X_train)} train / {len(data.X_val)} "
          f"val / {len(data.X_test)} test samples of shape {tuple(data.input_shape)}, {data.n_classes} classes")
    print(model.summary(data.input_shape))
    return 0


def _compare(args):
    from .baselines import compare, format_table
    rows, out_dir = compare(args.config, out=args.out, overrides=args.overrides, progress=args.progress)
    print(format_table(rows))
    print(f"-> {out_dir}/compare.json, compare.md, compare_accuracy.png, compare_loss.png, compare_confusion.png")
    return 0


def main(argv=None):
    """Entry point of the ``layerwise`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {"train": _train, "evaluate": _evaluate, "validate": _validate, "compare": _compare}[args.command]
    try:
        return handler(args)
    except LayerwiseError as e:
        print(f"layerwise: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        where = getattr(e, "run_dir", None)
        if where is None:
            print("\nlayerwise: interrupted.", file=sys.stderr)
        else:
            print(f"\nlayerwise: interrupted. The checkpoint after epoch {e.epoch} is in {where}; "
                  f"continue with: layerwise train --resume {where}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
