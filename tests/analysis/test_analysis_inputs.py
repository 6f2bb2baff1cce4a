"""Gradients with respect to the input: saliency maps, adversarial examples, dreams."""

import numpy as np
import pytest

import layerwise as lw
from layerwise.analysis.adversarial import attack, fgsm, pgd
from layerwise.analysis.dream import dream, truncate
from layerwise.analysis.runs import load_run
from layerwise.analysis.saliency import saliency


def numeric_input_gradient(f, x, eps=1e-6):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + eps
        up = f(x)
        x[i] = keep - eps
        down = f(x)
        x[i] = keep
        out[i] = (up - down) / (2 * eps)
    return out


def test_the_saliency_map_is_the_input_gradient_that_gradcheck_verifies(small_model, rng):
    x = rng.uniform(0, 1, size=(3, 1, 4, 4))
    grad, classes = saliency(small_model, x)
    assert np.array_equal(classes, small_model.forward(x).argmax(axis=1))
    score = lambda z: float(small_model.forward(z)[np.arange(3), classes].sum())
    np.testing.assert_allclose(grad, numeric_input_gradient(score, x.copy()), rtol=1e-6, atol=1e-9)
    # the same backward gradcheck verifies, with the one-hot upstream gradient
    assert "input" in lw.gradcheck(small_model, x).tensors
    small_model.forward(x)
    upstream = np.zeros((3, 3))
    upstream[np.arange(3), classes] = 1
    np.testing.assert_array_equal(grad, small_model.backward(upstream))


def test_saliency_leaves_the_model_as_it_was(small_model, rng):
    x = rng.uniform(0, 1, size=(2, 1, 4, 4))
    small_model.train()
    small_model.forward(x)
    small_model.backward(np.ones((2, 3)), input_grad=False)
    before = {n: m.grads[k].copy() for n, m, k in small_model.named_parameters()}
    saliency(small_model, x, classes=[0, 2])
    assert small_model.training and all(m.training for _, m in small_model.named_modules())
    for n, m, k in small_model.named_parameters():
        np.testing.assert_array_equal(m.grads[k], before[n])


def test_fgsm_moves_every_value_by_eps_within_the_data_range(small_model, rng):
    x = rng.uniform(0, 1, size=(4, 1, 4, 4))
    y = np.array([0, 1, 2, 0])
    adv = fgsm(small_model, lw.CrossEntropyLoss(), x, y, 0.1, clip=(0.0, 1.0))
    assert adv.min() >= 0 and adv.max() <= 1
    inside = (x > 0.1) & (x < 0.9)
    np.testing.assert_allclose(np.abs(adv - x)[inside], 0.1, rtol=1e-12)
    far = pgd(small_model, lw.CrossEntropyLoss(), x, y, 0.1, steps=5, clip=(0.0, 1.0))
    assert np.abs(far - x).max() <= 0.1 + 1e-12 and far.min() >= 0 and far.max() <= 1


def test_fgsm_lowers_test_accuracy_on_a_trained_digits_model_as_eps_grows(trained_run):
    r = load_run(trained_run)
    X, y = r.data.X_test, r.data.y_test
    eps = [0.0, 0.05, 0.1, 0.2]
    acc = attack(r.model, r.loss, X, y, eps, clip=r.value_range)["accuracy"]
    clean = float(np.mean(r.loss.labels(r.model.forward(X)) == y))
    assert acc[0.0] == pytest.approx(clean) and clean > 0.9
    assert acc[0.0] > acc[0.05] > acc[0.1] > acc[0.2]
    assert acc[0.2] < 0.5
    iterated = attack(r.model, r.loss, X, y, [0.1], steps=5, clip=r.value_range)["accuracy"]
    assert iterated[0.1] <= acc[0.1] + 0.01


def test_a_dream_raises_its_class_score(trained_run):
    r = load_run(trained_run)
    mean = r.data.X_train.mean(axis=0)
    x0 = np.repeat(mean[None], 3, axis=0)
    x, before, after = dream(r.model, x0, classes=[1, 4, 7], steps=30, lr=0.02, l2=1.0, ref=mean, clip=(0, 1))
    assert np.all(after > before + 1.0)
    assert x.min() >= 0 and x.max() <= 1
    predicted = r.model.forward(x).argmax(axis=1)
    assert list(predicted) == [1, 4, 7]


def test_a_dream_raises_a_hidden_units_activation(small_model, rng):
    x0 = rng.uniform(0, 1, size=(1, 1, 4, 4))
    _, before, after = dream(small_model, x0, layer="2", unit=3, steps=20, lr=0.05, jitter=0)
    assert after[0] > before[0]
    with pytest.raises(ValueError, match="has 4 modules"):
        truncate(small_model, "7")


def test_on_standardized_images_the_attack_keeps_the_pixels_range_and_moves_no_value_by_more_than_eps(tmp_path):
    """The clip was the global range of the standardized training inputs, [-3.05, 35.9] on digits: 22% of the
    adversarial pixels fell below 0 in raw units. Each pixel's range is now the raw images' [0, 16] mapped
    through its own mean and std; and the range never moves a value further than eps."""
    from tests.analysis.conftest import SMALL
    out = tmp_path / "run"
    lw.run.fit({**SMALL, "data": {**SMALL["data"], "normalize": "standardize"}, "training": {**SMALL["training"],
               "epochs": 2}}, out=out, progress="off")
    r = load_run(out)
    lo, hi = r.value_range
    np.testing.assert_allclose(r.raw(lo), 0, atol=1e-4)
    np.testing.assert_allclose(r.raw(hi), 16, atol=1e-4)
    X, y = r.data.X_test[:64], r.data.y_test[:64]
    for steps in (1, 4):
        adv = attack(r.model, r.loss, X, y, [0.5], steps=steps, clip=(lo, hi), keep=64)["examples"][0.5][0]
        assert np.abs(adv - X).max() <= 0.5 + 1e-6
        raw = r.raw(adv)
        outside = (r.raw(X) < -1e-4) | (r.raw(X) > 16 + 1e-4)      # test pixels beyond the training range stay
        assert raw[~outside].min() >= -1e-4 and raw[~outside].max() <= 16 + 1e-4


def test_a_value_outside_the_clip_range_is_never_moved_by_more_than_eps(small_model):
    x = np.array([[[[-0.5, 0.5, 1.4, 0.95]] * 4]])          # -0.5 and 1.4 lie outside [0, 1]
    for adv in (fgsm(small_model, lw.CrossEntropyLoss(), x, np.array([1]), 0.1, clip=(0.0, 1.0)),
                pgd(small_model, lw.CrossEntropyLoss(), x, np.array([1]), 0.1, steps=4, clip=(0.0, 1.0))):
        assert np.abs(adv - x).max() <= 0.1 + 1e-12         # clipping -0.5 to 0 moved it by 0.5
        inside = (x >= 0) & (x <= 1)
        assert adv[inside].min() >= 0 and adv[inside].max() <= 1
