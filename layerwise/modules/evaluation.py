"""What an evaluation in the middle of training leaves as it found: modes, and a step's caches and scratch.

``Trainer.evaluate``, ``predict``, ``summary`` and the analysis tools run the model in eval mode inside
:func:`modes_kept`. Called between a training step's forward and its backward (a callback's
``on_before_backward``), they must also leave that step's caches and reused buffers alone, or the
backward would use the evaluation's rows.
"""

import contextlib

import numpy as np


class Scratch:
    """Arrays a layer reuses from one call to the next, by name (remade when shape or dtype change).

    Large temporaries (padded inputs, column matrices) are not allocated and paged in on every step
    (fresh ones: a training step of scripts/bench_cnn.py 3% slower). Nothing a layer returns lives
    here: callers and hooks may keep what they are given. An evaluation in the middle of a step
    (:func:`modes_kept`) runs on empty ones, so the step's own are left as its backward needs them.
    """

    def __init__(self):
        self.arrays = {}

    def get(self, name, shape, dtype, fill=0):
        """The array kept under ``name``; a new one is filled with ``fill`` (0: ``np.zeros``, no page touched)."""
        a = self.arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self.arrays[name] = np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)
        return a

    def __deepcopy__(self, memo):
        return Scratch()


@contextlib.contextmanager
def attributes_kept(*objects):
    """Run the body, then put back every attribute of ``objects`` that the body rebound.

    What a forward keeps for its backward (``self._cache``, a user module's ``self.x = x``) is an
    attribute rebound by each call: an evaluation between a training forward and its backward (a
    callback's ``on_before_backward``) would otherwise leave that backward the evaluation's batch.
    Arrays changed in place stay changed; attributes the body added stay.
    """
    saved = [(vars(obj), dict(vars(obj))) for obj in objects]
    try:
        yield
    finally:
        for attrs, before in saved:
            for name, value in before.items():
                if attrs.get(name, attrs) is not value:
                    attrs[name] = value


@contextlib.contextmanager
def modes_kept(model, training=False):
    """Run the body with ``model`` in eval mode (or training mode); after it, every module has its own mode
    back, so that an evaluation in the middle of an epoch leaves Dropout and BatchNorm as it found them.

    Called while a Trainer's step over any of these modules is between its forward and its backward (a
    callback's ``on_before_backward``, in any thread), or while a Sequential among them awaits the backward
    of a training-mode forward (a loop written by hand), the body also runs on empty :class:`Scratch` buffers, and every
    attribute it rebinds is put back after (:func:`attributes_kept`): the step's backward then gets its own
    batch's caches, a user module's ``self.x = x`` too, whatever the model's root (a user module, a part of
    the model). Otherwise attributes the body sets stay, as a layer that builds its weights on its first
    forward needs.
    """
    modules = [m for _, m in model.named_modules()]
    modes = [(m, m.training) for m in modules]
    with contextlib.ExitStack() as stack:
        if _in_a_step(modules):
            stack.enter_context(attributes_kept(*modules))
            for m in modules:
                for name, value in list(vars(m).items()):
                    if isinstance(value, Scratch):
                        setattr(m, name, Scratch())
        try:
            model.train(training)
            yield model
        finally:
            for m, mode in modes:
                m.training = mode


_steps = []     # frozensets of id(module): Trainer steps (of any thread, nested too) between forward and backward


def mark_step(module_ids):
    """Mark ``module_ids`` (a frozenset of ``id(module)``) as a training step between its forward and its
    backward, until :func:`unmark_step`, so that :func:`modes_kept` knows an evaluation is mid-step. The
    Trainer marks around ``on_before_backward`` (plain list calls: this runs every step)."""
    _steps.append(module_ids)


def unmark_step(module_ids):
    """End what :func:`mark_step` began (a Trainer nested in a callback ends only its own)."""
    _steps.remove(module_ids)


def _in_a_step(modules):
    """True when a forward of these modules awaits its backward: a Trainer's step (any thread), or a
    Sequential among them whose last training-mode forward has had no backward yet (a loop by hand)."""
    if any(id(m) in ids for ids in list(_steps) for m in modules):
        return True
    return any(getattr(m, "_awaiting_backward", False) for m in modules)
