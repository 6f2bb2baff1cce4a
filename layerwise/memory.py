"""Will a model fit in memory? Counted layer by layer while it is built, before its arrays exist."""

import copy
import math
import os

import numpy as np

from .errors import ConfigError
from .registry import is_builtin


def available_memory():
    """Bytes that can still be allocated without swapping, or None when the system does not say.

    ``MemAvailable`` of /proc/meminfo (Linux), else the physical memory from ``os.sysconf``.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def format_bytes(n):
    """``"373 GiB"``: three significant digits in the binary unit that keeps the number below 1000."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1000:
            break
        n /= 1024
    else:
        unit = "PiB"
    return f"{n:.3g} {unit}"


def state_arrays(optimizer):
    """How many parameter-sized arrays ``optimizer`` keeps per parameter, seen after one step on a probe."""
    p, g, state = np.ones(3, np.float32), np.ones(3, np.float32), {}
    try:
        copy.deepcopy(optimizer).step(p, g, state, True)
    except Exception as e:    # a plugin optimizer that cannot step on a vector
        if is_builtin(type(optimizer)):
            raise
        raise ConfigError(f"optimizer {type(optimizer).__name__}: a step on a probe parameter of shape (3,) raised "
                          f"{type(e).__name__}: {e}") from e
    return sum(isinstance(v, np.ndarray) and v.shape == p.shape for v in state.values())


class MemoryPlan:
    """The bytes a model needs to train, added layer by layer; refuses what this machine cannot hold.

    Each parameter counts with its gradient and its optimizer state; one batch counts as its input
    and, for every layer, the output (forward), the gradient of the output (backward) and the layer's
    own work arrays when it declares them (a convolution's im2col columns).

    Parameters
    ----------
    batch_size : int
    input_shape : tuple
        One sample's shape.
    dtype : float dtype
    available : int, optional
        Bytes available; default :func:`available_memory`. None checks nothing.
    label : str, optional
        What the batch is, for the message, when not the training batch ("--batch-size").
    """

    def __init__(self, batch_size, input_shape, dtype, available=None, label=None):
        self.batch_size, self.label = int(batch_size), label
        self.itemsize = np.dtype(dtype).itemsize
        self.available = available_memory() if available is None else available
        self.nbytes = 0
        self.passing = 0      # the largest work space that exists only during one layer's backward
        self._add(self.batch_size * math.prod(input_shape) * self.itemsize,
                  f"the input: {math.prod(input_shape):,} values per sample")

    def add_params(self, n_params, state, where):
        """Count ``n_params`` parameters of the layer ``where`` with their gradients and ``state`` arrays each."""
        if n_params == 0:
            return
        self._add(n_params * (2 + state) * self.itemsize, f"{where} has {n_params:,} parameters")

    def add_output(self, shape, where):
        """Count one batch of the layer's output of per-sample ``shape`` and its gradient."""
        size = math.prod(shape)
        self._add(2 * self.batch_size * size * self.itemsize, f"{where} outputs {size:,} values per sample")

    def add_work_space(self, kept, passing, where):
        """Count a layer's work arrays, in values per sample: ``kept`` from its forward to its backward
        (a convolution's im2col columns), and ``passing`` that live only while its backward runs (one
        layer's at a time: the largest counts)."""
        self.passing = max(self.passing, self.batch_size * passing * self.itemsize)
        self._add(self.batch_size * kept * self.itemsize, f"{where} works on {kept + passing:,} values per sample")

    def _add(self, nbytes, what):
        self.nbytes += nbytes
        total = self.nbytes + self.passing
        if self.available is not None and total > self.available:
            batch = f"{self.batch_size:,}" + (f" ({self.label})" if self.label else "")
            raise ConfigError(f"{what}: with gradients, optimizer state and one batch of {batch}, "
                              f"the model up to it would need {format_bytes(total)}, but this machine "
                              f"has {format_bytes(self.available)} available.")
