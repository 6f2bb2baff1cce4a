"""See inside a network: reports, plots, gradient checks, layer statistics, saliency, attacks, dreams, timing.

Each tool is a function here and a ``layerwise`` subcommand (check, saliency, attack, dream, time);
layer statistics are a Trainer callback (``analysis: {layer_stats: true}`` in a config).
"""

from .adversarial import attack, fgsm, pgd
from .check import check_class, check_module
from .dream import dream
from .plots import plot_confusion_matrix, plot_learning_curves
from .saliency import saliency
from .stats import LayerStats
from .timing import time_layers

__all__ = ["plot_learning_curves", "plot_confusion_matrix", "LayerStats", "saliency", "fgsm", "pgd", "attack",
           "dream", "check_module", "check_class", "time_layers"]
