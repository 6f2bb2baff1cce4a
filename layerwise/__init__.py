"""layerwise: a small, exact NumPy deep-learning framework with explicit forward, backward and update.

``import layerwise as lw`` gives every public name.
"""

__version__ = "0.1.0"

from .modules import (MODULES, AvgPool2d, BatchNorm, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                      GlobalAvgPool2d, LeakyReLU, Linear, MaxPool2d, Module, ReLU, Sequential, Sigmoid, Softmax,
                      Tanh, register)
from .losses import (LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, Loss, MSELoss,
                     get_loss)
from .optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .init import INITIALIZERS
from .gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
from .monitor import Monitor
from .callbacks import Callback, EarlyStopping, NaNGuard, ProgressLogger
from .trainer import Trainer
from . import run
from .saved import SavedRun, load_run

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
