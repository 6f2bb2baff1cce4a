"""Containers: Sequential."""

import numpy as np

from .base import Module


class Sequential(Module):
    r"""Chain of modules: ``y = f_k(... f_1(f_0(x)))``.

    Notes
    -----
    Backward runs the chain in reverse: ``delta_{i} = f_i.backward(delta_{i+1})``, starting from
    ``dL/dy``. Errors raised inside a child are re-raised with its position:
    ``"In module 2 (ReLU) of Sequential: ..."``.
    """

    def __init__(self, *modules):
        super().__init__()
        self.modules = []
        for m in modules:
            self.append(m)

    def append(self, module):
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes layerwise Modules. Got {type(module).__name__} instead.")
        if self.optimizer is not None:
            module._inherit_optimizer(self.optimizer)
        self.modules.append(module)
        return self

    def children(self):
        return self.modules

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self.modules[i])
        return self.modules[i]

    def __len__(self):
        return len(self.modules)

    def __iter__(self):
        return iter(self.modules)

    def _reraise(self, i, err):
        msg = f"In module {i} ({type(self.modules[i]).__name__}) of Sequential: {err}"
        try:
            new = type(err)(msg)
        except Exception:  # an exception type whose constructor takes other arguments
            new = RuntimeError(msg)
        raise new.with_traceback(err.__traceback__) from None

    def forward(self, x):
        """Run every module in order."""
        for i, m in enumerate(self.modules):
            try:
                x = m.forward(x)
            except (ValueError, TypeError, RuntimeError, KeyError, IndexError) as err:
                self._reraise(i, err)
        return x

    def backward(self, grad_y):
        """Run every module's backward in reverse; returns ``dL/dx`` (None if not required)."""
        stop = 0
        if not self.requires_input_grad:
            # the input is data: stop at the first module with parameters, which skips its dL/dx
            stop = next((i for i, m in enumerate(self.modules)
                         if next(m.named_parameters(), None) is not None), len(self.modules))
        if stop < len(self.modules):
            self.modules[stop].requires_input_grad = self.requires_input_grad
        for i in range(len(self.modules) - 1, stop - 1, -1):
            try:
                grad_y = self.modules[i].backward(grad_y)
            except (ValueError, TypeError, RuntimeError, KeyError, IndexError) as err:
                self._reraise(i, err)
        return grad_y if self.requires_input_grad else None

    def summary(self, input_shape, *, dtype=None):
        """Table of layer, output shape and parameter count for inputs of shape ``input_shape``.

        ``input_shape`` leaves out the batch dimension, e.g. ``(1, 28, 28)``. Runs one forward
        pass on zeros in eval mode and restores the previous mode.
        """
        if dtype is None:
            dtype = next((m.params[k].dtype for _, m, k in self.named_parameters()), np.float32)
        was_training = self.training
        self.eval()
        x = np.zeros((2, *tuple(input_shape)), dtype=dtype)
        rows = [("input", "", "(N, " + ", ".join(map(str, input_shape)) + ")", "")]
        try:
            for i, m in enumerate(self.modules):
                try:
                    x = m.forward(x)
                except (ValueError, TypeError, RuntimeError, KeyError, IndexError) as err:
                    self._reraise(i, err)
                rows.append((str(i), repr(m), "(N, " + ", ".join(map(str, x.shape[1:])) + ")",
                             f"{m.n_params():,}"))
        finally:
            self.train(was_training)
        rows.append(("", "total", "", f"{self.n_params():,}"))
        head = ("#", "layer", "output shape", "params")
        widths = [max(len(r[j]) for r in rows + [head]) for j in range(4)]
        fmt = lambda r: "  ".join(c.ljust(w) if j < 3 else c.rjust(w)
                                  for j, (c, w) in enumerate(zip(r, widths)))
        rule = "-" * len(fmt(head))
        return "\n".join([fmt(head), rule, *map(fmt, rows[:-1]), rule, fmt(rows[-1])])

    def __repr__(self):
        if not self.modules:
            return "Sequential()"
        inner = "\n".join(f"  ({i}): " + repr(m).replace("\n", "\n  ") for i, m in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"
