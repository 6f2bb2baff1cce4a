"""layerwise: a small, exact NumPy deep-learning framework with explicit forward, backward and update.

``import layerwise as lw`` gives every public name.
"""

__version__ = "0.1.0"

import sys as _sys
import types as _types
from importlib import import_module as _import_module
from importlib.util import find_spec as _find_spec
from typing import TYPE_CHECKING as _TYPE_CHECKING

# Names are imported on first use (PEP 562), so that ``import layerwise`` and the ``layerwise`` command
# start at once: the command's heavy imports (NumPy, scikit-learn) then run inside ``cli.main``, where a
# Ctrl-C during start-up is one line and exit 130, not an import traceback.
_HOMES = {
    **dict.fromkeys(["MODULES", "AvgPool2d", "BatchNorm", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout",
                     "Flatten", "GlobalAvgPool2d", "LeakyReLU", "Linear", "MaxPool2d", "Module", "ReLU",
                     "Sequential", "Sigmoid", "Softmax", "Tanh", "register"], "modules"),
    **dict.fromkeys(["LOSSES", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "Loss",
                     "MSELoss", "get_loss"], "losses"),
    **dict.fromkeys(["OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "get_optimizer"],
                    "optim"),
    "INITIALIZERS": "init",
    **dict.fromkeys(["GradcheckError", "GradcheckReport", "gradcheck", "gradcheck_loss"], "gradcheck"),
    "Monitor": "monitor",
    **dict.fromkeys(["Callback", "EarlyStopping", "NaNGuard", "ProgressLogger"], "callbacks"),
    "Trainer": "trainer",
    **dict.fromkeys(["SavedRun", "load_run"], "saved"),
}


def __getattr__(name):
    """``lw.Linear``, ``lw.run``...: import the name's home module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_import_module(f".{home}", __name__), name)
    elif not name.startswith("_") and _find_spec(f".{name}", __name__) is not None:
        value = _import_module(f".{name}", __name__)     # a submodule: lw.run, lw.errors
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    """The public names and the submodules loaded so far (not this file's private helpers)."""
    return sorted(set(__all__) | {n for n in globals() if not n.startswith("_") or n.startswith("__")})


class _Package(_types.ModuleType):
    """Keeps ``lw.gradcheck`` the function: loading a submodule binds it on its package by its name, and
    the module ``layerwise.gradcheck`` has the function's name."""

    def __setattr__(self, name, value):
        if isinstance(value, _types.ModuleType) and _HOMES.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

if _TYPE_CHECKING:    # what IDEs and type checkers read; at run time the names come from __getattr__
    from . import run
    from .callbacks import Callback, EarlyStopping, NaNGuard, ProgressLogger
    from .gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
    from .init import INITIALIZERS
    from .losses import (LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, Loss, MSELoss,
                         get_loss)
    from .modules import (MODULES, AvgPool2d, BatchNorm, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                          GlobalAvgPool2d, LeakyReLU, Linear, MaxPool2d, Module, ReLU, Sequential, Sigmoid, Softmax,
                          Tanh, register)
    from .monitor import Monitor
    from .optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, get_optimizer
    from .saved import SavedRun, load_run
    from .trainer import Trainer


__all__ = [
    "__version__", "Module", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "Flatten", "Dropout", "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "BatchNorm", "BatchNorm1d",
    "BatchNorm2d", "MODULES", "register", "Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "BCELoss",
    "MSELoss", "L1Loss", "HuberLoss", "LOSSES", "get_loss", "Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
    "Adagrad", "OPTIMIZERS", "get_optimizer", "INITIALIZERS", "gradcheck", "gradcheck_loss", "GradcheckError",
    "GradcheckReport",
    "Monitor", "Callback", "EarlyStopping", "NaNGuard", "ProgressLogger", "Trainer", "run",
    "load_run", "SavedRun",
]
