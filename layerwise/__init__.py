"""layerwise: a small, exact NumPy deep-learning framework with explicit forward, backward and update.

``import layerwise as lw`` gives every public name.
"""

__version__ = "0.1.0"

from .modules import (MODULES, Dropout, Flatten, LeakyReLU, Linear, Module, ReLU, Sequential, Sigmoid,
                      Softmax, Tanh, register)
from .losses import LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, get_loss
from .optim import OPTIMIZERS, SGD, Adagrad, Adam, Optimizer, RMSprop, get_optimizer
from .init import INITIALIZERS
from .gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
from .monitor import Monitor
from .callbacks import Callback, EarlyStopping, NaNGuard, ProgressLogger
from .trainer import Trainer
from . import run

__all__ = [
    "__version__", "Module", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "Flatten", "Dropout", "MODULES", "register", "Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "BCELoss",
    "MSELoss", "LOSSES", "get_loss", "Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "OPTIMIZERS",
    "get_optimizer", "INITIALIZERS", "gradcheck", "gradcheck_loss", "GradcheckError", "GradcheckReport",
    "Monitor", "Callback", "EarlyStopping", "NaNGuard", "ProgressLogger", "Trainer", "run",
]
