"""``layerwise check``: gradient-check a user module (or every registered one) in training and eval mode.

A module is checked with :func:`layerwise.gradcheck` on the input and every parameter, once in
training mode and once in eval mode (Dropout and BatchNorm differ between the two). The result is a
table of every tensor's worst absolute and relative error.
"""

import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayerwiseError
from ..gradcheck import GradcheckError, gradcheck
from ..modules import MODULES, Module

DEFAULT_SHAPE = (4, 8)
MODES = ("train", "eval")

# constructor arguments and an input shape for the registered modules that need some; a module class
# can give its own as ``check_example = (kwargs, input_shape)``
EXAMPLES = {
    "linear": ({"in_features": 8, "out_features": 3}, (4, 8)),
    "flatten": ({}, (3, 2, 2, 2)),
    "conv2d": ({"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1}, (2, 2, 5, 5)),
    "maxpool2d": ({"kernel_size": 2}, (2, 2, 4, 4)),
    "avgpool2d": ({"kernel_size": 2}, (2, 2, 4, 4)),
    "globalavgpool2d": ({}, (2, 3, 3, 3)),
    "batchnorm": ({"num_features": 8}, (4, 8)),
    "batchnorm1d": ({"num_features": 8}, (4, 8)),
    "batchnorm2d": ({"num_features": 2}, (3, 2, 3, 3)),
}


@dataclass
class CheckResult:
    """Rows ``(mode, tensor, elements, max_abs_err, max_rel_err, ok)`` and the first failure, if any.

    A gradient of the wrong shape (or None) has no errors (None) and its reason in ``problems[(mode, tensor)]``.
    """

    name: str
    rows: list = field(default_factory=list)
    failure: GradcheckError = None
    problems: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.failure is None


def load_class(spec):
    """The class ``FILE.py:ClassName`` names, imported from the file; errors are one-line usage errors."""
    path, sep, name = str(spec).rpartition(":")
    if not sep or not path or not name:
        raise LayerwiseError(f"check expects FILE.py:ClassName, got {spec!r}.")
    file = Path(path)
    if not file.is_file():
        raise LayerwiseError(f"{file}: " + ("is a folder; give the .py file: FILE.py:ClassName." if file.is_dir()
                                           else "no such file."))
    mod_name = f"layerwise_check_{file.stem}_{abs(hash(str(file.resolve())))}"
    loader = importlib.util.spec_from_file_location(mod_name, file)
    if loader is None:
        raise LayerwiseError(f"{file}: not a Python file.")
    module = importlib.util.module_from_spec(loader)
    sys.modules[mod_name] = module
    try:
        loader.loader.exec_module(module)
    except Exception as e:   # the user's file failed to import: report it on one line
        sys.modules.pop(mod_name, None)
        raise LayerwiseError(f"{file}: importing it failed: {type(e).__name__}: {e}") from None
    cls = getattr(module, name, None)
    if cls is None:
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, Module)
                       and v.__module__ == mod_name)
        hint = f" It defines: {', '.join(found)}." if found else " It defines no Module subclass."
        raise LayerwiseError(f"{file}: no class {name!r}.{hint}")
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise LayerwiseError(f"{file}: {name} is not a subclass of layerwise.Module.")
    return cls


def _construct(cls, kwargs, seed):
    kwargs = dict(kwargs)
    params = inspect.signature(cls).parameters
    if "rng" in params and "rng" not in kwargs:
        kwargs["rng"] = np.random.default_rng(seed)
    try:
        return cls(**kwargs)
    except Exception as e:
        raise LayerwiseError(f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in kwargs.items() if k != 'rng')}) "
                             f"failed: {type(e).__name__}: {e}") from None


def check_module(module, x=None, *, input_shape=DEFAULT_SHAPE, seed=0, modes=MODES, **tolerances):
    """Gradient-check ``module`` in each mode; every tensor's errors, the failing ones included.

    Parameters
    ----------
    module : Module
    x : array_like, optional
        The input; default uniform on [-2, 2) of ``input_shape``.
    modes : tuple of {"train", "eval"}
    **tolerances
        ``eps``, ``rtol``, ``atol`` of :func:`layerwise.gradcheck`.

    Returns
    -------
    CheckResult

    Raises
    ------
    LayerwiseError
        When the module's forward fails on the input (a usage error, not a wrong gradient).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=tuple(input_shape)) if x is None else np.asarray(x, dtype=np.float64)
    result = CheckResult(type(module).__name__)
    was_training = module.training
    try:
        for mode in modes:
            module.train(mode == "train")
            try:
                module.forward(x.astype(np.float64))
            except Exception as e:
                raise LayerwiseError(f"{type(module).__name__}.forward fails in {mode} mode on an input of shape "
                                     f"{tuple(x.shape)}: {type(e).__name__}: {e} (set --input-shape?)") from None
            finally:
                module._cache = None
            try:
                report = gradcheck(module, x, seed=seed, **tolerances)
                failed = None
            except GradcheckError as e:
                report, failed = e.report, e
            except Exception as e:   # backward itself broke: that is a wrong gradient too
                failed = GradcheckError(f"{type(module).__name__}.backward raised {type(e).__name__}: {e}",
                                        tensor="backward")
                report = None
            for name, stats in (report.tensors.items() if report else []):    # each tensor judged on its own
                problem = report.failures.get(name)
                result.rows.append((mode, name, *stats, problem is None))
                if problem is not None and stats[1] is None:    # no figures (a wrong shape): say why
                    result.problems[mode, name] = problem.partition(": ")[2].rstrip(".")
                elif name in report.not_accumulated:            # right figures, but assigned, not added
                    result.problems[mode, name] = "a second backward did not add to it: use += on grads"
            if failed is not None and result.failure is None:
                failed.mode = mode
                result.failure = failed
    finally:
        module.train(was_training)
    return result


def check_class(cls, *, kwargs=None, input_shape=None, seed=0, **tolerances):
    """Build ``cls(**kwargs)`` (or its example) and :func:`check_module` it."""
    example = getattr(cls, "check_example", None) or EXAMPLES.get(cls.__name__.lower())
    if kwargs is None and example is not None:
        kwargs = example[0]
    if input_shape is None:
        input_shape = example[1] if example is not None else DEFAULT_SHAPE
    module = _construct(cls, kwargs or {}, seed)
    result = check_module(module, input_shape=input_shape, seed=seed, **tolerances)
    result.name = cls.__name__
    return result


def check_all(*, seed=0, **tolerances):
    """:func:`check_class` for every registered module; ``{name: CheckResult}``."""
    return {name: check_class(cls, seed=seed, **tolerances) for name, cls in sorted(MODULES.items())}


def format_results(results):
    """One table for several :class:`CheckResult`: module, mode, tensor, elements, errors, verdict.

    A failure's message (which element, analytic and numeric values) is in ``result.failure``; a
    gradient of the wrong shape has its reason after the verdict."""
    head = ("module", "mode", "tensor", "elements", "max abs err", "max rel err", "", "")
    err = lambda v: "-" if v is None else f"{v:.2e}"
    rows = [(r.name, mode, t, str(n), err(a), err(rel), "ok" if ok else "WRONG", r.problems.get((mode, t), ""))
            for r in results for mode, t, n, a, rel, ok in r.rows]
    widths = [max(len(str(row[j])) for row in rows + [head]) for j in range(len(head))]
    fmt = lambda row: "  ".join(c.rjust(w) if 3 <= j <= 5 else c.ljust(w)
                                for j, (c, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([fmt(head), "-" * len(fmt(head)), *map(fmt, rows)])
