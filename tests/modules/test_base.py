"""The Module contract: errors, modes, dtype, saving, registry, gradcheck on user modules."""

import re

import numpy as np
import pytest

import layerwise as lw
from layerwise.modules import MODULES


def mlp(rng, dtype=np.float32):
    return lw.Sequential(lw.Flatten(), lw.Linear(12, 5, rng=rng, dtype=dtype), lw.ReLU(), lw.Dropout(0.5, rng=rng),
                         lw.Linear(5, 3, rng=rng, dtype=dtype))


def test_backward_before_forward_names_the_module():
    with pytest.raises(RuntimeError, match="Linear.backward was called before forward"):
        lw.Linear(2, 2).backward(np.ones((1, 2)))


def test_sequential_prefixes_errors_with_the_position(rng):
    model = lw.Sequential(lw.Linear(4, 3, rng=rng), lw.ReLU(), lw.Linear(5, 2, rng=rng))
    with pytest.raises(ValueError, match=r"In module 2 \(Linear\) of Sequential: Linear expected input of shape \(N, 5\), got \(2, 3\)"):
        model.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="got \\(2, 1, 2, 2\\). Add a Flatten before it?"):
        model.forward(np.zeros((2, 1, 2, 2), np.float32))


def test_sequential_container_protocol_and_summary(rng):
    model = mlp(rng)
    assert len(model) == 5 and isinstance(model[1], lw.Linear) and [type(m) for m in model][2] is lw.ReLU
    assert len(model[1:3]) == 2
    model.append(lw.Softmax())
    table = model.summary((3, 2, 2))
    assert "Linear(12 -> 5)" in table and "(N, 3)" in table and "total" in table and "83" in table
    assert repr(model[1]) == "Linear(12 -> 5)"
    assert model.train() is model and model.eval() is model and not model[3].training


def test_dropout_drops_p_in_training_and_is_identity_in_eval(rng):
    drop = lw.Dropout(0.3, rng=1)
    x = np.ones((200, 500), np.float32)
    y = drop.forward(x)
    assert abs(np.mean(y == 0) - 0.3) < 0.01 and abs(y.mean() - 1) < 0.02 and y.dtype == np.float32
    assert np.array_equal(lw.Dropout(0.3, rng=1).forward(x), y)
    assert drop.eval().forward(x) is x
    with pytest.raises(ValueError, match="'p' parameter of Dropout"):
        lw.Dropout(1.0)


def test_float32_never_becomes_float64(rng):
    model = mlp(rng)
    out = model.forward(rng.normal(size=(4, 3, 2, 2)))          # float64 data is cast at the first Linear
    grad = model.backward(rng.normal(size=out.shape).astype(np.float32))
    assert out.dtype == grad.dtype == np.float32
    assert all(m.grads[k].dtype == np.float32 for _, m, k in model.named_parameters())
    model.astype(np.float64)
    assert model[1].params["W"].dtype == model[1].grads["W"].dtype == np.float64


def test_state_dict_round_trip(rng):
    a, b = mlp(rng).eval(), mlp(np.random.default_rng(7)).eval()
    state = a.state_dict()
    assert set(state) == {"1.W", "1.b", "4.W", "4.b"}
    b.load_state_dict(state)
    x = rng.normal(size=(3, 3, 2, 2)).astype(np.float32)
    assert np.array_equal(a.forward(x), b.forward(x))
    with pytest.raises(KeyError, match="missing keys \\['4.b'\\]"):
        b.load_state_dict({k: v for k, v in state.items() if k != "4.b"})
    with pytest.raises(ValueError, match="'1.W' has shape \\(2, 2\\)"):
        b.load_state_dict({**state, "1.W": np.zeros((2, 2))})


def test_optimizer_state_round_trip(rng):
    a = mlp(rng).set_optimizer(lw.Adam())
    loss = lw.CrossEntropyLoss()
    loss.forward(a.forward(rng.normal(size=(4, 12)).reshape(4, 3, 2, 2)), np.array([0, 1, 2, 0]))
    a.backward(loss.backward())
    a.update()
    state = a.optimizer_state_dict()
    assert "1.W.exp_avg" in state and state["1.W.step"] == 1
    b = mlp(rng).set_optimizer(lw.Adam()).load_optimizer_state_dict(state)
    assert np.array_equal(b[1].optim_state["W"]["exp_avg"], a[1].optim_state["W"]["exp_avg"])
    assert b[1].optim_state["W"]["step"] == 1


def test_register_adds_user_modules_and_refuses_a_taken_name(monkeypatch):
    from layerwise.registry import Registry
    monkeypatch.setattr("layerwise.modules.registry.MODULES", Registry("layer", MODULES))
    from layerwise.modules import registry

    @lw.register
    class Doubler(lw.Module):
        def forward(self, x):
            return 2 * x

    @lw.register("twice")
    class Twice(lw.Module):
        def forward(self, x):
            return 2 * x

    assert registry.MODULES["doubler"] is Doubler and registry.MODULES["twice"] is Twice
    with pytest.raises(ValueError, match="'relu' is already registered"):
        lw.register("relu")(Twice)


class Scale(lw.Module):
    """y = w * x + x ** 2 (elementwise w)."""

    def __init__(self, n, wrong=None):
        super().__init__()
        self.register_param("w", np.linspace(0.5, 1.5, n))
        self.wrong = wrong

    def forward(self, x):
        self._cache = x
        return self.params["w"] * x + x ** 2

    def backward(self, g):
        x = self._cached()
        self.grads["w"] += (g * x).sum(0) * (1.1 if self.wrong == "param" else 1)
        if self.wrong == "ignores_upstream":
            return self.params["w"] + 2 * x
        return g * (self.params["w"] + (2.2 if self.wrong == "input" else 2) * x)


def test_gradcheck_passes_a_correct_user_module_and_names_the_wrong_tensor(rng):
    x = rng.normal(size=(3, 4))
    report = lw.gradcheck(Scale(4), x)
    assert set(report.tensors) == {"input", "w"}
    with pytest.raises(lw.GradcheckError, match="gradient of w is wrong at index"):
        lw.gradcheck(Scale(4, "param"), x)
    with pytest.raises(lw.GradcheckError, match="gradient of input is wrong"):
        lw.gradcheck(Scale(4, "input"), x)
    with pytest.raises(lw.GradcheckError, match="gradient of input is wrong"):
        lw.gradcheck(Scale(4, "ignores_upstream"), x)


def test_gradcheck_leaves_the_module_untouched(rng):
    layer = lw.Linear(3, 2, rng=rng)
    before = layer.params["W"].copy()
    lw.gradcheck(layer, rng.normal(size=(4, 3)))
    assert layer.params["W"].dtype == np.float32 and np.array_equal(layer.params["W"], before)


@pytest.mark.parametrize("make", [
    lambda rng: lw.Sequential(lw.Linear(4, 3, rng=rng, dtype=np.float64), lw.Tanh(),
                              lw.Linear(3, 2, rng=rng, dtype=np.float64)),
    lambda rng: lw.Sequential(lw.Conv2d(1, 2, 3, rng=rng, dtype=np.float64), lw.Flatten(),
                              lw.Linear(8, 2, rng=rng, dtype=np.float64)),
], ids=["linear", "conv"])
def test_gradients_read_zero_after_update_and_accumulate_after_it(make, rng):
    """Zeroing is lazy (update() and zero_grad() only mark the gradients): what a user reads must not
    show it; the first backward after an update overwrites the stale arrays, the next ones add."""
    model = make(rng).set_optimizer(lw.SGD(0.1, momentum=0.9))
    x = rng.normal(size=(5, 4) if isinstance(model[0], lw.Linear) else (5, 1, 4, 4))
    g = rng.normal(size=(5, 2))

    def grads_after(n_backward):
        for _ in range(n_backward):
            model.forward(x)
            model.backward(g)
        return {n: m.grads[k].copy() for n, m, k in model.named_parameters()}

    p0 = model.state_dict()
    assert all(np.any(v) for v in grads_after(1).values())
    model.update()          # momentum SGD uses each gradient as its scratch: the arrays hold garbage
    assert all(not np.any(m.grads[k]) for _, m, k in model.named_parameters())
    p1 = model.state_dict()
    model.update()          # no backward in between: the step sees zero gradients, momentum alone moves
    p2 = model.state_dict()
    for n in p0:
        np.testing.assert_allclose(p1[n] - p2[n], 0.9 * (p0[n] - p1[n]), rtol=1e-10, atol=1e-15, err_msg=n)

    twice = grads_after(2)  # after update(): the first backward overwrites, the second adds
    model.zero_grad()
    once = grads_after(1)
    reference = make(rng)   # eager zeros: a new model with the same weights
    reference.load_state_dict(model.state_dict())
    reference.forward(x)
    reference.backward(g)
    for n, m, k in reference.named_parameters():
        np.testing.assert_array_equal(once[n], m.grads[k], err_msg=n)
        np.testing.assert_allclose(twice[n], 2 * once[n], rtol=1e-12, err_msg=n)


def test_what_a_user_adds_to_grads_before_backward_is_kept(rng):
    """backward adds: a term put into grads after update() (read through .grads) survives the lazy zeroing."""
    lin = lw.Linear(3, 2, rng=rng, dtype=np.float64).set_optimizer(lw.SGD(0.1))
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    lin.forward(x)
    lin.backward(g)
    lin.update()
    lin.grads["W"] += 1.0          # e.g. a hand-written regularizer's gradient
    lin.grads["b"][0] = 5.0
    lin.forward(x)
    lin.backward(g)
    np.testing.assert_allclose(lin.grads["W"], 1.0 + x.T @ g, rtol=1e-12)
    np.testing.assert_allclose(lin.grads["b"], np.array([5.0, 0.0]) + g.sum(0), rtol=1e-12)


def test_relu_keeps_its_zeros_per_shape_and_layout(rng):
    """ReLU compares against kept zeros (one sample's for images): every shape, layout and batch size,
    empty included, gives max(x, 0) and the matching gradient."""
    relu = lw.ReLU()
    for x in (rng.normal(size=(5, 3, 4, 4)).astype(np.float32),
              rng.normal(size=(5, 4, 4, 3)).astype(np.float32).transpose(0, 3, 1, 2),   # channels-last
              rng.normal(size=(2, 3, 4, 4)).astype(np.float32), np.zeros((0, 3, 4, 4), np.float32),
              rng.normal(size=(6, 7)), rng.normal(size=(6, 7))[:, ::2], np.array(-1.5)):
        y = relu.forward(x)
        np.testing.assert_array_equal(y, np.maximum(x, 0))
        assert y.dtype == x.dtype
        g = rng.normal(size=x.shape).astype(x.dtype)
        np.testing.assert_array_equal(relu.backward(g), g * (x > 0))


@pytest.mark.parametrize("make", [lambda rng: lw.Linear(4, 3, rng=rng, dtype=np.float64),
                                  lambda rng: lw.Conv2d(1, 3, 3, rng=rng, dtype=np.float64)], ids=["linear", "conv"])
def test_a_backward_that_raises_after_update_leaves_zero_gradients(make, rng):
    layer = make(rng).set_optimizer(lw.SGD(0.1))
    x = rng.normal(size=(5, 4) if isinstance(layer, lw.Linear) else (5, 1, 3, 3))
    g = rng.normal(size=layer.forward(x).shape)
    layer.backward(g)
    layer.update()
    layer.forward(x)
    with pytest.raises(ValueError):
        layer.backward(g[:, :2])                      # a wrong upstream shape
    assert all(not np.any(v) for v in layer.grads.values())
    layer.backward(g)                                 # the retry gives this step's gradient alone
    fresh = make(rng)
    fresh.load_state_dict(layer.state_dict())
    fresh.forward(x)
    fresh.backward(g)
    for k in layer.grads:
        np.testing.assert_array_equal(layer.grads[k], fresh.grads[k], err_msg=k)


def test_astype_takes_only_float_dtypes():
    layer = lw.Linear(2, 3, rng=0)
    with pytest.raises(TypeError, match="astype takes a float dtype .* got int32"):
        layer.astype(np.int32)
    assert layer.params["W"].dtype == np.float32
    assert layer.astype("float64").params["W"].dtype == np.float64


class _Scale(lw.Module):
    """Keeps the array register_param returns, as a user module may, and reads it in forward and backward."""

    def __init__(self, n):
        super().__init__()
        self.a = self.register_param("a", np.full(n, 2.0, np.float32), decay=False)

    def forward(self, x):
        self._cache = x
        return x * self.a

    def backward(self, grad_y):
        self.grads["a"] += (grad_y * self._cached()).sum(0)
        return grad_y * self.a


def test_astype_points_a_modules_own_reference_to_a_parameter_at_the_converted_array():
    """astype swapped in new arrays: self.a went stale, so gradcheck called a right gradient wrong
    and a float64 model silently never trained."""
    x = np.random.default_rng(0).normal(size=(4, 3))
    report = lw.gradcheck(_Scale(3), x)                 # raises when a gradient is wrong
    assert set(report.tensors) == {"input", "a"} and not report.failures
    model = lw.Sequential(_Scale(3)).astype(np.float64).set_optimizer(lw.SGD(lr=0.1))
    assert model[0].a is model[0].params["a"] and model[0].a.dtype == np.float64
    model.forward(x)
    model.backward(np.ones((4, 3)))
    model.update()
    assert model[0].a is model[0].params["a"] and not np.all(model[0].a == 2.0)
    same = model[0].params["a"]
    model.astype(np.float64)                           # already float64: nothing is copied
    assert model[0].params["a"] is same


class _Shares(lw.Module):
    """Registers an array it is given (another module's) and keeps it in an attribute too."""

    def __init__(self, W):
        super().__init__()
        self.W = self.register_param("W", W)

    def forward(self, x):
        return x @ self.W


def test_astype_converts_an_array_two_modules_share_once():
    """Each module got its own copy (tied weights untied), and one's attribute pointed at the other's copy."""
    a = _Shares(np.ones((2, 2), np.float32))
    b = _Shares(a.params["W"])
    lw.Sequential(a, b).astype(np.float64)
    assert a.params["W"] is b.params["W"] is a.W is b.W and a.W.dtype == np.float64


def test_astype_to_a_dtype_the_optimizer_cannot_step_is_refused_before_converting():
    model = lw.Sequential(lw.Linear(2, 3, rng=0)).set_optimizer(lw.Adam())
    with pytest.raises(ValueError, match=r"eps=1e-08 is 0 in float16"):
        model.astype(np.float16)
    assert model[0].params["W"].dtype == np.float32
    assert lw.Sequential(lw.Linear(2, 3, rng=0)).set_optimizer(lw.SGD(0.1)).astype(np.float16)[0].params["W"].dtype == np.float16


@pytest.mark.parametrize("name", ["w.0", "", 3])
@pytest.mark.parametrize("kind", ["param", "buffer"])
def test_a_parameter_or_buffer_name_that_a_checkpoint_cannot_hold_is_refused(kind, name):
    """'w.0' trained, but its optimizer state could not be loaded back: KeyError: no parameter for '0.w.0.momentum_buffer'."""
    class Odd(lw.Module):
        def __init__(self):
            super().__init__()
            getattr(self, f"register_{kind}")(name, np.zeros(2))

    with pytest.raises(ValueError, match=rf"The {'parameter' if kind == 'param' else 'buffer'} name {re.escape(repr(name))}"
                                         r" of Odd must be a non-empty string without dots"):
        Odd()


def test_dropout_keeps_a_float16_batch_in_float16():
    """Its mask was float64 for any batch that was not float32: every layer after it got float64."""
    model = lw.Sequential(lw.Linear(8, 16, rng=0), lw.ReLU(), lw.Dropout(0.2, rng=0), lw.Linear(16, 3, rng=1))
    model.astype(np.float16)
    x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float16)
    seen = []
    model[3].register_forward_hook(lambda m, inp, out: seen.append(inp.dtype))
    y = model.forward(x)
    assert seen == [np.float16] and y.dtype == np.float16
    assert model[2].backward(np.ones((4, 16), np.float16)).dtype == np.float16
    assert lw.Dropout(0.5, rng=0).forward(np.ones((2, 3))).dtype == np.float64


def test_subclasses_of_dropout_and_flatten_that_keep_their_own_shapes_still_run_backward():
    """The new check of dL/dy's shape read the shape from the subclass's own cache: a per-channel Dropout's
    (N, C, 1, 1) mask, a former False for eval mode, a Flatten to (N, C, H*W), all refused or crashed."""
    class ChannelDropout(lw.Dropout):
        def forward(self, x):
            if not self.training:
                self._cache = False
                return x
            self._cache = (self.rng.random((x.shape[0], x.shape[1], 1, 1)) >= self.p) / (1 - self.p)
            return x * self._cache

    class FlattenPlanes(lw.Flatten):
        def forward(self, x):
            return super().forward(x).reshape(x.shape[0], x.shape[1], -1)

    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4))
    drop = ChannelDropout(0.5, rng=0)
    y = drop.forward(x)
    assert drop.backward(np.ones_like(y)).shape == x.shape
    drop.eval()
    drop.forward(x)
    assert drop.backward(np.ones_like(x)) is not None
    flat = FlattenPlanes()
    y = flat.forward(x)
    assert y.shape == (2, 3, 16) and np.array_equal(flat.backward(y), x)
    lw.gradcheck(FlattenPlanes(), x)
    with pytest.raises(ValueError, match=r"FlattenPlanes.backward got dL/dy of shape \(1, 3, 16\), but the last "
                                         r"forward's output had shape \(2, 48\)"):
        flat.backward(y[:1])
    plain = lw.Flatten()                # the built-in keeps the shape of its own output: a transposed dL/dy is refused
    plain.forward(x)
    with pytest.raises(ValueError, match=r"Flatten.backward got dL/dy of shape \(48, 2\)"):
        plain.backward(np.ones((48, 2)))
