"""gradcheck itself: it must fail a wrong backward, and pass a right one written in any legal way."""

import re

import numpy as np
import pytest

import layerwise as lw


class Log(lw.Module):
    """log(x) with a backward that ignores the formula."""

    def forward(self, x):
        self._cache = x
        return np.log(x)

    def backward(self, grad_y):
        return grad_y * 123.0


class Scale(lw.Module):
    """y = x * a; ``add`` says whether backward adds into grads (right) or assigns them (wrong)."""

    def __init__(self, add):
        super().__init__()
        self.add = add
        self.register_param("a", np.linspace(0.5, 1.5, 3))

    def forward(self, x):
        self._cache = x
        return x * self.params["a"]

    def backward(self, grad_y):
        x = self._cached()
        if self.add:
            self.grads["a"] += (grad_y * x).sum(axis=0)
        else:
            self.grads["a"][...] = (grad_y * x).sum(axis=0)
        return grad_y * self.params["a"]


class TanhInPlace(lw.Module):
    """A right backward that uses its argument as scratch: dL/dx = g * (1 - t^2), computed in g."""

    def forward(self, x):
        t = np.tanh(x)
        self._cache = t
        return t

    def backward(self, grad_y):
        t = self._cached()
        grad_y *= 1 - t * t
        return grad_y


def test_a_wrong_backward_where_the_function_is_not_finite_fails(rng):
    with np.errstate(invalid="ignore"), pytest.raises(lw.GradcheckError, match="not finite there") as e:
        lw.gradcheck(Log(), -np.ones((2, 3)))
    assert e.value.tensor == "input" and "input" in e.value.report.failures


def test_a_backward_that_assigns_its_parameter_gradient_instead_of_adding_fails(rng):
    x = rng.normal(size=(4, 3))
    report = lw.gradcheck(Scale(add=True), x)
    assert not report.failures and not report.not_accumulated
    with pytest.raises(lw.GradcheckError, match="backward must add into grads") as e:
        lw.gradcheck(Scale(add=False), x)
    # its values are right: the report says what is wrong with it
    assert e.value.tensor == "a" and e.value.report.not_accumulated == {"a"}
    assert "input" not in e.value.report.failures
    assert "a second backward did not add to it" in str(e.value.report)


def test_a_backward_that_writes_into_its_upstream_gradient_passes(rng):
    report = lw.gradcheck(TanhInPlace(), rng.normal(size=(4, 3)))
    assert set(report.tensors) == {"input"} and not report.failures


class TwoParams(lw.Module):
    """y = x @ W + b with a right dL/db and a transposed (wrong-shaped) dL/dW, or None for it."""

    def __init__(self, none=False):
        super().__init__()
        self.none = none
        self.register_param("W", np.linspace(-1, 1, 8).reshape(4, 2))
        self.register_param("b", np.zeros(2))

    def forward(self, x):
        self._cache = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_y):
        x = self._cached()
        self.grads["b"] += grad_y.sum(axis=0)
        self.grads["W"] = None if self.none else (x.T @ grad_y).T
        return grad_y @ self.params["W"].T


@pytest.mark.parametrize("none, problem", [(False, r"has shape \(2, 4\), expected \(4, 2\)"),
                                           (True, "backward returned None for W")])
def test_a_wrong_shaped_or_missing_parameter_gradient_is_reported_next_to_a_right_one(rng, none, problem):
    with pytest.raises(lw.GradcheckError, match=problem) as e:
        lw.gradcheck(TwoParams(none), rng.normal(size=(3, 4)))
    report = e.value.report
    assert set(report.failures) == {"W"} and "b" in report.tensors and not report.not_accumulated


class SinZeroBackward(lw.Module):
    """sin(x) with a backward that returns zeros: wrong everywhere the cosine is not 0."""

    def forward(self, x):
        self._cache = np.shape(x)
        return np.sin(x)

    def backward(self, grad_y):
        return np.zeros(self._cached())


class NoWeightGradient(lw.Linear):
    """A Linear whose backward forgets dL/dW (and dL/db)."""

    def backward(self, grad_y, input_grad=True):
        self._cached()
        return grad_y @ self.params["W"].T


def test_gradcheck_perturbs_inputs_and_parameters_stored_column_major(rng):
    x = rng.standard_normal((4, 3)).T        # as np.array keeps it: column-major, reshape(-1) copies
    assert lw.gradcheck(lw.Tanh(), x).tensors["input"][1] < 1e-8
    assert lw.gradcheck_loss(lw.MSELoss(), x, np.zeros((3, 4))).tensors["pred"][1] < 1e-8
    with pytest.raises(lw.GradcheckError, match="gradient of input is wrong"):
        lw.gradcheck(SinZeroBackward(), x)
    layer = lw.Linear(4, 2, rng=rng, dtype=np.float64)
    layer.params["W"] = np.asfortranarray(layer.params["W"])
    report = lw.gradcheck(layer, x)
    assert set(report.tensors) == {"input", "W", "b"} and report.tensors["W"][1] < 1e-8
    broken = NoWeightGradient(4, 2, rng=rng, dtype=np.float64)
    broken.params["W"] = np.asfortranarray(broken.params["W"])
    with pytest.raises(lw.GradcheckError, match="gradient of W is wrong"):
        lw.gradcheck(broken, x)
    # a conv layer's output is an NCHW view of NHWC memory: the next layer's check gets such inputs
    nhwc = rng.standard_normal((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    assert lw.gradcheck(lw.BatchNorm2d(3), nhwc).tensors["input"][1] < 1e-7


def test_a_forward_that_draws_from_numpy_global_random_is_named_not_called_wrong():
    class GlobalDropout(lw.Module):
        def forward(self, x):
            self._cache = (np.random.random(np.shape(x)) > 0.5) * 2.0
            return x * self._cache

        def backward(self, grad_y):
            return grad_y * self._cached()

    with pytest.raises(lw.GradcheckError, match="forward gives different outputs for the same input"):
        lw.gradcheck(GlobalDropout(), np.random.default_rng(0).normal(size=(3, 4)))
    lw.gradcheck(lw.Dropout(0.5, rng=0), np.random.default_rng(0).normal(size=(3, 4)))   # its own Generator


class TanhOverwritingInput(lw.Module):
    def forward(self, x):
        self._cache = np.tanh(x, out=x)
        return self._cache

    def backward(self, grad_y):
        return grad_y * (1 - self._cache ** 2)


class Float32Inside(lw.Module):
    def forward(self, x):
        self._cache = np.tanh(np.asarray(x, np.float32))
        return self._cache

    def backward(self, grad_y):
        return grad_y * (1 - self._cache ** 2)


@pytest.mark.parametrize("module, message", [
    (TanhOverwritingInput(), "forward changed its input in place"),
    (Float32Inside(), "forward returned float32 for float64 input"),
])
def test_a_forward_gradcheck_cannot_difference_is_named_not_called_a_wrong_gradient(rng, module, message):
    with pytest.raises(lw.GradcheckError, match=message):
        lw.gradcheck(module, rng.normal(size=(3, 4)))


def test_a_loss_takes_class_labels_as_the_trainer_gives_them(rng):
    labels = np.array([0, 1, 1, 0])
    report = lw.gradcheck(lw.Linear(3, 1, rng=0), rng.normal(size=(4, 3)), loss=lw.BCEWithLogitsLoss(), target=labels)
    assert report.tensors["W"][1] < 1e-8


class Squeeze(lw.Module):
    """(N, 1) -> (N,): an output that is already one value per sample."""

    def forward(self, x):
        return x[:, 0].copy()

    def backward(self, grad_y):
        grad = np.zeros((len(grad_y), 1))
        grad[:, 0] = grad_y
        return grad


def test_targets_that_already_have_the_outputs_shape_are_taken_as_they_are(rng):
    model = lw.Sequential(lw.Linear(3, 1, rng=0), Squeeze())
    report = lw.gradcheck(model, rng.normal(size=(4, 3)), loss=lw.MSELoss(), target=np.array([0, 1, 2, 1]))
    assert report.tensors["0.W"][1] < 1e-8


@pytest.mark.parametrize("thing, says", [
    (lw.MSELoss(), "gradcheck takes a Module; MSELoss is a loss: check it with layerwise.gradcheck_loss(loss, pred, "
                   "target)."),
    (np.tanh, "gradcheck takes a Module (a subclass of layerwise.Module, with forward and backward); got ufunc, which "
              "has no forward()."),
])
def test_gradcheck_of_something_that_is_no_module_says_what_it_takes(thing, says):
    """It was AttributeError: 'MSELoss' object has no attribute 'astype'."""
    with pytest.raises(TypeError, match=re.escape(says)):
        lw.gradcheck(thing, np.ones((2, 2)))
