"""layerwise: a small, exact NumPy deep-learning framework with explicit forward, backward and update.

``import layerwise as lw`` gives every public name.
"""

__version__ = "0.1.0"

import importlib
import importlib.util
import sys
import types

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
        value = getattr(importlib.import_module(f".{home}", __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f".{name}", __name__) is not None:
        value = importlib.import_module(f".{name}", __name__)     # a submodule: lw.run, lw.errors
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``lw.gradcheck`` the function: loading a submodule binds it on its package by its name, and
    the module ``layerwise.gradcheck`` has the function's name."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
