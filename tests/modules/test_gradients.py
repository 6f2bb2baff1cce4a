"""Every registered module passes gradcheck; a registered module without a case fails the suite."""

import pytest

import layerwise as lw
from layerwise.modules import MODULES

CASES = {
    "linear": (lambda rng: lw.Linear(4, 3, rng=rng), (5, 4)),
    "relu": (lambda rng: lw.ReLU(), (5, 4)),
    "leakyrelu": (lambda rng: lw.LeakyReLU(0.1), (5, 4)),
    "sigmoid": (lambda rng: lw.Sigmoid(), (3, 2, 4)),
    "tanh": (lambda rng: lw.Tanh(), (3, 2, 4)),
    "softmax": (lambda rng: lw.Softmax(), (5, 4)),
    "flatten": (lambda rng: lw.Flatten(), (3, 2, 2, 2)),
    "dropout": (lambda rng: lw.Dropout(0.4, rng=rng), (6, 5)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_gradients_match_finite_differences(name, rng):
    make, shape = CASES[name]
    report = lw.gradcheck(make(rng), rng.uniform(-2, 2, size=shape))
    assert "input" in report.tensors


def test_every_registered_module_has_a_gradcheck_case():
    missing = set(MODULES) - set(CASES)
    assert not missing, f"registered modules without a gradcheck case: {sorted(missing)}"


def test_a_deep_mlp_passes_gradcheck_with_a_loss(rng):
    model = lw.Sequential(lw.Linear(6, 5, rng=rng), lw.Tanh(), lw.Linear(5, 4, rng=rng), lw.LeakyReLU(),
                          lw.Dropout(0.2, rng=rng), lw.Linear(4, 3, rng=rng))
    x = rng.normal(size=(7, 6))
    report = lw.gradcheck(model, x, loss=lw.CrossEntropyLoss(), target=rng.integers(0, 3, 7))
    assert set(report.tensors) == {"input", "0.W", "0.b", "2.W", "2.b", "5.W", "5.b"}
