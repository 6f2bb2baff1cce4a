"""Optimizers against updates computed by hand with PyTorch's formulas."""

import numpy as np
import pytest

import layerwise as lw

GRADS = [np.array([[0.5, -1.0], [2.0, 0.25]]), np.array([[-0.3, 0.7], [0.1, -2.0]]),
         np.array([[1.5, 0.2], [-0.4, 0.9]])]
BGRADS = [np.array([0.2, -0.1]), np.array([-0.5, 0.3]), np.array([0.05, 0.4])]


def run(opt, steps=3):
    """A 2x2 float64 Linear whose grads are set by hand, stepped ``steps`` times."""
    layer = lw.Linear(2, 2, rng=0, dtype=np.float64)
    layer.params["W"][...] = [[1.0, -2.0], [0.5, 3.0]]
    layer.params["b"][...] = [0.1, -0.2]
    layer.set_optimizer(opt)
    for g, gb in list(zip(GRADS, BGRADS))[:steps]:
        layer.grads["W"][...] = g
        layer.grads["b"][...] = gb
        layer.update()
        assert not layer.grads["W"].any() and not layer.grads["b"].any()
    return layer


W0, B0 = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([0.1, -0.2])


def test_sgd_plain_and_weight_decay_on_weights_only():
    layer = run(lw.SGD(lr=0.1, weight_decay=0.01), steps=1)
    assert np.allclose(layer.params["W"], W0 - 0.1 * (GRADS[0] + 0.01 * W0), rtol=0, atol=1e-15)
    assert np.allclose(layer.params["b"], B0 - 0.1 * BGRADS[0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    lr, m, wd = 0.1, 0.9, 0.01
    p, buf = W0.copy(), None
    for g in GRADS:
        d = g + wd * p
        buf = d.copy() if buf is None else m * buf + d
        p = p - lr * (d + m * buf if nesterov else buf)
    layer = run(lw.SGD(lr=lr, momentum=m, nesterov=nesterov, weight_decay=wd))
    assert np.allclose(layer.params["W"], p, rtol=1e-14, atol=1e-14)
    assert "momentum_buffer" in layer.optim_state["W"]


def test_adam():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, m, v = W0.copy(), 0, 0
    for t, g in enumerate(GRADS, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    layer = run(lw.Adam(lr=lr))
    assert np.allclose(layer.params["W"], p, rtol=1e-12, atol=1e-14)
    assert layer.optim_state["W"]["step"] == 3


def test_adamw_decays_the_weights_before_the_adam_step():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    p, m, v = W0.copy(), 0, 0
    for t, g in enumerate(GRADS, 1):
        p = p - lr * wd * p                   # decoupled: not part of the gradient the moments see
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    layer = run(lw.AdamW(lr=lr, weight_decay=wd))
    assert np.allclose(layer.params["W"], p, rtol=1e-12, atol=1e-14)
    assert layer.optim_state["W"]["step"] == 3
    b, mb, vb = B0.copy(), 0, 0                # biases: Adam without decay
    for t, g in enumerate(BGRADS, 1):
        mb = b1 * mb + (1 - b1) * g
        vb = b2 * vb + (1 - b2) * g * g
        b = b - lr * (mb / (1 - b1 ** t)) / (np.sqrt(vb / (1 - b2 ** t)) + eps)
    assert np.allclose(layer.params["b"], b, rtol=1e-12, atol=1e-14)


def test_adamw_from_a_config_has_pytorchs_defaults():
    from layerwise.config import optimizer_config
    section = optimizer_config({"type": "adamw"}).model_dump()
    assert section == {"type": "adamw", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2}
    with pytest.raises(lw.errors.ConfigError, match="optimizer.weight_decay must be a number >= 0, got -1"):
        optimizer_config({"type": "adamw", "weight_decay": -1.0})


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop(momentum):
    lr, alpha, eps = 0.01, 0.99, 1e-8
    p, v, buf = W0.copy(), 0, 0
    for g in GRADS:
        v = alpha * v + (1 - alpha) * g * g
        u = g / (np.sqrt(v) + eps)
        buf = momentum * buf + u
        p = p - lr * (buf if momentum else u)
    layer = run(lw.RMSprop(lr=lr, momentum=momentum))
    assert np.allclose(layer.params["W"], p, rtol=1e-12, atol=1e-14)


def test_adagrad():
    lr, eps = 0.1, 1e-10
    p, s = W0.copy(), 0
    for g in GRADS:
        s = s + g * g
        p = p - lr * g / (np.sqrt(s) + eps)
    layer = run(lw.Adagrad(lr=lr))
    assert np.allclose(layer.params["W"], p, rtol=1e-12, atol=1e-14)


def test_defaults_are_pytorchs():
    assert (lw.Adam().lr, lw.Adam().betas, lw.Adam().eps) == (1e-3, (0.9, 0.999), 1e-8)
    assert (lw.RMSprop().lr, lw.RMSprop().alpha, lw.RMSprop().eps) == (1e-2, 0.99, 1e-8)
    assert (lw.Adagrad().lr, lw.Adagrad().eps) == (1e-2, 1e-10)
    assert (lw.AdamW().lr, lw.AdamW().betas, lw.AdamW().eps, lw.AdamW().weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 1e-2)
    assert (lw.SGD(0.1).momentum, lw.SGD(0.1).nesterov, lw.SGD(0.1).weight_decay) == (0, False, 0)


@pytest.mark.parametrize("make, message", [
    (lambda: lw.SGD(lr=0), "'lr' parameter of SGD must be a number > 0"),
    (lambda: lw.SGD(lr=0.1, momentum=1.0), "'momentum' parameter of SGD"),
    (lambda: lw.SGD(lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda: lw.Adam(betas=(0.9,)), "'betas' parameter of Adam"),
    (lambda: lw.Adam(weight_decay=-1), "'weight_decay' parameter of Adam"),
])
def test_invalid_hyperparameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("opt", [lw.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), lw.Adam(weight_decay=1e-3),
                                 lw.AdamW(), lw.RMSprop(momentum=0.5), lw.Adagrad()])
def test_float32_model_stays_float32(opt, rng):
    model = lw.Sequential(lw.Linear(3, 4, rng=rng), lw.Tanh(), lw.Linear(4, 2, rng=rng)).set_optimizer(opt)
    loss = lw.CrossEntropyLoss()
    for _ in range(2):
        out = model.forward(rng.normal(size=(5, 3)).astype(np.float32))
        loss.forward(out, np.array([0, 1, 0, 1, 1]))
        grad = model.backward(loss.backward())
        model.update()
    assert out.dtype == grad.dtype == np.float32
    for _, m, k in model.named_parameters():
        assert m.params[k].dtype == np.float32
        assert all(v.dtype == np.float32 for v in m.optim_state[k].values() if isinstance(v, np.ndarray))


def test_a_layer_keeps_its_own_optimizer_and_frozen_layers_do_not_move(rng):
    model = lw.Sequential(lw.Linear(3, 4, rng=rng), lw.ReLU(), lw.Linear(4, 2, rng=rng))
    model[2].set_optimizer(lw.SGD(lr=0.5))
    model.set_optimizer(lw.SGD(lr=0.1))
    assert model[0].optimizer.lr == 0.1 and model[2].optimizer.lr == 0.5
    model.set_optimizer(lw.Adam())
    assert isinstance(model[0].optimizer, lw.Adam) and model[2].optimizer.lr == 0.5
    model[0].frozen = True
    before = model[0].params["W"].copy()
    loss = lw.CrossEntropyLoss()
    loss.forward(model.forward(rng.normal(size=(4, 3))), np.array([0, 1, 1, 0]))
    model.backward(loss.backward())
    model.update()
    assert np.array_equal(model[0].params["W"], before) and not model[0].grads["W"].any()


def test_a_slice_given_an_optimizer_keeps_it_when_the_whole_model_gets_one():
    """model[:3] is a new Sequential of the same layers: they took its optimizer as inherited, and the whole
    model's set_optimizer then replaced it without a word (a smaller rate for the first layers was lost)."""
    model = lw.Sequential(lw.Linear(4, 4, rng=0), lw.ReLU(), lw.Linear(4, 4, rng=1), lw.ReLU(), lw.Linear(4, 2, rng=2))
    model[:3].set_optimizer(lw.SGD(lr=0.001))
    model.set_optimizer(lw.SGD(lr=0.1))
    assert [model[i].optimizer.lr for i in (0, 2, 4)] == [0.001, 0.001, 0.1]
    model.set_optimizer(lw.Adam())          # the model's own, replaced: the slice's layers still keep theirs
    assert [type(model[i].optimizer).__name__ for i in (0, 2, 4)] == ["SGD", "SGD", "Adam"]
    inner = lw.Sequential(lw.Linear(2, 2, rng=0), lw.Sequential(lw.Linear(2, 2, rng=1)))
    inner[1:].set_optimizer(lw.SGD(lr=0.5))     # a nested Sequential in the slice: its layer takes it from it
    inner.set_optimizer(lw.SGD(lr=0.1))
    assert inner[0].optimizer.lr == 0.1 and inner[1][0].optimizer.lr == 0.5


@pytest.mark.parametrize("first, second", [(lw.SGD, lw.SGD), (lw.Adam, lw.Adam), (lw.Adam, lw.SGD)])
def test_a_new_optimizer_starts_from_empty_state_and_the_same_one_keeps_it(first, second):
    """The new optimizer went on with the old one's momentum buffer (or Adam's step count and moments), and
    after Adam then SGD the state held both kinds; PyTorch's new optimizer starts empty."""
    def step(layer, g):
        layer.forward(np.ones((1, 2)))
        layer.backward(np.full((1, 2), g))
        layer.update()
    kwargs = {lw.SGD: {"lr": 0.1, "momentum": 0.9}, lw.Adam: {"lr": 0.1}}
    used = lw.Linear(2, 2, rng=0, dtype=np.float64).set_optimizer(first(**kwargs[first]))
    fresh = lw.Linear(2, 2, rng=0, dtype=np.float64).set_optimizer(first(**kwargs[first]))
    step(used, 1.0)
    step(fresh, 1.0)
    used.set_optimizer(second(**kwargs[second]))
    fresh = lw.Linear(2, 2, rng=0, dtype=np.float64).set_optimizer(second(**kwargs[second]))
    fresh.params["W"][:], fresh.params["b"][:] = used.params["W"], used.params["b"]
    step(used, 0.5)
    step(fresh, 0.5)
    assert np.array_equal(used.params["W"], fresh.params["W"])
    assert set(used.optim_state["W"]) == set(fresh.optim_state["W"])
    same = used.optimizer
    used.set_optimizer(same)            # the same object again: its state goes on
    assert used.optim_state["W"] and used.optimizer is same


def test_gradient_accumulation_equals_one_step_on_the_summed_gradient(rng):
    x1, x2 = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    a = lw.Linear(3, 2, rng=0, dtype=np.float64).set_optimizer(lw.SGD(0.1))
    b = lw.Linear(3, 2, rng=0, dtype=np.float64).set_optimizer(lw.SGD(0.1))
    g = rng.normal(size=(4, 2))
    a.forward(x1), a.backward(g), a.forward(x2), a.backward(g)
    a.update()
    b.forward(np.concatenate([x1, x2]))
    b.backward(np.concatenate([g, g]))
    b.update()
    assert np.allclose(a.params["W"], b.params["W"], rtol=1e-14)


@pytest.mark.parametrize("make", [lambda: lw.Adam(), lambda: lw.AdamW(), lambda: lw.RMSprop(), lambda: lw.Adagrad()])
def test_an_eps_that_is_zero_in_float16_is_refused_naming_it(make):
    """It stepped a weight with zero gradient by 0 / 0 = NaN, and the NaN guard blamed the learning rate."""
    model = lw.Sequential(lw.Linear(3, 2, rng=0)).astype(np.float16).set_optimizer(make())
    model.forward(np.ones((2, 3), np.float16))
    model.backward(np.zeros((2, 2), np.float16))
    with pytest.raises(ValueError, match=r"eps=1e-\d+ is 0 in float16, so a zero gradient would step by 0 / 0 = NaN"):
        model.update()
    ok = lw.Sequential(lw.Linear(3, 2, rng=0)).astype(np.float16).set_optimizer(type(make())(eps=1e-4))
    ok.forward(np.ones((2, 3), np.float16))
    ok.backward(np.zeros((2, 2), np.float16))
    ok.update()
    assert all(np.isfinite(v).all() for v in ok.state_dict().values())


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("shape", [(7,), (300, 100)], ids=["numpy path", "blas path"])
def test_sgd_momentum_in_update_keeps_the_gradient_memory_as_its_buffer(shape, nesterov):
    """Module.update steps SGD with momentum in y += a x passes: the new buffer is written into the gradient
    array, which the optimizer keeps, and the module gets the old buffer back as its (stale) gradient array."""
    rng = np.random.default_rng(0)
    layer = lw.Linear(*shape) if len(shape) == 2 else lw.Linear(7, 1)
    layer.set_optimizer(lw.SGD(lr=0.1, momentum=0.9, nesterov=nesterov))
    w, v = layer.params["W"].astype(np.float64), 0.0
    for step in range(3):
        g = rng.normal(size=w.shape).astype(np.float32)
        layer.grads["W"][...] = g
        before = layer.grads["W"]
        layer.update()
        v = g + 0.9 * v if step else g.astype(np.float64)
        w = w - 0.1 * (g + 0.9 * v if nesterov else v)
        buf = layer.optim_state["W"]["momentum_buffer"]
        np.testing.assert_allclose(buf, v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.params["W"], w, rtol=1e-5, atol=1e-6)
        assert not layer.grads["W"].any()                  # read after update: zero, as ever
        if step:
            assert buf is before and layer.grads["W"] is not before
    layer.grads["W"][...] = 1.0                             # the gradient array is not the buffer
    assert not np.shares_memory(layer.grads["W"], layer.optim_state["W"]["momentum_buffer"])


def test_sgd_step_called_directly_never_keeps_the_callers_gradient():
    """opt.step(p, g, state, decay) may overwrite g but keeps no reference to it: a caller may pass one array again."""
    opt, p, state = lw.SGD(lr=0.1, momentum=0.9), np.zeros(5), {}
    g = np.ones(5)
    for _ in range(3):
        g[...] = 1.0
        opt.step(p, g, state, True)
        assert not np.shares_memory(state["momentum_buffer"], g)
    np.testing.assert_allclose(state["momentum_buffer"], 1 + 0.9 + 0.81)
    np.testing.assert_allclose(p, -0.1 * (1 + 1.9 + 2.71))


def test_optimizers_of_the_users_own_step_through_update():
    """An object with only step() (no step_recycling), and an SGD subclass with its own step: update() calls their step."""
    calls = []

    class Halve:
        def step(self, p, g, state, decay):
            calls.append("duck")
            p -= 0.5 * g

    class Clipped(lw.SGD):
        def step(self, p, g, state, decay):
            calls.append("subclass")
            np.clip(g, -0.1, 0.1, out=g)
            super().step(p, g, state, decay)

    for opt, want in ((Halve(), -0.5), (Clipped(lr=1.0, momentum=0.5), -0.1 - 0.5 * 0.1 - 0.1)):
        layer = lw.Linear(2, 1, bias=False, init="zeros").set_optimizer(opt)
        for _ in range(2 if isinstance(opt, lw.SGD) else 1):
            layer.grads["W"][...] = 1.0
            layer.update()
        np.testing.assert_allclose(layer.params["W"], want)
    assert calls == ["duck", "subclass", "subclass"]


def test_a_wrapper_or_a_patched_step_is_what_update_calls():
    """Whatever the user put in front of SGD's rule is called by update(): a wrapper forwarding the other
    attributes to an SGD, a step patched on the instance, or on the class."""
    from unittest import mock

    class Halving:
        def __init__(self, inner):
            self.inner = inner

        def step(self, p, g, state, decay):
            g *= 0.5
            self.inner.step(p, g, state, decay)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    def steps(opt, n=3):
        layer = lw.Linear(2, 1, bias=False, init="zeros").set_optimizer(opt)
        for _ in range(n):
            layer.grads["W"][...] = 1.0
            layer.update()
        return layer.params["W"][0, 0]

    plain = steps(lw.SGD(lr=1.0, momentum=0.5))
    assert steps(Halving(lw.SGD(lr=1.0, momentum=0.5))) == pytest.approx(plain / 2)
    opt = lw.SGD(lr=1.0, momentum=0.5)
    with mock.patch.object(opt, "step", wraps=opt.step) as spy:
        assert steps(opt) == pytest.approx(plain)
    assert spy.call_count == 3
    calls = []
    rule = lw.SGD.step

    def counted(self, *args):
        calls.append(1)
        return rule(self, *args)
    with mock.patch.object(lw.SGD, "step", counted):
        assert steps(lw.SGD(lr=1.0, momentum=0.5)) == pytest.approx(plain)
    assert len(calls) == 3


def test_a_momentum_buffer_of_another_dtype_is_stepped_without_recycling():
    """A float64 buffer set for a float32 layer: the gradient array stays float32 and the module's own.
    (load_optimizer_state_dict converts it to float32, as PyTorch's load_state_dict does.)"""
    layer = lw.Linear(300, 100).set_optimizer(lw.SGD(lr=0.1, momentum=0.9))
    layer.grads["W"][...] = 1.0
    layer.update()
    wide = {k: v.astype(np.float64) for k, v in layer.optimizer_state_dict().items()}
    layer.load_optimizer_state_dict(wide)
    assert all(v.dtype == np.float32 for v in layer.optimizer_state_dict().values())
    for name, state in layer.optim_state.items():
        state["momentum_buffer"] = state["momentum_buffer"].astype(np.float64)
    for _ in range(2):
        before = layer.grads["W"]
        before[...] = 1.0
        layer.update()
        assert layer.grads["W"] is before and layer.grads["W"].dtype == np.float32
