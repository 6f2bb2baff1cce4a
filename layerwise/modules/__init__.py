"""Modules: the base class, containers, layers, and the name -> class registry."""

from .base import Module
from .registry import MODULES, register
from .container import Sequential
from .linear import Linear
from .activations import ReLU, LeakyReLU, Sigmoid, Tanh, Softmax
from .shape import Flatten
from .dropout import Dropout

__all__ = ["Module", "MODULES", "register", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid",
           "Tanh", "Softmax", "Flatten", "Dropout"]
