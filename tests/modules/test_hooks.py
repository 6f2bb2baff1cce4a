"""Hooks fire on every forward and backward of a module, whoever calls it, and once per call."""

import numpy as np

import layerwise as lw


def _record(module, log, name):
    module.register_forward_hook(lambda m, x, y: log.append(("f", name, y.shape)))
    module.register_backward_hook(lambda m, gy, gx: log.append(("b", name, None if gx is None else gx.shape)))


def test_the_top_level_models_own_hooks_fire_after_its_layers(rng):
    model = lw.Sequential(lw.Linear(4, 3, rng=rng, dtype=np.float64), lw.ReLU())
    log = []
    _record(model, log, "model")
    _record(model[0], log, "0")
    y = model.forward(rng.normal(size=(5, 4)))
    model.backward(np.ones_like(y))
    model(rng.normal(size=(2, 4)))                   # __call__ is forward
    model.backward(np.ones((2, 3)), input_grad=False)
    assert log == [("f", "0", (5, 3)), ("f", "model", (5, 3)), ("b", "0", (5, 4)), ("b", "model", (5, 4)),
                   ("f", "0", (2, 3)), ("f", "model", (2, 3)), ("b", "0", None), ("b", "model", None)]


class Pair(lw.Module):
    """A user module that runs its two children itself, not through Sequential."""

    def __init__(self, rng):
        super().__init__()
        self.a, self.b = lw.Linear(4, 3, rng=rng, dtype=np.float64), lw.Tanh()

    def children(self):
        return [self.a, self.b]

    def forward(self, x):
        return self.b.forward(self.a.forward(x))

    def backward(self, grad_y):
        return self.a.backward(self.b.backward(grad_y))


def test_children_of_a_user_module_get_their_hooks(rng):
    model = Pair(rng)
    log = []
    for name, m in model.named_modules():
        _record(m, log, name or "pair")
    y = model.forward(rng.normal(size=(5, 4)))
    model.backward(np.ones_like(y))
    assert [(kind, name) for kind, name, _ in log] == [("f", "0."), ("f", "1."), ("f", "pair"),
                                                        ("b", "1."), ("b", "0."), ("b", "pair")]


class Shifted(lw.Linear):
    """A subclass that calls the Linear's forward and backward through super()."""

    def forward(self, x):
        return super().forward(x) + 1.0

    def backward(self, grad_y, input_grad=True):
        return super().backward(grad_y, input_grad=input_grad)


def test_a_subclass_calling_super_fires_each_hook_once_with_its_own_output(rng):
    layer = Shifted(4, 3, rng=rng, dtype=np.float64)
    outputs, grads = [], []
    layer.register_forward_hook(lambda m, x, y: outputs.append(y.copy()))
    layer.register_backward_hook(lambda m, gy, gx: grads.append(gx))
    x = rng.normal(size=(5, 4))
    y = layer.forward(x)
    layer.backward(np.ones_like(y))
    assert len(outputs) == 1 and np.array_equal(outputs[0], y)
    assert len(grads) == 1 and grads[0].shape == (5, 4)
    assert layer(x) is not None and len(outputs) == 2      # and again on the next call (the guard resets)


def test_a_hook_that_raises_leaves_the_module_usable(rng):
    layer = lw.Linear(4, 3, rng=rng, dtype=np.float64)
    handle = layer.register_forward_hook(lambda m, x, y: 1 / 0)
    x = rng.normal(size=(2, 4))
    try:
        layer.forward(x)
    except ZeroDivisionError:
        pass
    handle.remove()
    calls = []
    layer.register_forward_hook(lambda m, x, y: calls.append(1))
    layer.forward(x)
    assert calls == [1]


def test_the_relu_pool_rerun_for_late_backward_hooks_is_not_a_forward(rng):
    """A pair that ran pool first is run again in the written order when backward hooks arrive after
    forward; that rerun rebuilds caches and must not look like a second forward to forward hooks."""
    model = lw.Sequential(lw.ReLU(), lw.MaxPool2d(2), lw.Flatten())
    x = rng.normal(size=(2, 1, 4, 4))
    y = model.forward(x)
    forwards = []
    model[0].register_forward_hook(lambda m, a, b: forwards.append(1))
    model[0].register_backward_hook(lambda m, gy, gx: None)
    model.backward(np.ones_like(y))
    assert forwards == []
