"""Containers: Sequential."""

import numpy as np

from ..registry import is_builtin
from .activations import ReLU
from .base import (Module, ShapeError, _held_modules, backward_without_input_grad, check_initialized, fires_own_hooks,
                   grad_like_output, hook_calls, run_hook, unhooked)
from .evaluation import modes_kept
from .pooling import MaxPool2d


class Sequential(Module):
    r"""Chain of modules: ``y = f_k(... f_1(f_0(x)))``.

    Notes
    -----
    Backward runs the chain in reverse: ``delta_{i} = f_i.backward(delta_{i+1})``, starting from
    ``dL/dy``. An error raised inside a child keeps its type and traceback and gains its position:
    ``"In module 2 (ReLU) of Sequential: ..."`` (``"3.1"`` inside a nested Sequential).
    Sequential calls its children's forward and backward hooks.

    A ``ReLU`` followed by a ``MaxPool2d`` runs pool first: ``maxpool(relu(x)) == relu(maxpool(x))``,
    and the gradients are equal too (a window whose maximum is not positive passes no gradient either
    way), while the ReLU then works on a quarter of the values (a 2x2 pool): scripts/bench_cnn.py's
    training pass takes about 5% less time than in the written order (its variant (b), side by side).
    Only when neither module has hooks (a hook sees each module's own input and output) and both are
    exactly these classes (not subclasses).
    """

    def __init__(self, *modules):
        super().__init__()
        self.modules = []
        self._order = None    # the execution order of the last forward (see _execution_order)
        self._swapped_inputs = {}
        self._input_shapes = []    # the shape of each module's input in the last forward (backward checks)
        self._output_shape = None  # the shape of the last forward's output: dL/dy must have it
        for m in modules:
            self.append(m)

    def append(self, module):
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes layerwise Modules. Got {type(module).__name__} instead.")
        check_initialized(module)
        held = {id(m): name for name, m in self.named_modules()}
        for _, m in module.named_modules():
            if id(m) in held and not held[id(m)]:
                raise ValueError("A Sequential cannot contain itself.")
            if id(m) in held:
                raise ValueError(f"This {type(m).__name__} instance is already module {held[id(m)].rstrip('.')} of the "
                                 "Sequential: a module keeps its own forward's input for backward, so one instance "
                                 "cannot run at two places of a chain (the first place's gradients would be wrong). "
                                 "Use a new instance.")
        self.modules.append(module)
        if self.optimizer is not None and not self._optimizer_inherited:    # set_optimizer checked the rest here
            try:
                self.check_children()
            except (TypeError, ValueError, AttributeError):
                self.modules.pop()
                raise
        if self.optimizer is not None:
            module._inherit_optimizer(self.optimizer)
        return self

    def children(self):
        return self.modules

    def __getitem__(self, i):
        if isinstance(i, slice):     # the same layers: set_optimizer on it gives them an optimizer of their own
            part = Sequential(*self.modules[i])
            part._hands_down_own = True
            return part
        return self.modules[i]

    def __len__(self):
        return len(self.modules)

    def __iter__(self):
        return iter(self.modules)

    def _annotate(self, i, err):
        """Name the failing module's path in ``err`` (same object: type and traceback are kept).

        Nested containers prepend their own index, so the message reads
        ``In module 3.1 (Linear) of Sequential: ...``; ``err.layerwise_path`` holds ``"3.1"``.
        """
        path = getattr(err, "layerwise_path", None)
        if path is None:
            inner, leaf = _innermost(self.modules[i], err)
            err._layerwise_leaf = type(leaf).__name__
            # raised in a module written outside layerwise (a plugin's, a user's): the CLI says so on one line
            err.layerwise_user_module = not type(leaf).__module__.startswith("layerwise.")
            err._layerwise_msg = str(err) if err.args else ""
            path = f"{i}.{inner}" if inner else str(i)
        else:           # an inner Sequential named it: the path down to that one, inside a user module too
            inner = next((p.rstrip(".") for p, m in self.modules[i].named_modules() if m is err._layerwise_by), "")
            path = f"{i}.{inner}.{path}" if inner else f"{i}.{path}"
        err.layerwise_path, err._layerwise_by = path, self
        msg = f"In module {path} ({err._layerwise_leaf}) of Sequential: {err._layerwise_msg}"
        if len(err.args) == 1 and isinstance(err.args[0], str) and not isinstance(err, KeyError):
            err.args = (msg,)
        else:   # a message we cannot rewrite (KeyError quotes it, OSError formats its own): a note
            note = f"(raised in module {path} ({err._layerwise_leaf}) of Sequential)"
            notes = getattr(err, "__notes__", None)
            if getattr(err, "_layerwise_noted", False) and notes:
                notes[-1] = note
            else:
                err._layerwise_noted = True
                err.add_note(note)

    def _forget_batch(self):
        super()._forget_batch()
        self._swapped_inputs = {}

    def _execution_order(self):
        """Module indices in the order forward runs them: each hook-free (ReLU, MaxPool2d) pair swapped."""
        mods = self.modules
        order = list(range(len(mods)))
        for i in range(len(mods) - 1):
            a, b = mods[i], mods[i + 1]
            if (type(a) is ReLU and type(b) is MaxPool2d and order[i] == i and not (
                    a._forward_hooks or a._backward_hooks or b._forward_hooks or b._backward_hooks)):
                order[i], order[i + 1] = i + 1, i
        return order

    def _unswap_for_new_hooks(self, order):
        """The order for backward: a swapped pair that got a backward hook after forward is run again
        in the written order (ReLU, then pool: same output, both caches rebuilt), so that its hooks see
        each module's own gradients."""
        order = list(order)
        for position, x in self._swapped_inputs.items():
            relu, pool = self.modules[position], self.modules[position + 1]
            if relu._backward_hooks or pool._backward_hooks:
                # rebuild the caches without calling forward hooks: this is not a new forward
                unhooked(type(pool), "forward")(pool, unhooked(type(relu), "forward")(relu, x))
                order[position], order[position + 1] = position, position + 1
                self._input_shapes[position] = self._input_shapes[position + 1] = np.shape(x)
        return order

    def forward(self, x):
        """Run every module in order, then each one's forward hooks."""
        self._order = order = self._execution_order()
        self._swapped_inputs = {}
        shapes = self._input_shapes = [None] * len(order)
        for position, i in enumerate(order):
            if i > position:             # a pool run before its ReLU: keep the pair's input (the pool
                self._swapped_inputs[position] = x   # caches it anyway) for a hook added before backward
            shapes[i] = getattr(x, "shape", None)
            m = self.modules[i]
            try:
                # m.forward runs m's hooks (Module wraps every forward); one set on the instance may not
                ours = bool(m._forward_hooks) and not fires_own_hooks(m.forward)
                mark = hook_calls("forward", m) if ours else 0
                y = m.forward(x)
                if ours and hook_calls("forward", m) == mark:
                    for fn in list(m._forward_hooks.values()):
                        run_hook(fn, m, x, y)
            except Exception as err:
                self._annotate(i, err)
                raise
            x = y
        self._output_shape = getattr(x, "shape", None)
        self._awaiting_backward = self.training     # a training forward awaits its backward (see modes_kept)
        return x

    def backward(self, grad_y, input_grad=True):
        """Run every module's backward in reverse, then each one's backward hooks.

        With ``input_grad=False`` (the input is data) the chain stops at the first module with
        parameters (or holding a layer whose parameters it uses: tied weights), which is asked to skip its
        own ``dL/dx``, and None is returned.
        """
        stop = 0
        if not input_grad:
            stop = next((i for i, m in enumerate(self.modules) if _reaches_parameters(m)), len(self.modules))
        order, shapes = self._order, self._input_shapes
        if self._output_shape is not None:
            grad_y = grad_like_output(type(self).__name__, grad_y, self._output_shape)
        if order is None or len(order) != len(self.modules):
            order, shapes = range(len(self.modules)), [None] * len(self.modules)
        elif self._swapped_inputs:
            order = self._unswap_for_new_hooks(order)
        for position in range(len(self.modules) - 1, stop - 1, -1):
            i = order[position]          # the module at ``stop`` has parameters: it is never swapped
            m = self.modules[i]
            try:
                ours = bool(m._backward_hooks) and not fires_own_hooks(m.backward)
                mark = hook_calls("backward", m) if ours else 0
                if input_grad or position > stop:
                    grad_x = m.backward(grad_y)
                    if getattr(grad_x, "shape", None) != shapes[i] and shapes[i] is not None:
                        raise ShapeError(f"{type(m).__name__}.backward returned a gradient of shape "
                                         f"{np.shape(grad_x) if grad_x is not None else None}, but its input had "
                                         f"shape {shapes[i]}: dL/dx has the shape of x.")
                else:
                    grad_x = backward_without_input_grad(m, grad_y)
                if ours and hook_calls("backward", m) == mark:
                    for fn in list(m._backward_hooks.values()):
                        run_hook(fn, m, grad_y, grad_x)
            except Exception as err:
                self._annotate(i, err)
                raise
            grad_y = grad_x
        self._awaiting_backward = False
        return grad_y if input_grad else None

    def summary(self, input_shape, *, dtype=None):
        """Table of layer, output shape and parameter count for inputs of shape ``input_shape``.

        ``input_shape`` leaves out the batch dimension, e.g. ``(1, 28, 28)``. Runs one forward
        pass on zeros in eval mode, with no forward hook called (the probe is not data), and
        restores each module's own mode.
        """
        check_initialized(self)
        if dtype is None:
            dtype = next((m.params[k].dtype for _, m, k in self.named_parameters()), np.float32)
        x = np.zeros((2, *tuple(input_shape)), dtype=dtype)
        rows = [("input", "", "(N, " + ", ".join(map(str, input_shape)) + ")", "")]
        # each module's own mode and hooks back after (a BatchNorm put in eval stays there)
        hooks = [(m, m._forward_hooks) for _, m in self.named_modules()]
        with modes_kept(self):
            for m, _ in hooks:
                m._forward_hooks = {}
            try:
                self._probe_rows(x, rows)
            finally:
                for m, kept in hooks:
                    m._forward_hooks = kept
        rows.append(("", "total", "", f"{self.n_params():,}"))
        head = ("#", "layer", "output shape", "params")
        widths = [max(len(r[j]) for r in rows + [head]) for j in range(4)]
        fmt = lambda r: "  ".join(c.ljust(w) if j < 3 else c.rjust(w)
                                  for j, (c, w) in enumerate(zip(r, widths)))
        rule = "-" * len(fmt(head))
        return "\n".join([fmt(head), rule, *map(fmt, rows[:-1]), rule, fmt(rows[-1])])

    def _probe_rows(self, x, rows):
        """summary's probe forward: one row per module."""
        for i, m in enumerate(self.modules):
            try:
                x = m.forward(x)
            except Exception as err:
                self._annotate(i, err)
                raise
            rows.append((str(i), repr(m), "(N, " + ", ".join(map(str, x.shape[1:])) + ")", f"{m.n_params():,}"))

    def __repr__(self):
        if not self.modules:
            return "Sequential()"
        inner = "\n".join(f"  ({i}): " + repr(m).replace("\n", "\n  ") for i, m in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"


def _innermost(module, err):
    """``(path inside module, module)`` of the innermost module of ``module``'s tree whose method is on
    ``err``'s traceback: a user module that runs its own children names the child that raised."""
    paths = {id(m): (p.rstrip("."), m) for p, m in module.named_modules()}
    found = ("", module)
    tb = err.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in paths and paths[id(owner)][1] is owner:
            found = paths[id(owner)]
        tb = tb.tb_next
    return found


def _reaches_parameters(module):
    """Whether ``module``'s backward can add to a parameter's gradient: a module of its tree has parameters,
    or holds (in an attribute) a layer that has, whose gradient it adds into (tied weights). The chain of a
    backward without ``dL/dx`` stops at the first such module: cutting it before a parameter-free module that
    uses another layer's weights lost that layer's share of the gradient."""
    for _, m in module.named_modules():
        if m.params:
            return True
        if is_builtin(type(m)):     # layerwise's own modules hold no other layer but their children
            continue
        for name, value in vars(m).items():
            for _, held in _held_modules(name, value):
                if held is not m and next(held.named_parameters(), None) is not None:
                    return True
    return False
