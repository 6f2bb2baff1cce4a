"""Schedules that watch a metric, and the Monitor rule they share with early stopping and scikit-learn's tol."""

import pytest

import layerwise as lw
from layerwise.schedules import PlateauSchedule


def test_plateau_cuts_the_rate_after_patience_epochs_without_improvement_and_keeps_the_floor():
    opt = lw.SGD(lr=1.0)
    sched = PlateauSchedule([opt], epochs=20, factor=0.5, patience=2, monitor="val_loss", min_lr=0.2)
    rates = []
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.92, 0.91, 0.95, 0.97, 0.99, 1.0, 1.0, 1.0, 1.0]):
        rates.append(sched.set_epoch(epoch))
        sched.observe({"val_loss": val_loss})
    # 0.9 is the best; three epochs without a lower loss (wait > patience) halve the rate, then wait restarts
    assert rates == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]


def test_plateau_on_an_accuracy_maximises_and_resumes_from_its_state():
    make = lambda: PlateauSchedule([lw.SGD(lr=1.0)], epochs=9, factor=0.1, patience=1, monitor="val_accuracy")
    values = [0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7]
    whole, rates = make(), []
    for epoch, v in enumerate(values):
        rates.append(whole.set_epoch(epoch))
        whole.observe({"val_accuracy": v})
    assert rates == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1])
    first = make()
    for epoch, v in enumerate(values[:3]):
        first.set_epoch(epoch)
        first.observe({"val_accuracy": v})
    second = make()
    second.load_state_dict(first.state_dict())
    for epoch, v in enumerate(values[3:], start=3):
        second.set_epoch(epoch)
        second.observe({"val_accuracy": v})
    assert second.state_dict() == whole.state_dict()


@pytest.mark.parametrize("kw, values, improved", [
    ({"mode": "min"}, [1.0, 1.0, 0.9], [True, False, True]),
    ({"mode": "max", "min_delta": 0.25}, [0.5, 0.75, 0.875], [True, False, True]),
    ({"mode": "max", "min_delta": 0.25, "inclusive": True}, [0.5, 0.75], [True, True]),
    ({"mode": "min", "min_delta": 0.5, "best_follows": "any"}, [2.0, 1.8, 1.4], [True, False, False]),
    ({"mode": "min", "min_delta": 0.5}, [2.0, 1.8, 1.4], [True, False, True]),
    ({"mode": "min"}, [1.0, float("nan"), 0.5], [True, False, True]),
])
def test_monitor_rule(kw, values, improved):
    m = lw.Monitor(**kw)
    assert [m.update(v) for v in values] == improved


def test_monitor_refuses_bad_settings():
    with pytest.raises(ValueError, match="'mode' parameter of Monitor"):
        lw.Monitor("up")
    with pytest.raises(ValueError, match="'min_delta' parameter of Monitor"):
        lw.Monitor("min", float("inf"))


def test_plateau_floors_each_optimizer_at_min_lr_as_pytorch_does():
    a, b, low = lw.SGD(lr=0.1), lw.SGD(lr=1.0), lw.SGD(lr=0.001)
    sched = PlateauSchedule([a, b, low], epochs=50, factor=0.1, patience=0, min_lr=0.01)
    rates = []
    for epoch in range(6):
        sched.set_epoch(epoch)
        rates.append((a.lr, b.lr, low.lr))
        sched.observe({"val_loss": 1.0})
    # torch.optim.lr_scheduler.ReduceLROnPlateau: max(lr * factor, min_lr) per group, and a group already
    # below min_lr is not raised
    assert rates[-1] == (0.01, 0.01, 0.001)
    assert rates[2] == pytest.approx((0.01, 0.1, 0.001))


@pytest.mark.parametrize("mode, threshold, expected", [
    # torch.optim.lr_scheduler.ReduceLROnPlateau(SGD(lr=0.1), factor=0.5, patience=1) on the same losses, in
    # torch 2.13: a loss lower by less than best * 1e-4 is no improvement (before, any decrease was one)
    ("rel", 1e-4, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025]),
    ("abs", 5e-5, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025]),
    ("abs", 1.5e-5, [0.1] * 6),     # every other step gains 2e-5: an improvement each time
    ("abs", 0.0, [0.1] * 6),
])
def test_plateau_counts_an_improvement_as_pytorch_does(mode, threshold, expected):
    sched = PlateauSchedule([lw.SGD(lr=0.1)], epochs=6, factor=0.5, patience=1, threshold=threshold,
                            threshold_mode=mode)
    rates = []
    for epoch, loss in enumerate([1.0, 0.99999, 0.99998, 0.99997, 0.99996, 0.99995]):
        rates.append(sched.set_epoch(epoch))
        sched.observe({"val_loss": loss})
    assert rates == pytest.approx(expected)


@pytest.mark.parametrize("kw, values, improved", [
    ({"mode": "min", "min_delta": 0.1, "relative": True}, [2.0, 1.85, 1.7], [True, False, True]),
    ({"mode": "max", "min_delta": 0.1, "relative": True}, [2.0, 2.1, 2.3], [True, False, True]),
    # after an infinite best any finite value improves (PyTorch: 1.0 < inf * (1 - 1e-4)); the margin was inf
    ({"mode": "min", "min_delta": 1e-4, "relative": True}, [float("inf"), 1.0, 0.5], [True, True, True]),
    ({"mode": "max", "min_delta": 1e-4, "relative": True}, [float("-inf"), 1.0], [True, True]),
])
def test_monitor_with_a_relative_threshold(kw, values, improved):
    m = lw.Monitor(**kw)
    assert [m.update(v) for v in values] == improved
