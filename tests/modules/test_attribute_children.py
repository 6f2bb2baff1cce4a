"""A module made of others, written PyTorch's way (layers in attributes): refused until it names its children,
then trained, saved, converted and checked; a reference to a module elsewhere in the tree (tied weights) is fine."""

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


class Named(MLP):
    def children(self):
        return [self.fc1, self.act, self.fc2]


def _data(n=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)


def test_layers_in_attributes_without_children_are_refused_naming_the_attribute():
    """They used to be silently never trained, saved or checked (the loss stayed where it started)."""
    with pytest.raises(TypeError, match=r"MLP holds a Linear in self\.fc1, but its children\(\) does not return it"):
        MLP().set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises(TypeError, match=r"MLP \(module 1\) holds a Linear in self\.fc1"):
        lw.Sequential(lw.ReLU(), MLP()).set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises(TypeError, match="self.fc1"):
        lw.gradcheck(MLP(np.float64), np.zeros((2, 6)))


def test_with_children_it_trains_saves_and_checks():
    X, y = _data()
    m = Named().set_optimizer(lw.SGD(lr=0.5))
    before = m.fc1.params["W"].copy()
    history = lw.Trainer(m, epochs=15, batch_size=16, progress="off").fit(X, y)
    assert not np.array_equal(m.fc1.params["W"], before)
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert sorted(m.state_dict()) == ["0.W", "0.b", "2.W", "2.b"]
    report = str(lw.gradcheck(Named(), np.random.default_rng(1).normal(size=(4, 6))))
    assert all(name in report for name in ("input", "0.W", "0.b", "2.W", "2.b"))


class TiedDecoder(lw.Module):
    """Decodes with the encoder's weight, transposed: it refers to a module that is in the tree elsewhere."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.register_param("b", np.zeros(enc.params["W"].shape[0], np.float64), decay=False)

    def forward(self, h):
        self._cache = h
        return h @ self.enc.params["W"].T + self.params["b"]

    def backward(self, grad_y):
        self.enc.grads["W"] += grad_y.T @ self._cached()
        self.grads["b"] += grad_y.sum(0)
        return grad_y @ self.enc.params["W"]


def test_a_reference_to_a_module_elsewhere_in_the_tree_is_allowed():
    enc = lw.Linear(8, 3, rng=0, dtype=np.float64)
    model = lw.Sequential(enc, lw.Tanh(), TiedDecoder(enc)).set_optimizer(lw.SGD(lr=0.1))
    X = np.random.default_rng(0).normal(size=(32, 8))
    losses = []
    for _ in range(3):
        y = model.forward(X)
        losses.append(float(((y - X) ** 2).mean()))
        model.backward(2 * (y - X) / y.size)
        model.update()
    assert losses[2] < losses[0]


class TiedEncoder(lw.Module):
    """Encodes with the decoder's weight, transposed; no parameters of its own: the first module of the model."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, x):
        self._cache = x
        return x @ self.dec.params["W"].T

    def backward(self, grad_y):
        self.dec.grads["W"] += (self._cached().T @ grad_y).T
        return grad_y @ self.dec.params["W"]


def test_a_backward_without_the_inputs_gradient_keeps_a_tied_layers_share():
    """``backward(g, input_grad=False)``, which the Trainer runs, stopped the chain at the first module with
    parameters of its own, so a parameter-free first module that adds into another layer's gradient was never
    called: the tied weight lost its share of the gradient, without a word."""
    dec = lw.Linear(3, 5, rng=0, dtype=np.float64)
    model = lw.Sequential(TiedEncoder(dec), lw.Tanh(), dec)
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    model.forward(x)
    model.backward(g)
    full = dec.grads["W"].copy()
    model.zero_grad()
    model.forward(x)
    assert model.backward(g, input_grad=False) is None
    np.testing.assert_allclose(dec.grads["W"], full, rtol=1e-13)
    lw.gradcheck(model, x)
    # nested, and through the Trainer (which never asks for dL/dx)
    nested = lw.Sequential(lw.Sequential(TiedEncoder(dec), lw.Tanh()), dec)
    nested.zero_grad()
    nested.forward(x)
    nested.backward(g, input_grad=False)
    np.testing.assert_allclose(dec.grads["W"], full, rtol=1e-13)


class Listed(lw.Module):
    """nn.ModuleList's habit: the layers in a list (or a dict) attribute, no children()."""

    def __init__(self, holder):
        super().__init__()
        layers = [lw.Linear(6, 5, rng=0), lw.Tanh(), lw.Linear(5, 3, rng=1)]
        self.layers = layers if holder is list else tuple(layers) if holder is tuple else dict(enumerate(layers))

    def forward(self, x):
        for m in (self.layers.values() if isinstance(self.layers, dict) else self.layers):
            x = m.forward(x)
        return x


@pytest.mark.parametrize("holder, where", [(list, r"self\.layers\[0\]"), (tuple, r"self\.layers\[0\]"),
                                           (dict, r"self\.layers\[0\]")])
def test_layers_in_a_list_or_dict_attribute_are_refused_too(holder, where):
    """A list of layers got past the check: update() never changed them, state_dict() was empty."""
    with pytest.raises(TypeError, match=rf"Listed holds a Linear in {where}, but its children\(\) does not return it"):
        Listed(holder).set_optimizer(lw.SGD(lr=0.1))


def test_a_submodule_holding_a_tied_layer_says_to_set_the_optimizer_on_the_model_around_it():
    enc = lw.Linear(8, 3, rng=0, dtype=np.float64)
    model = lw.Sequential(enc, lw.Tanh(), TiedDecoder(enc))
    with pytest.raises(TypeError, match=r"tied weights\), call set_optimizer \(or gradcheck\) on that model"):
        model[2].set_optimizer(lw.SGD(lr=0.1))


class Hidden(lw.Module):
    """Holds a layer and forgot children()."""

    def __init__(self):
        super().__init__()
        self.fc = lw.Linear(4, 4, rng=0)

    def forward(self, x):
        return self.fc.forward(x)

    def backward(self, grad_y):
        return self.fc.backward(grad_y)


def test_a_layer_appended_after_set_optimizer_or_trained_without_it_is_checked_too():
    model = lw.Sequential(lw.Linear(4, 4, rng=1)).set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises(TypeError, match=r"holds a Linear in self.fc"):
        model.append(Hidden())
    assert len(model) == 1                          # refused: not half added
    built = lw.Sequential(lw.Linear(4, 4, rng=1), Hidden())   # no optimizer yet: checked where it is set
    built[0].set_optimizer(lw.SGD(lr=0.1))
    X = np.ones((8, 4), np.float32)
    with pytest.raises(TypeError, match=r"holds a Linear in self.fc"):
        lw.Trainer(built, "mse", epochs=1, progress="off").fit(X, X)


def test_an_array_two_layers_hold_as_parameters_is_refused_naming_both():
    a, b = lw.Linear(4, 4, rng=0, bias=False), lw.Linear(4, 4, rng=1, bias=False)
    b.params["W"] = a.params["W"]                   # PyTorch's weight tying: here each layer steps its own
    model = lw.Sequential(a, lw.Tanh(), b)
    a.set_optimizer(lw.SGD(lr=0.1)), b.set_optimizer(lw.SGD(lr=0.1))     # each alone passes its own check
    x = np.ones((2, 4), np.float32)
    for attempt in (lambda: model.set_optimizer(lw.Adam(lr=0.1)), lambda: lw.gradcheck(model, x),
                    lambda: lw.Trainer(model, "mse", epochs=1, progress="off").fit(x, x)):
        with pytest.raises(ValueError, match=r"Parameters 0.W and 2.W are the same array .* stepped twice"):
            attempt()
    c = lw.Linear(4, 4, rng=2, bias=False)
    c.params["W"] = a.params["W"].T                 # a view of the same memory counts too
    ready = lw.Sequential(a).set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises(ValueError, match=r"Parameters 0.W and 1.W"):
        ready.append(c)


def test_views_of_one_buffer_that_share_no_element_and_a_tied_layer_appended_deeper_are_fine():
    buf = np.zeros((4, 8), np.float32)
    a, b = lw.Linear(4, 4, rng=0, bias=False), lw.Linear(4, 4, rng=1, bias=False)
    a.params["W"], b.params["W"] = buf[:, :4], buf[:, 4:]        # one allocation, no element in common
    lw.Sequential(a, b).set_optimizer(lw.SGD(lr=0.1))
    enc = lw.Linear(8, 3, rng=0, dtype=np.float64)
    inner = lw.Sequential(lw.Tanh())
    lw.Sequential(enc, inner).set_optimizer(lw.SGD(lr=0.1))
    inner.append(TiedDecoder(enc))              # inner alone cannot see enc: the model around it can
    assert inner[1].optimizer is not None
