"""The ``layerwise`` command: a thin shell over :mod:`layerwise.run`.

Errors a user can fix (config, data, diverged training) print one line to stderr and exit 2;
Ctrl-C exits 130 after saying how to resume. A traceback means a bug in layerwise.
"""

import argparse
import contextlib
import difflib
import json
import math
import os
import re
import shlex
import signal
import sys
import threading
import warnings
from pathlib import Path
from types import SimpleNamespace

from . import __version__
from .errors import LayerwiseError, LayerwiseWarning, MissingDataError, TrainingError
from .plugins import raised_in_plugin

EXAMPLES = {
    "train": "examples:\n  layerwise train configs/digits_mlp.yaml\n"
             "  layerwise train configs/digits_mlp.yaml --out runs/try1 --set optimizer.lr=0.05 --set training.epochs=5\n"
             "  layerwise train --resume runs/try1 --set training.epochs=40\n"
             "  layerwise train configs/digits_mlp.yaml --out runs/try1 --overwrite",
    "evaluate": "example:\n  layerwise evaluate runs/try1\n"
                "  layerwise evaluate runs/mnist --set data.path=/data/mnist",
    "compare": "examples:\n  layerwise compare configs/digits_mlp.yaml\n"
               "  layerwise compare configs/digits_mlp.yaml --out runs/cmp --set training.epochs=10",
    "validate": "example:\n  layerwise validate configs/digits_mlp.yaml --set model.layers.1.units=256",
    "predict": "examples:\n  layerwise predict runs/try1 new_samples.csv\n"
               "  layerwise predict runs/mnist t10k-images-idx3-ubyte.gz --out predictions.csv",
    "sweep": "examples:\n  layerwise sweep configs/digits_mlp.yaml --param optimizer.lr=0.01,0.05,0.1 "
             "--param 'model.layers[1].units=64,256'\n"
             "  layerwise sweep configs/digits_mlp.yaml --param 'optimizer.lr=loguniform(1e-3,0.3)' --method tpe "
             "--trials 30 --prune\n"
             "  layerwise sweep configs/mnist_mlp.yaml --param optimizer.lr=0.01,0.1 --dask tcp://10.0.0.5:8786",
}


def nonempty_path(text):
    """An argparse type: ``--out ''`` is refused (it silently meant the default folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder or file name, or leave the option out")
    return text


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2): the message, a subcommand it looks like, and where
    the help is, instead of the usage block."""

    def error(self, message):
        command = self.prog.split()[1] if len(self.prog.split()) > 1 else next(
            (a for a in getattr(self, "argv", ()) if a in getattr(self, "commands", ())), None)
        typed = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
        if typed:
            close = difflib.get_close_matches(typed.group(1), self.commands, n=1)
            message = f"unknown command '{typed.group(1)}'" + (f". Did you mean '{close[0]}'?" if close else "")
        where = f"layerwise {command} --help" if command else "layerwise --help"
        message = message if message.endswith("?") else message.rstrip(".") + "."
        self.exit(2, f"layerwise: error: {message} See '{where}'.\n")


def _parser():
    p = _OneLineParser(
        prog="layerwise", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train and compare NumPy networks from YAML configs.",
        epilog="examples:\n  layerwise train configs/digits_mlp.yaml\n  layerwise validate configs/mnist_mlp.yaml\n"
               "  layerwise evaluate runs/digits_mlp-20260101-120000\n"
               "  layerwise predict runs/digits_mlp-20260101-120000 samples.csv --out predictions.csv\n\n"
               "'layerwise COMMAND --help' for more.")
    p.add_argument("--version", action="version", version=f"layerwise {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p.commands = sub.choices       # filled as the commands are added below: the names a typo is matched to

    def command(name, help_):
        return sub.add_parser(name, help=help_, description=help_, epilog=EXAMPLES.get(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def overrides(q):
        q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (dotted, list items by index; value parsed as YAML); repeatable")

    t = command("train", "Train the model a YAML config describes and write a run directory.")
    t.add_argument("config", nargs="?", help="the YAML config file")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    t.add_argument("--out", metavar="DIR", type=nonempty_path, help="run directory (default runs/<name>-<timestamp>/); refused if "
                   "it already holds a run")
    t.add_argument("--overwrite", action="store_true", help="delete the run that --out DIR holds, then train")
    t.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto",
                   help="progress display (default: a bar on a terminal, one line per epoch otherwise)")
    overrides(t)

    e = command("evaluate", "Reload a finished run's model and recompute its test metrics; exit 1 when they "
                            "differ from summary.json. --set may change only where the data is (data.path, "
                            "data.download, data.mirrors), where the plugin files are (plugins, absolute paths) and "
                            "training.eval_batch_size.")
    e.add_argument("run_dir", help="a run directory written by 'layerwise train'")
    overrides(e)

    c = command("compare", "Train the config's model and scikit-learn baselines on the same split; one table.")
    c.add_argument("config", help="the YAML config file (its 'baselines:' list, default logistic_regression and mlp)")
    c.add_argument("--out", metavar="DIR", type=nonempty_path, help="output directory (default runs/<name>-<timestamp>/)")
    c.add_argument("--overwrite", action="store_true", help="delete the run that --out DIR holds, then train")
    c.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="off",
                   help="progress display of the layerwise training (default off)")
    overrides(c)

    v = command("validate", "Check a config and print the model summary, without training. MNIST and "
                "Fashion-MNIST models are checked against 28x28 inputs even before their files are "
                "downloaded; the missing files are then reported as an error (exit 2). A sweep: section is checked as "
                "layerwise sweep checks it.")
    v.add_argument("config", help="the YAML config file")
    overrides(v)

    r = command("predict", "Predict with a finished run's model from raw inputs (in the units of its training "
                "data): a CSV with the predicted class and the probability of each class, one row per sample.")
    r.add_argument("run_dir", help="a finished run directory (it holds model.safetensors)")
    r.add_argument("input", help=".npz (array X), .csv (read as the training CSV; the label column may be left "
                   "out) or IDX images (.idx, -ubyte, either .gz)")
    r.add_argument("--out", metavar="FILE", type=nonempty_path, help="write the CSV to FILE (atomically) instead of stdout")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="plugins=[PATH, ...]",
                   help="where the run's plugin files are now, when they moved (the only key predict takes)")

    w = command("sweep", "Search over config keys with Optuna: one run directory per trial, sweep.csv, sweep.md, "
                "best.yaml and plots. Trials run on local processes or a Dask cluster; the same command resumes.")
    w.add_argument("config", help="the YAML config file (its 'sweep:' section gives defaults for the options)")
    w.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=SPEC",
                   help="a key to search (dotted, as --set) and its values: 0.01,0.05,0.1 or uniform(a,b), "
                        "loguniform(a,b), int(a,b), int(a,b,log); repeatable; replaces the config's sweep.parameters")
    overrides(w)
    w.add_argument("--method", choices=["grid", "random", "tpe"],
                   help="grid: every combination; random or tpe: --trials draws (default grid if every SPEC is a list)")
    w.add_argument("--trials", type=int, metavar="N", help="total trials, over resumes (default the grid, or 20)")
    w.add_argument("--metric", choices=["val_accuracy", "val_loss"],
                   help="the validation metric to optimize (default val_accuracy, maximized; val_loss is minimized)")
    w.add_argument("--prune", action=argparse.BooleanOptionalAction, default=None,
                   help="stop trials that Optuna's median pruner finds clearly behind after an epoch")
    w.add_argument("--jobs", type=int, metavar="N", help="local worker processes (default one per core)")
    w.add_argument("--dask", metavar="ADDRESS", help="run trials on this Dask scheduler, e.g. tcp://10.0.0.5:8786")
    w.add_argument("--storage", metavar="URL", help="Optuna storage URL (default sqlite:///OUT/sweep.db)")
    w.add_argument("--out", metavar="DIR", type=nonempty_path, help="output directory (default runs/<name>-sweep-<hash of the sweep>/)")
    w.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto",
                   help="a bar on a terminal and a line per finished trial (default), or lines only, or none")

    from .analysis.commands import add_commands   # check, saliency, attack, dream, time
    add_commands(command)
    return p


@contextlib.contextmanager
def _afresh_hint(command):
    """A run the NaN guard stopped cannot be resumed into anything else: say how to start afresh."""
    try:
        yield
    except TrainingError as e:
        if "check the data" in str(e):     # bad data (inputs or targets): no setting would help
            raise
        raise TrainingError(f"{e} Resuming it would stop at the same step; start afresh with a change (and your "
                            f"other --set options): {command}") from None


def _train(args):
    from . import run
    if args.resume and args.config:
        raise LayerwiseError("train takes either CONFIG or --resume RUN_DIR, not both.")
    if not args.resume and not args.config:
        raise LayerwiseError("train needs a CONFIG file (or --resume RUN_DIR). Example: "
                             "layerwise train configs/digits_mlp.yaml")
    if args.resume:
        if args.out or args.overwrite:
            raise LayerwiseError(f"{'--out' if args.out else '--overwrite'} cannot be used with --resume: the run "
                                 "continues in its own directory.")
        if (Path(args.resume) / "config.yaml").is_file():      # not before the error that it is no run
            print(f"resuming {args.resume}", flush=True)
        again = f"layerwise train {shlex.quote(str(Path(args.resume) / 'config.yaml'))} --set optimizer.lr=... --out NEW_DIR"
        with _afresh_hint(again):
            exp = run.resume(args.resume, overrides=args.overrides, progress=args.progress)
    else:
        if args.overwrite and not args.out:
            raise LayerwiseError("--overwrite needs --out DIR: a new run without --out gets a new directory.")
        again = f"layerwise train {shlex.quote(str(args.config))} --set optimizer.lr=..." + (
            f" --out {shlex.quote(str(args.out))} --overwrite" if args.out else "")
        with _afresh_hint(again):
            exp = run.fit(args.config, out=args.out, overwrite=args.overwrite, overrides=args.overrides,
                          progress=args.progress)
    if exp.note:
        print(exp.note)
    s = exp.summary
    acc = "".join(f"{k.replace('_', ' ')} {s[k]:.4f}  " for k in _metrics(s))
    watch = getattr(getattr(getattr(exp, "trainer", None), "early_stopping", None), "monitor", "monitored")
    stopped = (f" (stopped early; the weights of epoch {s['kept_epoch']}, the best {watch} value, were kept)"
               if s.get("stopped_early") else "")
    print(f"{acc}test loss {s['test_loss']:.4f}  epochs {s['epochs_run']}{stopped}  "
          f"train {s['train_seconds']:.1f}s  ->  {exp.run_dir}")
    return 0


def _metrics(summary):
    """The test metrics (accuracy, or rmse, mae, r2) a summary holds."""
    from .task import METRICS
    return [k for keys in METRICS.values() for k in keys if summary.get(k) is not None]


def _evaluate(args):
    from . import run
    result = run.evaluate(args.run_dir, overrides=args.overrides)
    summary_path = Path(args.run_dir) / "summary.json"
    saved = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    print(json.dumps(result, indent=2))
    # another eval batch size sums the float32 losses in other groups (and BLAS may take another kernel):
    # the last digits move, so then figures agree to float32 rounding; otherwise they must be equal
    rebatched = any(o.partition("=")[0].strip() == "training.eval_batch_size" for o in args.overrides)
    keys = [k for k in (*_metrics(saved), "test_loss") if k in saved]
    if not keys:
        print(f"layerwise: {summary_path} {'has no test figures' if saved else 'is missing'}: there is nothing to "
              "compare the figures above with, so the run is not shown to reproduce.", file=sys.stderr)
        return 1
    for key in keys:
        got = result.get(key)
        both_nan = isinstance(got, float) and isinstance(saved[key], float) and math.isnan(got) and math.isnan(saved[key])
        same = saved[key] == got or both_nan or (rebatched and got is not None
                                                 and math.isclose(saved[key], got, rel_tol=1e-5))
        if not same:
            moved = " (or the data at the --set data.path is not the data it was tested on)" if args.overrides else ""
            print(f"layerwise: summary.json {key} {saved[key]} is DIFFERENT from the "
                  f"reloaded model's {got}: the run does not reproduce{moved}.", file=sys.stderr)
            return 1
        how = "reproduced" if saved[key] == got or both_nan else f"reproduced to float32 rounding ({got})"
        print(f"summary.json {key} {saved[key]}: {how}")
    return 0


def _validate(args):
    from . import run
    from .config import load_config
    from .estimators import check_baselines
    from .data import KNOWN_SHAPES
    config = load_config(args.config, args.overrides)
    plan = _sweep_plan(args, config)
    try:
        data = run.load_data(config)
    except MissingDataError:      # (files there but damaged are their own error)
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
    sweep = _sweep_line(plan)
    check_baselines(config)             # what compare would refuse
    targets = (f"{data.n_classes} classes" if data.task == "classification"
               else f"regression on {data.n_targets} target(s)")
    print(f"{args.config}: ok. {config.name}: {data.name} with {len(data.X_train)} train / {len(data.X_val)} "
          f"val / {len(data.X_test)} test samples of shape {tuple(data.input_shape)}, {targets}")
    print(model.summary(data.input_shape))
    if sweep:
        print(sweep)
    return 0


def _sweep_plan(args, config):
    """The plan of the config's ``sweep:`` section, checked as ``layerwise sweep`` checks it before anything
    runs (each config it can produce, its keys, and its model built); None without one."""
    if config.sweep is None or not config.sweep.parameters:
        return None
    from .sweep.plan import make_plan
    return make_plan(args.config, overrides=args.overrides)


def _sweep_line(plan):
    """The checked plan's one-line description (``make_plan`` built each config's model: a value no layer
    takes, such as ``units: 0``, failed there)."""
    if plan is None:
        return None
    swept = ", ".join(f"{key}={spec}" for key, spec in plan.space.items())
    return (f"sweep: ok, {plan.method} over {swept}; {plan.trials} trial{'s' * (plan.trials != 1)}, "
            f"choosing on {plan.metric}")


def _compare(args):
    from .baselines import compare, format_table
    if args.overwrite and not args.out:
        raise LayerwiseError("--overwrite needs --out DIR: without --out, compare writes a new directory.")
    try:
        rows, out_dir = compare(args.config, out=args.out, overwrite=args.overwrite, overrides=args.overrides,
                                progress=args.progress)
    except (KeyboardInterrupt, OSError) as e:      # Ctrl-C, the output's reader gone, a full disk...
        if getattr(e, "run_dir", None) is None:
            raise
        # train --resume would only train: compare starts again, baselines included
        sets = "".join(f" --set {shlex.quote(o)}" for o in args.overrides or ())
        again = (f"Run the comparison again from its start with: layerwise compare {shlex.quote(str(args.config))} "
                 f"--out {shlex.quote(str(e.run_dir))} --overwrite{sets}")
        if isinstance(e, BrokenPipeError):      # the reader of the output left (| head)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            print(f"layerwise: the output was closed (broken pipe), the comparison stopped. {again}", file=sys.stderr)
            return 141
        if isinstance(e, OSError):
            print(f"layerwise: error: {_os_error_text(e)} The comparison stopped. {again}", file=sys.stderr)
            return 2
        with _no_second_interrupt():
            print(f"\nlayerwise: interrupted. {again}", file=sys.stderr)
        return 130
    print(format_table(rows))
    print(f"-> {out_dir}/{', '.join(sorted(p.name for p in Path(out_dir).glob('compare*')))}")
    return 0


def _check_predictions_path(out, given, run_dir):
    """Refuse an ``--out`` for predictions that would replace the inputs or the run's own files, or
    make folders out of a mistyped path."""
    from .rundir import RUN_FILES
    if out.parent.exists() and not out.parent.is_dir():
        raise LayerwiseError(f"--out {out}: {out.parent} is a file, not a folder.")
    if not out.parent.is_dir():
        raise LayerwiseError(f"--out {out}: the folder {out.parent} does not exist; create it first or write "
                             "elsewhere.")
    target = out.resolve()
    folder = run_dir.resolve() if run_dir.is_dir() else run_dir.resolve().parent
    what = ("the inputs" if target == given.resolve() else
            "a file of the run" if target == run_dir.resolve() or (target.parent == folder and target.name in RUN_FILES)
            else None)
    if what:
        raise LayerwiseError(f"--out {out} would replace {what}; write the predictions to another file.")


def _predict(args):
    from .checkpoint import atomic_write
    from .saved import load_run, moved_plugins, predictions_csv, read_inputs
    for assignment in args.overrides:
        if assignment.partition("=")[0].strip() != "plugins":
            raise LayerwiseError(f"--set {assignment}: predict takes its settings from the run; --set may give only "
                                 "where its plugin files are now (plugins=[/new/path/layers.py]).")
    if args.out:
        _check_predictions_path(Path(args.out), Path(args.input), Path(args.run_dir))
    saved = load_run(args.run_dir, plugins=moved_plugins(args.overrides))
    X = read_inputs(args.input, saved)
    text = predictions_csv(saved, X, where=args.input)
    if args.out:
        atomic_write(args.out, text)
        print(f"{len(X)} predictions -> {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def _sweep(args):
    for flag, value in (("--jobs", args.jobs), ("--trials", args.trials)):
        if value is not None and value < 1:
            raise LayerwiseError(f"{flag} must be an integer >= 1, got {value}.")
    from .sweep.driver import sweep
    try:
        result = sweep(args.config, params=args.params, overrides=args.overrides, method=args.method,
                       trials=args.trials, metric=args.metric, prune=args.prune, jobs=args.jobs, dask=args.dask,
                       storage=args.storage, out=args.out, progress=args.progress)
    except KeyboardInterrupt as e:
        if getattr(e, "sweep_dir", None) is None:
            raise
        with _no_second_interrupt():
            print(f"\nlayerwise: interrupted. {e.done} of {e.total} trials are done and kept in {e.sweep_dir}; the "
                  "running ones are queued again. Run the same command to resume.", file=sys.stderr)
        return 130
    out, best, m = result.out, result.best, result.metric
    if best is None:
        print(f"layerwise: no trial completed; see {out / 'sweep.md'}.", file=sys.stderr)
        return 1
    name = next((k for k in ("test_accuracy", "test_rmse") if best.get(k) is not None), None)
    test = f"  {name} {best[name]:.4f}" if name else ""
    where = (best["best_yaml"] if best.get("best_yaml") else
             f"its run {best['run_dir']} is another driver's, not readable here (no best.yaml)")
    print(f"best: trial {best['trial']}  {m} {best[m]:.4f}{test}  -> {where}")
    print(f"-> {out}/sweep.csv, sweep.md, sweep_metric.png, sweep_params.png, trials/")
    return 0


def _one_line_warnings(default):
    """A ``warnings.showwarning`` that prints ours on one line on stderr, like the errors, and passes
    any other to ``default``."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LayerwiseWarning):
            print(f"layerwise: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def main(argv=None):
    """Entry point of the ``layerwise`` console script; returns the exit status."""
    try:
        parser = _parser()    # imports NumPy and the analysis commands: a Ctrl-C here is interrupted too
        parser.argv = sys.argv[1:] if argv is None else list(argv)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        from .analysis.commands import HANDLERS as analysis_handlers
        handler = {"train": _train, "evaluate": _evaluate, "validate": _validate, "compare": _compare,
                   "predict": _predict, "sweep": _sweep, **analysis_handlers}[args.command]
        with warnings.catch_warnings():
            warnings.simplefilter("always", LayerwiseWarning)
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return handler(args)
    except LayerwiseError as e:
        print(f"layerwise: error: {e}{_resume_hint(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        with _no_second_interrupt():
            print(f"\nlayerwise: interrupted.{_resume_hint(e)}", file=sys.stderr)
        return 130
    except BrokenPipeError as e:
        # the program reading the output has gone (layerwise train ... | head): stop as Unix tools do, with
        # no traceback, and leave nothing for Python to flush into the closed pipe at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if getattr(e, "run_dir", None) is not None:     # silent, as Unix tools are, unless training stopped
            print(f"layerwise: the output was closed (broken pipe), training stopped.{_resume_hint(e)}",
                  file=sys.stderr)
        elif getattr(e, "sweep_dir", None) is not None:
            print(f"layerwise: the output was closed (broken pipe), the sweep stopped: {e.done} of {e.total} trials are "
                  f"done and kept in {e.sweep_dir}; the running ones are queued again. Run the same command to go on.",
                  file=sys.stderr)
        return 141
    except Exception as e:
        if getattr(e, "layerwise_user_module", False):
            # a bug in a plugin's or user's module: its message names the module; the traceback is theirs to
            # see from Python (layerwise.run.fit raises it as is)
            where = " ".join(getattr(e, "__notes__", ()))      # a message Sequential could not rewrite
            print(f"layerwise: error: {type(e).__name__}: {e}{' ' + where if where else ''} (raised by a module "
                  f"from outside layerwise).{_resume_hint(e)}", file=sys.stderr)
            return 2
        plugin = raised_in_plugin(e)
        if plugin:          # a plugin's loss, optimizer, dataset or schedule failed in its own code
            print(f"layerwise: error: {type(e).__name__}: {e} (raised in {plugin}, a plugin's code).{_resume_hint(e)}",
                  file=sys.stderr)
            return 2
        if isinstance(e, OSError):      # an --out path that is a file, a folder that cannot be made...
            print(f"layerwise: error: {_os_error_text(e)}{_resume_hint(e)}", file=sys.stderr)
            return 2
        raise                           # a bug in layerwise: the traceback is what to report


def _resume_hint(error):
    """How to continue a training run that ``error`` interrupted (empty when it was no training run)."""
    where = getattr(error, "run_dir", None)
    if where is None:
        return ""
    return (f" The checkpoint after epoch {error.epoch} is in {where}; continue with: layerwise train --resume "
            f"{shlex.quote(str(where))}")


def _os_error_text(error):
    """``"runs/a/b: Not a directory (a part of the path is a file)."``: the path first, then the system's reason."""
    reason = error.strerror or str(error)
    hints = {NotADirectoryError: " (a part of the path is a file, not a folder)",
             IsADirectoryError: " (give a file name, not a folder)",
             FileExistsError: " (choose another path or remove it)"}
    path = error.filename2 if isinstance(error, IsADirectoryError) and error.filename2 else error.filename
    # no file named: the printed output (redirected to a full disk, > /dev/full) or a socket
    where = f"{path}: " if path is not None else "writing the output (no file named: stdout, if redirected): "
    return f"{where}{reason}{hints.get(type(error), '')}."


@contextlib.contextmanager
def _no_second_interrupt():
    """Ignore Ctrl-C while the first one is reported (GNU ``timeout -s INT`` sends two: to the process and to
    its group), then restore the handler (``main`` also runs inside other programs, the tests)."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        yield
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


def console():
    """The ``layerwise`` console script: :func:`main`, then exit with its status. A Ctrl-C that lands while
    the first one unwinds ends in status 130 too, and none during shutdown prints a traceback."""
    try:
        status = main()
    except KeyboardInterrupt:           # the second one, landed before main's handler had its first
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nlayerwise: interrupted.", file=sys.stderr)
        status = 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    console()
