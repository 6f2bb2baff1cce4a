"""Safe, atomic files: weights and trainer state in safetensors (never pickle), text written atomically."""

import contextlib
import json
import os
import secrets
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from .errors import DataError

# model.safetensors keys of the arrays that are not weights (the input normalization); ':' cannot
# occur in a module's state_dict key
INPUT_PREFIX = "input:"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _new_temp(path):
    """An open binary file next to ``path`` with a fresh name, and that name.

    Created with mode 0o666 as ``open(path, "w")`` does, so the umask (and a default ACL) decide who
    may read it; ``tempfile.mkstemp`` would make every file 0o600 whatever the umask.
    """
    # the name shows whose file it is; a name near the file system's 255-byte limit is left out of it
    stem = path.name if len(os.fsencode(path.name)) <= 240 else ""
    for _ in range(100):
        tmp = path.with_name(f".{stem}.{secrets.token_hex(4)}.tmp")
        try:
            return os.fdopen(os.open(tmp, _CREATE, 0o666), "wb"), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: cannot create a temporary file for {path.name}.")


def _link_new(tmp, path):
    """Move ``tmp`` to ``path`` unless ``path`` exists (FileExistsError), in one step where the
    file system has hard links."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network mounts): check, then rename
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path, *, exclusive=False):
    """Write a binary file that appears at ``path`` complete or not at all.

    Yields a file in the same folder; on success it is flushed, synced and renamed to ``path``
    (``exclusive``: hard-linked, so an existing ``path`` raises FileExistsError and stays as it was).
    On any error, or Ctrl-C, the temporary file is removed and ``path`` is untouched. The file gets
    the permissions the umask gives a new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        f, tmp = _new_temp(path)
    except OSError as e:        # the folder takes no new file (/proc, read-only): name the file asked for
        raise type(e)(e.errno, e.strerror, str(path)) from e
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp, str(tmp)) and e.errno is not None:
            # a write or sync that failed (disk full) names no file: name the one being written
            raise type(e)(e.errno, e.strerror, str(path)) from e
        raise


def atomic_write(path, data, *, exclusive=False):
    """Write ``data`` (bytes or str) to ``path`` with :func:`atomic_open`; returns the Path.

    A crash or Ctrl-C leaves either the old file or the new one, never a partial file.
    """
    with atomic_open(path, exclusive=exclusive) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def save_arrays(path, arrays, metadata=None):
    """Save a dict of arrays as safetensors, atomically; ``metadata`` values are JSON-encoded."""
    # np.array, not np.ascontiguousarray: that one makes a 0-d array (Adam's step count) 1-d
    tensors = {k: np.array(v, order="C", copy=None) for k, v in arrays.items()}
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
    except KeyError as e:       # safetensors.numpy has no NumPy type for it (BF16, F8_*)
        raise DataError(f"{path}: not a readable safetensors checkpoint (a tensor of dtype {e.args[0]}, which "
                        "NumPy has no type for).") from None
    except (SafetensorError, ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable safetensors checkpoint ({e}).") from None


def read_metadata(path):
    """The JSON metadata of a safetensors file, without reading its arrays."""
    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
        return {k: json.loads(v) for k, v in meta.items()}
    except (SafetensorError, ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable safetensors file ({e}).") from None


def save_model(path, model, metadata=None, inputs=None):
    """Save ``model.state_dict()`` with JSON metadata (the resolved config, class names, ...).

    ``inputs``: arrays that belong with the model but are not weights (the input normalization),
    stored under ``INPUT_PREFIX``.
    """
    arrays = dict(model.state_dict())
    arrays.update({INPUT_PREFIX + k: v for k, v in (inputs or {}).items()})
    return save_arrays(path, arrays, metadata)


def check_finite(arrays, path):
    """Raise a DataError naming the first float array of ``arrays`` that holds a NaN or an infinity.

    Training never saves such weights (the NaN guard stops first), so they mean a damaged file; loaded
    anyway they would surface later as NaN predictions or a 'diverged' run blamed on the learning rate.
    """
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DataError(f"{path}: '{name}' holds NaN or infinite values, which training never saves: "
                            "the file is damaged.")


def load_model_file(path):
    """``(weights, inputs, metadata)`` from a file written by :func:`save_model`; every array finite."""
    arrays, meta = load_arrays(path)
    check_finite(arrays, path)
    n = len(INPUT_PREFIX)
    weights = {k: v for k, v in arrays.items() if not k.startswith(INPUT_PREFIX)}
    return weights, {k[n:]: v for k, v in arrays.items() if k.startswith(INPUT_PREFIX)}, meta


def load_weights(model, weights, path, prefix=""):
    """``model.load_state_dict(weights)`` for arrays read from the file ``path`` (named there with ``prefix``): a
    DataError when they do not fit (names, shapes), or when one the model keeps in floats is not (integers would
    be cast unnoticed)."""
    for name, m in model.named_modules():
        for store in (m.params, m.buffers):
            for k, own in store.items():
                src = weights.get(name + k)
                if src is not None and own.dtype.kind == "f" and src.dtype.kind != "f":
                    raise DataError(f"{path}: its array {prefix + name + k!r} holds {src.dtype} where layerwise writes "
                                    "floats: the file was changed after it was written.")
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError) as e:
        raise DataError(f"{path}: the weights do not fit the model: {e}") from None


def load_model_state(model, path):
    """Load weights saved by :func:`save_model` into ``model``; returns the metadata."""
    weights, _, meta = load_model_file(path)
    load_weights(model, weights, path)
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
    """Restore what :func:`generator_states` returned; a ValueError when a Generator of the model has no state
    there (the resumed run would draw other Dropout masks than the whole run)."""
    missing = sorted(set(generator_states(model)) - set(states))
    if missing:
        raise ValueError(f"it holds no state of the random generator {missing[0]!r} (Dropout masks)")
    modules = dict(model.named_modules())
    for name, state in states.items():
        prefix, _, attr = name.rpartition(".")
        getattr(modules[prefix + "." if prefix else ""], attr).bit_generator.state = state
