"""Per-layer statistics: the documented columns, hand-built dead and saturated units, the Trainer callback."""

import csv

import numpy as np
import pytest

import layerwise as lw
from layerwise.analysis.stats import COLUMNS, LayerStats, dead_units, read_csv, saturated_sigmoid, saturated_tanh


def hand_built(rng):
    """Linear(3, 4) + ReLU whose units 0 and 1 never fire (bias -100), then Linear(4, 4) + Sigmoid whose
    units 0, 1 and 2 sit at 0, 1 and 0 (bias -100, +100, -100) and unit 3 in the middle."""
    first = lw.Linear(3, 4, rng=rng, dtype=np.float64)
    first.params["b"][:] = [-100, -100, 0, 0]
    first.params["W"][:] = np.abs(first.params["W"])       # positive inputs keep units 2 and 3 active
    second = lw.Linear(4, 4, rng=rng, dtype=np.float64)
    second.params["W"][:] = 0
    second.params["b"][:] = [-100, 100, -100, 0]
    model = lw.Sequential(first, lw.ReLU(), second, lw.Sigmoid(), lw.Linear(4, 2, rng=rng, dtype=np.float64))
    model.set_optimizer(lw.SGD(lr=0.1))
    return model


def test_dead_and_saturated_fractions_on_a_hand_built_network(rng):
    model = hand_built(rng)
    loss = lw.CrossEntropyLoss()
    x = rng.uniform(0.1, 1, size=(16, 3))
    stats = LayerStats()
    with stats.record(model, step=1, epoch=0.5):
        out = model.forward(x)
        loss.forward(out, rng.integers(0, 2, 16))
        grad = loss.backward()
        model.backward(grad, input_grad=False)
        model.update()
    rows = {r["layer"]: r for r in stats.rows}
    assert rows["1"]["type"] == "ReLU" and rows["1"]["dead"] == 0.5
    assert rows["3"]["type"] == "Sigmoid" and rows["3"]["saturated"] == 0.75
    assert "saturated" not in rows["1"] and "dead" not in rows["3"] and "dead" not in rows["0"]
    # the back-propagated gradient at the last layer's output is the loss's dL/dy
    assert rows["4"]["grad_norm"] == pytest.approx(np.linalg.norm(grad))
    assert rows["4"]["update_ratio"] > 0 and rows["4"]["param_norm"] > 0
    assert rows["0"]["act_mean"] == pytest.approx(float((x @ model[0].params["W"]).mean() - 50), abs=0.1)
    # hooks are gone after the block
    assert all(not m._forward_hooks and not m._backward_hooks for _, m in model.named_modules())


def test_unit_rules_on_hand_made_outputs():
    y = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.5, 3.0]])
    assert dead_units(y) == pytest.approx(1 / 3)                  # only unit 0 never fires
    assert dead_units(np.zeros((5, 2, 3, 3))) == 1.0             # feature-map positions are units
    assert saturated_sigmoid(np.array([0.05, 0.5, 0.95, 0.89])) == 0.5
    assert saturated_tanh(np.array([-0.99, 0.0, 0.85, 0.5])) == 0.5


def test_the_trainer_callback_records_the_first_batch_each_epoch_and_every_k_steps(tmp_path):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X[:200] / 16).astype(np.float32)
    y = y[:200]
    rng = np.random.default_rng(0)
    model = lw.Sequential(lw.Linear(64, 16, rng=rng), lw.Tanh(), lw.Linear(16, 10, rng=rng))
    model.set_optimizer(lw.SGD(lr=0.1))
    stats = LayerStats(every=5, csv_path=tmp_path / "layer_stats.csv", png_path=tmp_path / "layer_stats.png")
    trainer = lw.Trainer(model, epochs=3, batch_size=32, progress="off", callbacks=[stats])
    trainer.fit(X, y[:200])
    # 200 samples in batches of 32: 7 per epoch, the 6th is the last full one (steps 6, 13, 20)
    assert sorted({r["step"] for r in stats.rows}) == [1, 5, 6, 10, 13, 15, 20]
    with open(tmp_path / "layer_stats.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        rows = list(reader)
    assert len(rows) == 7 * 3
    assert {r["layer"] for r in rows} == {"0", "1", "2"}
    assert (tmp_path / "layer_stats.png").read_bytes()[:4] == b"\x89PNG"
    by_step = {(r["step"], r["layer"]): r for r in read_csv(tmp_path / "layer_stats.csv")}
    assert by_step[(6, "1")]["epoch"] == pytest.approx(6 / 7) and by_step[(13, "1")]["epoch"] == pytest.approx(13 / 7)
    assert 0 <= by_step[(20, "1")]["saturated"] <= 1 and "dead" not in by_step[(20, "1")]
    assert all(not m._forward_hooks for _, m in model.named_modules())


def test_a_config_with_analysis_writes_layer_stats_and_image_runs_a_misclassified_grid(tmp_path, small_config):
    config = {**small_config, "training": {"epochs": 2, "batch_size": 64}, "analysis": {"layer_stats": True, "every": 7}}
    exp = lw.run.fit(config, out=tmp_path / "run", progress="off")
    rows = read_csv(exp.run_dir / "layer_stats.csv")
    assert {r["type"] for r in rows} == {"Flatten", "Linear", "ReLU"}
    n, per_epoch = len(exp.data.X_train), -(-len(exp.data.X_train) // 64)
    last_full = {e * per_epoch + n // 64 for e in range(2)}
    assert {r["step"] for r in rows} == {1} | last_full | set(range(7, exp.trainer.step + 1, 7))
    for name in ("layer_stats.png", "misclassified.png"):
        assert (exp.run_dir / name).read_bytes()[:4] == b"\x89PNG", name


def test_resuming_keeps_the_statistics_up_to_the_checkpoint(tmp_path):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X, y = (X[:300] / 16).astype(np.float32), y[:300]

    def trainer(csv_path, epochs):
        model = lw.Sequential(lw.Linear(64, 16, rng=0), lw.ReLU(), lw.Linear(16, 10, rng=1))
        model.set_optimizer(lw.SGD(lr=0.1, momentum=0.9))
        stats = LayerStats(every=4, csv_path=csv_path)
        return lw.Trainer(model, epochs=epochs, batch_size=64, progress="off", callbacks=[stats]), stats

    whole, _ = trainer(tmp_path / "whole.csv", 3)
    whole.fit(X, y)
    first, _ = trainer(tmp_path / "part.csv", 2)
    first.fit(X, y)
    # a crash after the CSV of epoch 3 was written but before its checkpoint: rows past step 10 are dropped
    ahead, _ = trainer(tmp_path / "ahead.csv", 3)
    ahead.fit(X, y)
    (tmp_path / "part.csv").write_text((tmp_path / "ahead.csv").read_text())
    resumed, stats = trainer(tmp_path / "part.csv", 3)
    resumed.model.load_state_dict(first.model.state_dict())
    resumed.load_state(*first.state())
    resumed.fit(X, y)
    a, b = read_csv(tmp_path / "whole.csv"), read_csv(tmp_path / "part.csv")
    assert [(r["step"], r["layer"]) for r in a] == [(r["step"], r["layer"]) for r in b]
    assert sorted({r["step"] for r in b}) == [1, 4, 8, 9, 12, 14]   # 5 batches an epoch, 4 full
    for ra, rb in zip(a, b):
        assert ra == pytest.approx(rb)


def test_layer_stats_every_must_be_a_positive_int():
    with pytest.raises(ValueError, match="'every' parameter of LayerStats must be an int >= 1"):
        LayerStats(every=0)
