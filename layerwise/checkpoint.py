"""Safe, atomic files: weights and trainer state in safetensors (never pickle), text written atomically."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from .errors import DataError


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` through a temp file in the same folder and a rename.

    A crash or Ctrl-C leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_arrays(path, arrays, metadata=None):
    """Save a dict of arrays as safetensors, atomically; ``metadata`` values are JSON-encoded."""
    tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    return atomic_write(path, _st_save(tensors, metadata=meta))


def load_arrays(path):
    """``(arrays, metadata)`` from a safetensors file written by :func:`save_arrays`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint file.")
    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
        arrays = _st_load(path.read_bytes())
        return arrays, {k: json.loads(v) for k, v in meta.items()}
    except (SafetensorError, ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable safetensors checkpoint ({e}).") from None


def save_model(path, model, metadata=None):
    """Save ``model.state_dict()`` with JSON metadata (the resolved config, class names, ...)."""
    return save_arrays(path, model.state_dict(), metadata)


def load_model_state(model, path):
    """Load weights saved by :func:`save_model` into ``model``; returns the metadata."""
    arrays, meta = load_arrays(path)
    try:
        model.load_state_dict(arrays)
    except (KeyError, ValueError) as e:
        raise DataError(f"{path}: the checkpoint does not fit the model: {e}") from None
    return meta


def generator_states(model):
    """The bit-generator state of every Generator a module owns (Dropout masks), by dotted name."""
    out = {}
    for prefix, m in model.named_modules():
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                out[prefix + attr] = value.bit_generator.state
    return out


def set_generator_states(model, states):
    """Restore what :func:`generator_states` returned."""
    modules = dict(model.named_modules())
    for name, state in states.items():
        prefix, _, attr = name.rpartition(".")
        getattr(modules[prefix + "." if prefix else ""], attr).bit_generator.state = state
