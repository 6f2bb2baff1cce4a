"""Hooks fire on every forward and backward of a module, whoever calls it, and once per call."""

import copy
import threading
import time
import types

import numpy as np
import pytest

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


class DoubleMixin:
    """forward and backward from a class that is not a Module."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_y):
        return 2 * grad_y


class Double(DoubleMixin, lw.Module):
    pass


class Quiet(lw.Module):
    """A plugin base whose __init_subclass__ does not call super(): Module cannot wrap its subclasses."""

    def __init_subclass__(cls, **kwargs):
        pass


class Tripled(Quiet):
    def forward(self, x):
        return 3 * x

    def backward(self, grad_y):
        return 3 * grad_y


def _hooked_count(module):
    log = []
    module.register_forward_hook(lambda m, x, y: log.append("f"))
    module.register_backward_hook(lambda m, gy, gx: log.append("b"))
    return log


@pytest.mark.parametrize("make", [Double, Tripled], ids=["mixin", "unwrapped subclass"])
def test_hooks_fire_once_for_a_forward_from_a_mixin_or_a_class_module_could_not_wrap(make, rng):
    module = make()
    log = _hooked_count(module)
    model = lw.Sequential(lw.Linear(3, 3, rng=rng, dtype=np.float64), module)
    y = model.forward(rng.normal(size=(2, 3)))
    model.backward(np.ones_like(y))
    assert log == ["f", "b"]


def test_hooks_fire_for_a_forward_set_on_the_instance(rng):
    relu = lw.ReLU()
    relu.forward = types.MethodType(lambda self, x: np.maximum(x, 0.0), relu)
    log = _hooked_count(relu)
    lw.Sequential(relu).forward(rng.normal(size=(2, 3)))
    assert log == ["f"]


class Scale(lw.Module):
    def forward(self, inputs, scale=2.0):
        return inputs * scale

    def backward(self, grad):
        return grad * 2.0


class Const(lw.Module):
    def forward(self):
        return np.ones(3)


def test_forwards_of_any_signature_take_keywords_and_hooks_get_the_first_argument():
    module, seen = Scale(), []
    np.testing.assert_array_equal(module.forward(inputs=np.ones(2)), [2.0, 2.0])
    np.testing.assert_array_equal(module.backward(grad=np.ones(2)), [2.0, 2.0])
    np.testing.assert_array_equal(Const().forward(), np.ones(3))
    module.register_forward_hook(lambda m, x, y: seen.append((x.tolist(), y.tolist())))
    module.forward(inputs=np.ones(2), scale=3.0)
    module.forward(np.zeros(1))
    assert seen == [([1.0, 1.0], [3.0, 3.0]), ([0.0], [0.0])]


class Slow(lw.Module):
    def forward(self, x):
        time.sleep(0.02)
        return x


def test_threads_sharing_a_model_each_get_their_hook_call():
    model, seen = lw.Sequential(Slow()), []
    model[0].register_forward_hook(lambda m, x, y: seen.append(1))
    threads = [threading.Thread(target=model.forward, args=(np.ones(2),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 4


def test_a_copy_taken_inside_a_hook_calls_its_own_hooks(rng):
    model = lw.Sequential(lw.Linear(3, 3, rng=rng, dtype=np.float64), lw.ReLU())
    copies = []
    model.register_forward_hook(lambda m, x, y: None)
    model[1].register_forward_hook(lambda m, x, y: copies.append(copy.deepcopy(model)) if not copies else None)
    model.forward(rng.normal(size=(2, 3)))
    calls = []
    copies[0].register_forward_hook(lambda m, x, y: calls.append(1))
    copies[0].forward(rng.normal(size=(2, 3)))
    assert calls == [1]


def test_summary_and_gradcheck_do_not_call_the_modules_hooks(rng):
    model = lw.Sequential(lw.Linear(4, 3, rng=rng, dtype=np.float64), lw.ReLU())
    logs = [_hooked_count(model[0]), _hooked_count(model)]
    model.summary((4,))
    lw.gradcheck(model, rng.normal(size=(2, 4)))
    lw.gradcheck(model[0], rng.normal(size=(2, 4)))
    assert logs == [[], []]
    model.forward(rng.normal(size=(2, 4)))
    assert logs == [["f"], ["f"]]                                   # the hooks themselves work
    assert model[0]._forward_hooks and model._forward_hooks        # still attached to the model itself


def test_a_module_without_module_init_can_still_be_called():
    class Square(lw.Module):
        def __init__(self):        # does not call super().__init__()
            pass

        def forward(self, x):
            return x * x

    np.testing.assert_array_equal(Square().forward(np.arange(3.0)), [0.0, 1.0, 4.0])


def test_a_class_patched_relu_in_a_swapped_pair_with_a_late_backward_hook(rng, monkeypatch):
    original = lw.ReLU.forward

    def patched(self, x):           # a plain function set on the class after Module wrapped ReLU's own
        return original(self, x)

    monkeypatch.setattr(lw.ReLU, "forward", patched)
    model = lw.Sequential(lw.ReLU(), lw.MaxPool2d(2), lw.Flatten())
    y = model.forward(rng.normal(size=(2, 1, 4, 4)))
    assert model._order[:2] == [1, 0]
    seen = []
    model[0].register_backward_hook(lambda m, gy, gx: seen.append(gx.shape))
    model.backward(np.ones_like(y))
    assert seen == [(2, 1, 4, 4)]


def test_an_instance_forward_that_wraps_the_original_calls_the_hooks_once(rng):
    lin = lw.Linear(4, 3, rng=rng, dtype=np.float64)
    model = lw.Sequential(lin, lw.ReLU())
    orig_f, orig_b = lin.forward, lin.backward
    lin.forward = lambda a: orig_f(a) * 2
    lin.backward = lambda g, input_grad=True: orig_b(g * 2, input_grad=input_grad)
    log = _hooked_count(lin)
    y = model.forward(rng.normal(size=(2, 4)))
    model.backward(np.ones_like(y))
    assert log == ["f", "b"]
