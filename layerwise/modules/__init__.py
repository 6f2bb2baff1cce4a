"""Modules: the base class, containers, layers, and the name -> class registry."""

from .base import Module
from .registry import MODULES, register
from .container import Sequential
from .linear import Linear
from .activations import ReLU, LeakyReLU, Sigmoid, Tanh, Softmax
from .shape import Flatten
from .dropout import Dropout
from .conv import Conv2d
from .pooling import MaxPool2d, AvgPool2d, GlobalAvgPool2d
from .normalization import BatchNorm, BatchNorm1d, BatchNorm2d

__all__ = ["Module", "MODULES", "register", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid",
           "Tanh", "Softmax", "Flatten", "Dropout", "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
           "BatchNorm", "BatchNorm1d", "BatchNorm2d"]
