"""Sequential: per-call input gradients, hooks, error paths through nested containers."""

import traceback

import numpy as np
import pytest

import layerwise as lw


def model_of(rng, dtype=np.float64):
    return lw.Sequential(lw.Flatten(), lw.Linear(4, 3, rng=rng, dtype=dtype), lw.ReLU(),
                         lw.Linear(3, 2, rng=rng, dtype=dtype))


def nested(rng, dtype=np.float64):
    inner = lw.Sequential(lw.Linear(4, 3, rng=rng, dtype=dtype), lw.Tanh())
    return lw.Sequential(lw.Flatten(), inner, lw.Sequential(lw.Linear(3, 2, rng=rng, dtype=dtype)))


def state_of(model):
    """Every attribute of every module but the cache and the arrays' values (and which gradients wait
    for their lazy zeroing): what a call may not change."""
    out = []
    skip = ("_cache", "params", "_grads", "_unzeroed", "_scratch", "_zeros", "_ones", "_order", "_swapped_inputs",
            "_input_shapes", "_output_shape", "_awaiting_backward")
    for name, m in model.named_modules():
        attrs = {k: v for k, v in vars(m).items() if k not in skip}
        out.append((name, repr(sorted(attrs.items(), key=lambda kv: kv[0]))))
    return out


@pytest.mark.parametrize("make", [model_of, nested])
def test_input_grad_is_a_per_call_choice_that_leaves_no_state(make, rng):
    model = make(rng)
    x, g = rng.normal(size=(5, 2, 2)), rng.normal(size=(5, 2))
    before = state_of(model)
    model.forward(x)
    assert model.backward(g, input_grad=False) is None
    grads_without = {n: m.grads[k].copy() for n, m, k in model.named_parameters()}
    model.zero_grad()
    assert state_of(model) == before
    model.forward(x)
    dx = model.backward(g)                 # the same model, asked for dL/dx again
    assert dx.shape == (5, 2, 2)
    for n, m, k in model.named_parameters():
        assert np.array_equal(m.grads[k], grads_without[n]), n
    model.zero_grad()
    lw.gradcheck(model, x)                 # and gradcheck still holds after switching both ways


def test_the_old_sticky_switch_is_refused_with_the_replacement(rng):
    model = model_of(rng)
    with pytest.raises(AttributeError, match="input_grad=False"):
        model.requires_input_grad = False


def test_input_grad_false_on_a_model_without_parameters_runs_nothing(rng):
    model = lw.Sequential(lw.ReLU(), lw.Tanh())
    model.forward(rng.normal(size=(2, 3)))
    assert model.backward(np.ones((2, 3)), input_grad=False) is None


def test_user_module_without_input_grad_argument_is_still_called(rng):
    calls = []

    class Scale(lw.Module):
        def __init__(self):
            super().__init__()
            self.register_param("a", np.ones(3))

        def forward(self, x):
            self._cache = x
            return x * self.params["a"]

        def backward(self, grad_y):
            calls.append("backward")
            self.grads["a"] += (grad_y * self._cached()).sum(0)
            return grad_y * self.params["a"]

    model = lw.Sequential(Scale(), lw.ReLU())
    model.forward(rng.normal(size=(2, 3)))
    assert model.backward(np.ones((2, 3)), input_grad=False) is None
    assert calls == ["backward"] and np.any(model[0].grads["a"] != 0)


def test_hooks_see_every_layer_nested_ones_too_and_remove(rng):
    model = nested(rng)
    seen = []
    handles = []
    for name, m in model.named_modules():
        if name:
            handles.append(m.register_forward_hook(lambda mod, x, y, n=name: seen.append(("f", n, x.shape, y.shape))))
            handles.append(m.register_backward_hook(
                lambda mod, gy, gx, n=name: seen.append(("b", n, gy.shape, None if gx is None else gx.shape))))
    x = rng.normal(size=(5, 2, 2))
    y = model.forward(x)
    model.backward(np.ones_like(y), input_grad=False)
    assert [s[:2] for s in seen] == [("f", "0."), ("f", "1.0."), ("f", "1.1."), ("f", "1."), ("f", "2.0."),
                                     ("f", "2."), ("b", "2.0."), ("b", "2."), ("b", "1.1."), ("b", "1.0."),
                                     ("b", "1.")]
    assert ("b", "1.0.", (5, 3), None) in seen      # the first Linear was not asked for dL/dx
    assert ("f", "1.0.", (5, 4), (5, 3)) in seen
    for h in handles:
        h.remove()
    h.remove()                                       # twice is harmless
    seen.clear()
    model.forward(x)
    model.backward(np.ones_like(y))
    assert seen == []


def test_hooks_get_the_arrays_that_flow(rng):
    model = model_of(rng)
    got = {}
    model[1].register_forward_hook(lambda m, x, y: got.update(x=x, y=y))
    model[3].register_backward_hook(lambda m, gy, gx: got.update(gy=gy, gx=gx))
    x = rng.normal(size=(5, 2, 2))
    out = model.forward(x)
    g = rng.normal(size=out.shape)
    model.backward(g)
    assert np.array_equal(got["x"], x.reshape(5, 4)) and np.array_equal(got["y"], model[1]._cache @ model[1].params["W"] + model[1].params["b"])
    assert got["gy"] is g and np.allclose(got["gx"], g @ model[3].params["W"].T)


def test_a_hook_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        lw.ReLU().register_forward_hook(3)


class Broken(lw.Module):
    def __init__(self, exc):
        super().__init__()
        self.kind, self.args = type(exc), exc.args     # a fresh exception on every call

    def forward(self, x):
        raise self.kind(*self.args)

    def backward(self, grad_y):
        raise self.kind(*self.args)


@pytest.mark.parametrize("exc", [AttributeError("no attribute 'foo'"), ZeroDivisionError("division by zero"),
                                 ValueError("bad"), KeyError("W"), OSError(2, "gone")])
def test_every_error_names_the_nested_module_path_and_keeps_type_and_traceback(exc, rng):
    model = lw.Sequential(lw.ReLU(), lw.ReLU(), lw.ReLU(), lw.Sequential(lw.ReLU(), Broken(exc)))
    for method in ("forward", "backward"):
        with pytest.raises(type(exc)) as info:
            getattr(model, method)(np.ones((1, 2)))
        err = info.value
        assert err.layerwise_path == "3.1"
        text = "".join(traceback.format_exception(err))
        assert "3.1 (Broken)" in text
        assert any(f.name in ("forward", "backward") and "test_container" in f.filename
                   for f in traceback.extract_tb(err.__traceback__))   # the raising frame is still there
    if isinstance(exc, (ValueError, AttributeError, ZeroDivisionError)):
        assert str(err).startswith("In module 3.1 (Broken) of Sequential: ")


def test_a_backward_that_returns_the_wrong_shape_is_blamed_not_the_module_before_it(rng):
    class HalfGrad(lw.Module):
        def forward(self, x):
            return 2 * x

        def backward(self, grad_y):
            return (2 * grad_y)[:, :3]

    model = lw.Sequential(lw.Linear(4, 5, rng=rng), HalfGrad(), lw.Linear(5, 2, rng=rng))
    model.forward(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"^In module 1 \(HalfGrad\) of Sequential: HalfGrad.backward returned "
                                         r"a gradient of shape \(3, 3\), but its input had shape \(3, 5\)"):
        model.backward(np.ones((3, 2), np.float32), input_grad=False)


def test_flat_error_keeps_the_documented_prefix(rng):
    model = lw.Sequential(lw.Linear(4, 3, rng=rng), lw.ReLU(), lw.Linear(5, 2, rng=rng))
    with pytest.raises(ValueError, match=r"^In module 2 \(Linear\) of Sequential: Linear expected"):
        model.forward(np.zeros((2, 4), np.float32))


@pytest.mark.parametrize("kernel, stride", [(2, None), (2, 1), (3, 2), (3, None)])
def test_relu_then_maxpool_runs_pool_first_and_changes_nothing_a_user_sees(kernel, stride, rng):
    """Sequential runs a hook-free ReLU -> MaxPool2d as pool, then ReLU (a quarter of the work for a 2x2
    pool): outputs and every gradient must equal the plain order's, ties and negatives included."""
    x = rng.integers(-2, 3, size=(4, 2, 7, 7)).astype(np.float64)   # many ties, zeros, negative windows
    g = rng.normal(size=(4, 3))

    def run(hooked):
        model = lw.Sequential(lw.ReLU(), lw.MaxPool2d(kernel, stride), lw.Flatten())
        n_out = model.forward(x).shape[1]
        model.append(lw.Linear(n_out, 3, rng=np.random.default_rng(1), dtype=np.float64))
        seen = []
        if hooked:   # a hook must see the ReLU's own output: this model runs in the written order
            model[0].register_forward_hook(lambda m, a, b: seen.append(b.shape))
        y = model.forward(x)
        order = list(model._order)
        dx = model.backward(g)
        return y, dx, model[3].grads["W"].copy(), order, seen

    y, dx, gW, order, _ = run(hooked=False)
    y_ref, dx_ref, gW_ref, order_ref, seen = run(hooked=True)
    assert order == [1, 0, 2, 3] and order_ref == [0, 1, 2, 3]
    assert seen == [x.shape]
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(gW, gW_ref)


def test_swapped_relu_and_pool_pass_gradcheck_and_keep_error_positions(rng):
    model = lw.Sequential(lw.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64), lw.ReLU(),
                          lw.MaxPool2d(2), lw.Flatten(), lw.Linear(8, 2, rng=rng, dtype=np.float64))
    lw.gradcheck(model, rng.normal(size=(3, 1, 4, 4)))
    with pytest.raises(ValueError, match="In module 1 \\(MaxPool2d\\) of Sequential"):
        lw.Sequential(lw.ReLU(), lw.MaxPool2d(2)).forward(np.zeros((2, 3)))


def test_backward_hooks_added_after_forward_see_the_written_order(rng):
    """A hook registered between forward and backward (a callback's on_before_backward) on a pair that ran
    pool first: the pair is run again in the written order, so the hooks get what they would have got."""
    x = rng.integers(-2, 3, size=(3, 2, 6, 6)).astype(np.float64)
    g = rng.normal(size=(3, 2))

    def model():
        return lw.Sequential(lw.ReLU(), lw.MaxPool2d(2), lw.Flatten(),
                             lw.Linear(18, 2, rng=np.random.default_rng(1), dtype=np.float64))

    def hook_all(m, seen):
        for k in (0, 1):
            m[k].register_backward_hook(lambda mod, gy, gx, k=k: seen.append((k, gy.copy(), gx.copy())))

    early, late, seen_early, seen_late = model(), model(), [], []
    hook_all(early, seen_early)
    y_early = early.forward(x)
    y_late = late.forward(x)
    assert late._order[:2] == [1, 0]
    hook_all(late, seen_late)
    dx_early, dx_late = early.backward(g), late.backward(g)
    np.testing.assert_array_equal(y_late, y_early)
    np.testing.assert_array_equal(dx_late, dx_early)
    assert [k for k, _, _ in seen_late] == [1, 0]
    for (_, gy, gx), (_, gy_ref, gx_ref) in zip(seen_late, seen_early):
        np.testing.assert_array_equal(gy, gy_ref)
        np.testing.assert_array_equal(gx, gx_ref)


def test_a_relu_pool_model_takes_nested_lists(rng):
    x = rng.normal(size=(2, 1, 4, 4))
    np.testing.assert_array_equal(lw.Sequential(lw.ReLU(), lw.MaxPool2d(2)).forward(x.tolist()),
                                  lw.MaxPool2d(2).forward(np.maximum(x, 0)))


def test_one_instance_at_two_places_of_a_chain_is_refused_with_its_position(rng):
    relu = lw.ReLU()
    with pytest.raises(ValueError, match=r"This ReLU instance is already module 1 of the Sequential.*new instance"):
        lw.Sequential(lw.Linear(4, 4, rng=rng), relu, lw.Linear(4, 4, rng=rng), relu)
    inner = lw.Sequential(lw.Linear(2, 2, rng=rng), lw.Tanh())
    model = lw.Sequential(inner)
    with pytest.raises(ValueError, match="This Linear instance is already module 0.0 of the Sequential"):
        model.append(lw.Sequential(inner[0]))
    with pytest.raises(ValueError, match="cannot contain itself"):
        model.append(model)
    assert len(model) == 1                          # a refused append adds nothing
    model.append(lw.Sequential(lw.Linear(2, 2, rng=rng)))
    assert len(model[0:2]) == 2                     # slicing shares instances with a new container: allowed


def test_summary_gives_back_each_modules_own_mode(rng):
    model = lw.Sequential(lw.Linear(3, 4, rng=rng), lw.BatchNorm1d(4), lw.Dropout(0.5, rng=0), lw.Linear(4, 2, rng=rng))
    model[1].eval()                                 # fine-tuning: frozen statistics, the rest training
    model.summary((3,))
    assert [m.training for m in model] == [True, False, True, True] and model.training
    model.eval()
    model[2].train()
    model.summary((3,))
    assert [m.training for m in model] == [False, False, True, False] and not model.training


def test_an_upstream_gradient_of_the_wrong_shape_names_the_output_shape():
    """It ended in NumPy's matmul message about core dimensions, without the shape dL/dy must have."""
    model = lw.Sequential(lw.Linear(4, 5, rng=0), lw.ReLU(), lw.Linear(5, 3, rng=1))
    model.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Sequential.backward got dL/dy of shape \(2, 4\), but the last forward's "
                                            r"output had shape \(2, 3\)"):
        model.backward(np.zeros((2, 4), np.float32))
    assert model.backward(np.ones((2, 3), np.float32)).shape == (2, 4)


class Block(lw.Module):
    """A user module that runs its own children (no Sequential inside)."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)

    def children(self):
        return self.layers

    def forward(self, x):
        for m in self.layers:
            x = m.forward(x)
        return x

    def backward(self, grad_y):
        for m in reversed(self.layers):
            grad_y = m.backward(grad_y)
        return grad_y


def test_an_error_inside_a_user_module_names_the_child_that_raised():
    """It named the user module (In module 1 (Block)), not the child of it that raised."""
    model = lw.Sequential(lw.ReLU(), Block(lw.ReLU(), lw.Tanh(), Broken(ZeroDivisionError("division by zero"))))
    for method in ("forward", "backward"):
        with pytest.raises(ZeroDivisionError, match=r"^In module 1\.2 \(Broken\) of Sequential: division by zero"):
            getattr(model, method)(np.ones((1, 2)))
    inner = lw.Sequential(Block(lw.Linear(2, 3, rng=0), Block(lw.ReLU(), lw.Linear(4, 1, rng=0))))
    with pytest.raises(ValueError, match=r"^In module 0\.1\.1 \(Linear\) of Sequential: Linear expected input"):
        inner.forward(np.ones((1, 2), np.float32))


def test_an_error_in_a_sequential_inside_a_user_module_names_the_whole_path():
    """It named 0.1 (Broken), a path that does not exist: the user module's own index was left out."""
    model = lw.Sequential(Block(lw.ReLU(), lw.Sequential(lw.ReLU(), Broken(ZeroDivisionError("division by zero")))))
    with pytest.raises(ZeroDivisionError, match=r"^In module 0\.1\.1 \(Broken\) of Sequential: division by zero"):
        model.forward(np.ones((1, 2)))
