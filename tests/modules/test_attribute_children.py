"""A module written PyTorch's way, its layers in attributes: found, trained, saved, converted and checked."""

import numpy as np
import pytest

import layerwise as lw


class MLP(lw.Module):
    def __init__(self, dtype=np.float32):
        super().__init__()
        self.fc1 = lw.Linear(6, 5, rng=0, dtype=dtype)
        self.act = lw.Tanh()
        self.fc2 = lw.Linear(5, 3, rng=1, dtype=dtype)

    def forward(self, x):
        return self.fc2.forward(self.act.forward(self.fc1.forward(x)))

    def backward(self, grad_y):
        return self.fc1.backward(self.act.backward(self.fc2.backward(grad_y)))


def _data(n=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)


def test_attribute_layers_are_its_children_by_their_names():
    m = MLP()
    assert m.children() == [m.fc1, m.act, m.fc2]
    assert [name for name, _ in m.named_modules()] == ["", "fc1.", "act.", "fc2."]
    assert sorted(m.state_dict()) == ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]
    assert m.n_params() == 6 * 5 + 5 + 5 * 3 + 3


def test_it_trains_and_its_weights_move():
    X, y = _data()
    m = MLP().set_optimizer(lw.SGD(lr=0.5))
    before = m.fc1.params["W"].copy()
    history = lw.Trainer(m, epochs=15, batch_size=16, progress="off").fit(X, y)
    assert not np.array_equal(m.fc1.params["W"], before)
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]


def test_gradcheck_converts_and_checks_every_parameter():
    report = lw.gradcheck(MLP(), np.random.default_rng(1).normal(size=(4, 6)))
    names = str(report)
    for name in ("input", "fc1.W", "fc1.b", "fc2.W", "fc2.b"):
        assert name in names


def test_save_and_load_by_attribute_names():
    a, b = MLP(), MLP()
    b.fc1.params["W"][...] = 0
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.fc1.params["W"], a.fc1.params["W"])


def test_one_layer_in_two_attributes_counts_once():
    m = MLP()
    m.alias = m.fc1
    assert m.children() == [m.fc1, m.act, m.fc2]
    assert sorted(m.state_dict()) == ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]


class Listed(MLP):
    def children(self):          # a class that says itself what its children are: numbered, as before
        return [self.fc2, self.fc1]


def test_an_overridden_children_keeps_positions_as_names():
    m = Listed()
    assert [name for name, _ in m.named_modules()] == ["", "0.", "1."]


@pytest.mark.parametrize("make", [MLP, lambda: lw.Sequential(MLP(), lw.ReLU())])
def test_hooks_and_frozen_children(make):
    m = make().set_optimizer(lw.SGD(lr=0.1))
    inner = m if isinstance(m, MLP) else m[0]
    seen = []
    inner.fc2.register_forward_hook(lambda mod, x, y: seen.append(y.shape))
    inner.fc1.frozen = True
    before = inner.fc1.params["W"].copy()
    X, _ = _data(8)
    y = m.forward(X)
    m.backward(np.ones_like(y))
    m.update()
    assert seen == [(8, 3)]
    np.testing.assert_array_equal(inner.fc1.params["W"], before)
