"""Losses against closed forms and finite differences."""

import numpy as np
import pytest

import layerwise as lw

Z = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
T = np.array([1, 2])


def test_cross_entropy_matches_the_closed_form_and_its_gradient():
    loss = lw.CrossEntropyLoss()
    p = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    assert loss.forward(Z, T) == pytest.approx(-(np.log(p[0, 1]) + np.log(p[1, 2])) / 2, rel=1e-14)
    onehot = np.eye(3)[T]
    assert np.allclose(loss.backward(), (p - onehot) / 2, rtol=1e-14)
    assert lw.CrossEntropyLoss().forward(Z, onehot) == pytest.approx(loss.forward(Z, T), rel=1e-14)
    lw.gradcheck_loss(lw.CrossEntropyLoss(), Z, T)
    lw.gradcheck_loss(lw.CrossEntropyLoss(), Z, np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]]))


def test_cross_entropy_is_finite_for_huge_logits():
    loss = lw.CrossEntropyLoss()
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=np.float32)
    value = loss.forward(z, np.array([1, 1]))
    grad = loss.backward()
    assert value == pytest.approx(1e4, rel=1e-6) and np.all(np.isfinite(grad)) and grad.dtype == np.float32


def test_bce_with_logits_and_bce_match_closed_forms():
    z, t = np.array([[0.3], [-2.0], [4.0]]), np.array([[1.0], [0.0], [0.0]])
    s = 1 / (1 + np.exp(-z))
    want = -np.mean(t * np.log(s) + (1 - t) * np.log(1 - s))
    a = lw.BCEWithLogitsLoss()
    assert a.forward(z, t) == pytest.approx(want, rel=1e-12)
    assert np.allclose(a.backward(), (s - t) / 3, rtol=1e-12)
    assert np.isfinite(lw.BCEWithLogitsLoss().forward(np.array([[1e4], [-1e4]]), np.array([[0.0], [1.0]])))
    b = lw.BCELoss()
    assert b.forward(s, t) == pytest.approx(want, rel=1e-12)
    assert np.allclose(b.backward(), (s - t) / (s * (1 - s)) / 3, rtol=1e-10)
    assert np.isfinite(lw.BCELoss().forward(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]])))
    lw.gradcheck_loss(lw.BCEWithLogitsLoss(), z, t)
    lw.gradcheck_loss(lw.BCELoss(), s, t)


def test_mse_averages_over_every_element():
    y, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    loss = lw.MSELoss()
    assert loss.forward(y, t) == pytest.approx((1 + 0 + 4 + 16) / 4)
    assert np.allclose(loss.backward(), 2 * (y - t) / 4)
    lw.gradcheck_loss(lw.MSELoss(), y, t)


def test_l1_matches_pytorchs_formula_and_its_gradient():
    y, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.0, 2.5], [1.0, 7.0]])
    loss = lw.L1Loss()
    assert loss.forward(y, t) == pytest.approx((1 + 0.5 + 2 + 2) / 4, rel=1e-14)
    assert np.array_equal(loss.backward(), np.sign(y - t) / 4)
    lw.gradcheck_loss(lw.L1Loss(), y, t)       # away from y == t, where |.| has no derivative
    loss.forward(np.array([[1.0]]), np.array([[1.0]]))
    assert loss.backward()[0, 0] == 0          # sign(0) = 0, as PyTorch


@pytest.mark.parametrize("delta", [1.0, 0.5, 2.0])
def test_huber_matches_pytorchs_formula_and_its_gradient(delta):
    y = np.array([[0.2, -0.3, 1.7], [3.0, -2.5, 0.9]])
    t = np.array([[0.0, 0.4, -1.1], [0.1, 0.0, 1.0]])
    d = y - t
    quadratic = np.abs(d) < delta
    want = np.where(quadratic, 0.5 * d ** 2, delta * (np.abs(d) - 0.5 * delta)).mean()
    loss = lw.HuberLoss(delta=delta)
    assert loss.forward(y, t) == pytest.approx(want, rel=1e-14)
    assert np.allclose(loss.backward(), np.where(quadratic, d, delta * np.sign(d)) / d.size, rtol=1e-14)
    lw.gradcheck_loss(lw.HuberLoss(delta=delta), y, t)
    assert lw.HuberLoss().delta == 1.0
    with pytest.raises(ValueError, match="'delta' parameter of HuberLoss must be a number > 0"):
        lw.HuberLoss(delta=0)


@pytest.mark.parametrize("name", ["mse", "l1", "huber"])
def test_regression_losses_take_one_target_per_sample_for_one_output(name):
    loss = lw.get_loss(name)
    assert "regression" in loss.tasks
    y = np.array([1.5, -0.5, 2.0])
    assert loss.targets(y, 1).shape == (3, 1)
    loss.check_targets(y, 1)
    with pytest.raises(ValueError, match="expected target of shape \\(3, 2\\)"):
        loss.check_targets(y.reshape(3, 1), 2)


def test_bce_refuses_predictions_outside_0_1_as_pytorch_does():
    with pytest.raises(ValueError, match="BCELoss expected probabilities in \\[0, 1\\], got values from -0.5 to 2"):
        lw.BCELoss().forward(np.array([[-0.5], [2.0]]), np.array([[0.0], [1.0]]))
    assert np.isfinite(lw.BCELoss().forward(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]])))


def test_binary_losses_refuse_class_labels_for_several_outputs():
    # 10-class labels for 10 outputs: what a 10-class dataset with bce_with_logits would give the loss
    for loss in (lw.BCEWithLogitsLoss(), lw.BCELoss()):
        with pytest.raises(ValueError, match="takes two classes with one output per sample.*got class labels "
                                             "\\(N,\\) for 10 outputs.*CrossEntropyLoss"):
            loss.check_targets(np.arange(10), 10)
        loss.check_targets(np.array([0, 1, 1]), 1)
        loss.check_targets(np.eye(3), 3)       # multi-label 0/1 targets


@pytest.mark.parametrize("loss, pred, target, message", [
    (lw.CrossEntropyLoss(), Z, np.array([0, 3]), "labels must be in \\[0, 3\\)"),
    (lw.CrossEntropyLoss(), Z, np.array([-1, 2]), "labels must be in \\[0, 3\\).*from -1 to 2"),
    (lw.CrossEntropyLoss(), Z, np.array([0, 3], np.uint8), "labels must be in \\[0, 3\\).*from 0 to 3"),
    (lw.CrossEntropyLoss(), Z, np.array([0.0, 3.0]), "labels must be in \\[0, 3\\)"),
    (lw.CrossEntropyLoss(), Z, np.array([0, 1, 2]), "2 predictions but 3 labels"),
    (lw.MSELoss(), Z, Z[:, :2], "expected target of shape \\(2, 3\\)"),
])
def test_bad_targets_raise_clear_errors(loss, pred, target, message):
    with pytest.raises(ValueError, match=message):
        loss.forward(pred, target)


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="CrossEntropyLoss.backward was called before forward"):
        lw.CrossEntropyLoss().backward()


def test_cross_entropy_gradient_in_float16_keeps_its_softmax_part(rng):
    """N x C beyond float16's range (128 x 1000): the softmax part must survive the scaling by 1/N."""
    z = rng.normal(size=(128, 1000))
    labels = rng.integers(0, 1000, 128)
    ref, half = lw.CrossEntropyLoss(), lw.CrossEntropyLoss()
    ref.forward(z, labels)
    half.forward(z.astype(np.float16), labels)
    np.testing.assert_allclose(half.backward().astype(np.float64), ref.backward(), atol=2e-5)


def test_cross_entropy_gradient_with_probability_rows_that_do_not_sum_to_one():
    # a masked sample (a zero row) adds nothing to the loss, so it gets no gradient; PyTorch's values
    z = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
    t = np.array([[0.2, 0.3, 0.1], [0.0, 0.0, 0.0]])
    loss = lw.CrossEntropyLoss()
    assert loss.forward(z, t) == pytest.approx(0.4722817898, rel=1e-9)
    np.testing.assert_allclose(loss.backward(), [[-0.0730, -0.0766, 0.1496], [0.0, 0.0, 0.0]], atol=5e-5)
    lw.gradcheck_loss(lw.CrossEntropyLoss(), z, t)


@pytest.mark.parametrize("labels, shown", [([0, -1, 2], "from -1 to 2"), ([0, 3, 1], "from 0 to 3")])
def test_mse_on_class_labels_refuses_labels_outside_its_outputs(labels, shown):
    """-1 became the last class's one-hot row without a word; 3 for three outputs was NumPy's IndexError."""
    with pytest.raises(ValueError, match=rf"MSELoss: class labels must be in \[0, 3\) for 3 outputs; got labels {shown}"):
        lw.MSELoss().targets(np.array(labels), 3)
    np.testing.assert_array_equal(lw.MSELoss().targets(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_sigmoid_keeps_its_relative_precision_for_negative_inputs():
    """``(1 + tanh(x / 2)) / 2`` cancelled: 44% off at x = -17 and exactly 0 from -20 in float32, so
    BCEWithLogits' gradient and predict_proba lost the small probabilities."""
    from layerwise.modules.activations import sigmoid
    x = np.array([-80.0, -37.0, -20.0, -17.0, -1.0, 0.0, 3.0, 40.0])
    exact = 1 / (1 + np.exp(-x))                                 # float64: no cancellation for x < 0 here
    np.testing.assert_allclose(sigmoid(x), exact, rtol=1e-15)
    np.testing.assert_allclose(sigmoid(x[1:].astype(np.float32)), exact[1:], rtol=3e-7)
    np.testing.assert_array_equal(sigmoid(np.array([np.inf, -np.inf])), [1.0, 0.0])
    assert np.isnan(sigmoid(np.array([np.nan]))[0])
    assert sigmoid(np.zeros(2, np.float32)).dtype == np.float32
    np.testing.assert_allclose(lw.Sigmoid().forward(np.array([-20.0], np.float32)), [2.0611537e-09], rtol=1e-6)


def test_numpy_scalars_are_hyperparameters_like_python_numbers():
    """np.float32(0.5) was refused as 'not a float' by Dropout, LeakyReLU and HuberLoss."""
    assert lw.Dropout(np.float32(0.5)).p == 0.5
    assert lw.LeakyReLU(np.float32(0.25)).negative_slope == 0.25
    assert lw.HuberLoss(np.float32(2.0)).delta == 2.0
    with pytest.raises(ValueError, match="Dropout must be a float in"):
        lw.Dropout(np.bool_(True))
