"""Every optimizer on parameters of rank 0 to 4, small and large, against the plain formula."""

import contextlib
import math
import re

import numpy as np
import pytest

import layerwise as lw
from layerwise import _blas

# sizes on both sides of every threshold, in float32 and float64: layerwise._blas.MIN_BYTES (64 KiB:
# 16384 float32, 8192 float64 elements; 128 x 128 float32 is exactly on it) and OpenBLAS's own switch
# from one thread to two in axpy (10,000 elements: 100 x 100 x 1)
SHAPES = [(), (7,), (3, 5), (2, 3, 4), (2, 3, 4, 5), (130, 130), (30, 30, 20), (12, 12, 12, 12),
          (1, 1, 1, 1), (300, 100), (128, 128), (127, 129), (64, 128), (100, 99), (100, 100, 1), (100, 101)]
OPTIMIZERS = {
    "sgd": lambda: lw.SGD(lr=0.1),
    "sgd_decay": lambda: lw.SGD(lr=0.1, weight_decay=0.01),
    "sgd_momentum": lambda: lw.SGD(lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda: lw.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda: lw.Adam(lr=0.01, weight_decay=0.01),
    "adamw": lambda: lw.AdamW(lr=0.01, weight_decay=0.1),
    "rmsprop": lambda: lw.RMSprop(lr=0.01, weight_decay=0.01),
    "rmsprop_momentum": lambda: lw.RMSprop(lr=0.01, momentum=0.5),
    "adagrad": lambda: lw.Adagrad(lr=0.1, weight_decay=0.01),
}


def reference(opt, p, grads, decay):
    """PyTorch's update formulas written the plain way, in float64."""
    p = p.astype(np.float64)
    state = {}
    wd = opt.weight_decay if decay else 0.0
    for t, g in enumerate(grads, start=1):
        d = g + wd * p
        if isinstance(opt, lw.AdamW):              # decoupled: decay the weights, then Adam on g
            p = p - opt.lr * wd * p
            d = g
        if isinstance(opt, lw.SGD):
            if opt.momentum:
                state["v"] = d if t == 1 else opt.momentum * state["v"] + d
                d = d + opt.momentum * state["v"] if opt.nesterov else state["v"]
            p = p - opt.lr * d
        elif isinstance(opt, (lw.Adam, lw.AdamW)):
            b1, b2 = opt.betas
            state["m"] = b1 * state.get("m", 0) + (1 - b1) * d
            state["v"] = b2 * state.get("v", 0) + (1 - b2) * d * d
            mhat, vhat = state["m"] / (1 - b1 ** t), state["v"] / (1 - b2 ** t)
            p = p - opt.lr * mhat / (np.sqrt(vhat) + opt.eps)
        elif isinstance(opt, lw.RMSprop):
            state["v"] = opt.alpha * state.get("v", 0) + (1 - opt.alpha) * d * d
            u = d / (np.sqrt(state["v"]) + opt.eps)
            if opt.momentum:
                state["b"] = opt.momentum * state.get("b", 0) + u
                u = state["b"]
            p = p - opt.lr * u
        else:
            state["s"] = state.get("s", 0) + d * d
            p = p - opt.lr * d / (np.sqrt(state["s"]) + opt.eps)
    return p


class Holder(lw.Module):
    """A module with one parameter of any shape, its gradient set by the test."""

    def __init__(self, value, decay):
        super().__init__()
        self.register_param("p", value, decay=decay)


@pytest.mark.parametrize("path", ["blas", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_the_plain_formula_on_every_rank_and_size(name, shape, dtype, path):
    """"blas": large parameters take layerwise._blas's BLAS path; "numpy": every one takes NumPy's."""
    with contextlib.nullcontext() if path == "blas" else _blas.numpy_only():
        _check_against_the_formula(name, shape, dtype)


def _check_against_the_formula(name, shape, dtype):
    rng = np.random.default_rng(math.prod(shape) + len(shape))
    p0 = rng.normal(size=shape).astype(dtype)
    grads = [rng.normal(size=shape).astype(dtype) for _ in range(3)]
    for decay in (True, False):
        opt = OPTIMIZERS[name]()
        holder = Holder(p0.copy(), decay).set_optimizer(opt)
        for g in grads:
            holder.grads["p"][...] = g
            holder.update()
            assert holder.grads["p"].shape == shape and not np.any(holder.grads["p"])   # zeroed
        got = holder.params["p"]
        assert got.shape == shape and got.dtype == dtype
        want = reference(opt, p0, [g.astype(np.float64) for g in grads], decay)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"{name} decay={decay}")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_two_parameters_of_one_size_do_not_share_results(name):
    """Large parameters may share scratch space inside an optimizer; their updates must not mix."""
    rng = np.random.default_rng(1)
    opt = OPTIMIZERS[name]()
    a, b = Holder(rng.normal(size=(200, 100)), True), Holder(rng.normal(size=(200, 100)), True)
    a.set_optimizer(opt), b.set_optimizer(opt)
    pa, pb = a.params["p"].copy(), b.params["p"].copy()
    ga, gb = rng.normal(size=(200, 100)), rng.normal(size=(200, 100))
    a.grads["p"][...], b.grads["p"][...] = ga, gb
    a.update(), b.update()
    np.testing.assert_allclose(a.params["p"], reference(opt, pa, [ga], True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.params["p"], reference(opt, pb, [gb], True), rtol=1e-12, atol=1e-12)


def test_non_contiguous_gradient_is_zeroed():
    h = Holder(np.ones((4, 6)), True).set_optimizer(lw.SGD(lr=0.1))
    h.grads["p"] = np.ones((6, 4)).T          # a transposed view, not C-contiguous
    h.update()
    assert not h.grads["p"].any()


@pytest.mark.parametrize("shape", [(), (3,)], ids=str)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_reloaded_optimizer_state_steps_on_as_if_never_saved(name, shape):
    """optimizer_state_dict -> load_optimizer_state_dict mid-training, on a 0-d parameter too (its momentum
    buffer is a 0-d array, not a step count): the next steps are those of an uninterrupted run."""
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=shape) for _ in range(4)]
    finals = []
    for reload in (False, True):
        holder = Holder(np.ones(shape), True).set_optimizer(OPTIMIZERS[name]())
        for t, g in enumerate(grads):
            holder.grads["p"][...] = g
            holder.update()
            if reload and t == 1:
                holder.load_optimizer_state_dict(holder.optimizer_state_dict())
                for key, value in holder.optim_state.get("p", {}).items():   # counts as numbers, buffers as arrays
                    assert type(value) is int if key == "step" else (
                        isinstance(value, np.ndarray) and value.shape == shape), (key, value)
        finals.append(holder.params["p"].copy())
    np.testing.assert_array_equal(finals[0], finals[1])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_loaded_optimizer_state_is_checked_and_floats_take_the_parameters_dtype(name):
    """Only the parameter's name was checked: a cut or integer buffer failed at the next step with NumPy's
    message, a float64 buffer stepped a float32 layer in float64 for good, an Adam step of 0 or 3.7 was taken."""
    layer = lw.Linear(3, 2, rng=0).set_optimizer(OPTIMIZERS[name]())
    layer.forward(np.ones((2, 3), np.float32))
    layer.backward(np.ones((2, 2), np.float32))
    layer.update()
    good = layer.optimizer_state_dict()
    if not good:            # plain SGD keeps nothing
        with pytest.raises(ValueError, match=re.escape("parameter 'W': holds ['velocity'], expected []")):
            layer.load_optimizer_state_dict({"W.velocity": np.zeros((3, 2), np.float32)})
        return
    layer.load_optimizer_state_dict({k: v.astype(np.float64) if v.ndim else v for k, v in good.items()})
    assert layer.optimizer_state_dict().keys() == good.keys()
    assert all(v.dtype == good[k].dtype for k, v in layer.optimizer_state_dict().items())
    array_key = next(k for k, v in good.items() if k.startswith("W.") and v.ndim)
    bad = [({**good, array_key: good[array_key][:1]}, "of shape (1, 2), expected float32 of shape (3, 2)"),
           ({**good, array_key: good[array_key].astype(np.int64)}, "is int64 of shape (3, 2), expected float32"),
           ({**good, array_key: np.full((3, 2), np.nan, np.float32)}, "holds NaN"),
           ({**good, "W.velocity": good[array_key]}, "'velocity'")]
    if "W.step" in good:        # a state cut short: its other entries stay
        bad.append(({k: v for k, v in good.items() if k != array_key}, "expected"))
        bad += [({**good, "W.step": np.array(0)}, "its 'step' is 0, expected an int >= 1"),
                ({**good, "W.step": np.array(3.7)}, "its 'step' is 3.7, expected an int >= 1")]
    for state, says in bad:
        with pytest.raises(ValueError, match=r"the optimizer state of parameter 'W': .*" + re.escape(says)):
            layer.load_optimizer_state_dict(state)


def test_states_an_optimizer_makes_itself_load_back():
    """The checks refused them: a layer unfrozen (or added) after steps has no state yet, a subclass of Adam keeps
    one more entry, float16 Adagrad's sum of squares overflows to +inf and only stops its steps."""
    def step(model, x):
        y = model.forward(x)
        model.backward(np.ones_like(y))
        model.update()
    for opt in (lw.SGD(0.1, momentum=0.9), lw.Adam()):
        model = lw.Sequential(lw.Linear(4, 8, rng=0), lw.ReLU(), lw.Linear(8, 2, rng=1)).set_optimizer(opt)
        model[0].frozen = True
        step(model, np.ones((3, 4), np.float32))
        model[0].frozen = False
        model.append(lw.Linear(2, 2, rng=2))
        model.load_optimizer_state_dict(model.optimizer_state_dict())
        assert set(model.optim_state) == set() and "W" not in model[0].optim_state and "W" in model[2].optim_state

    class AMSGrad(lw.Adam):
        def step(self, p, g, state, decay):
            super().step(p, g, state, decay)
            top = state.setdefault("max_exp_avg_sq", np.zeros_like(p))
            np.maximum(top, state["exp_avg_sq"], out=top)
    model = lw.Linear(4, 2, rng=0).set_optimizer(AMSGrad())
    step(model, np.ones((3, 4), np.float32))
    model.load_optimizer_state_dict(model.optimizer_state_dict())
    assert "max_exp_avg_sq" in model.optim_state["W"]

    model = lw.Linear(4, 2, rng=0).astype(np.float16).set_optimizer(lw.Adagrad(eps=1e-4))
    for _ in range(3):
        step(model, np.full((8, 4), 30, np.float16))
    assert np.isinf(model.optim_state["W"]["sum"]).any() and np.isfinite(model.params["W"]).all()
    model.load_optimizer_state_dict(model.optimizer_state_dict())
