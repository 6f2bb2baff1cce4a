"""Reports and plots."""

from .plots import plot_confusion_matrix, plot_learning_curves

__all__ = ["plot_learning_curves", "plot_confusion_matrix"]
