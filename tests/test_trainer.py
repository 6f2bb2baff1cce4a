"""Trainer: callbacks and their events, early stopping as a callback, resume of callback state, NaN guard."""

import json
import multiprocessing

import numpy as np
import pytest

import layerwise as lw
from layerwise.errors import TrainingError
from layerwise.run import make_run_dir
from layerwise.schedules import make_schedule


def data(rng, n=96):
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def model_of(seed=0):
    rng = np.random.default_rng(seed)
    inner = lw.Sequential(lw.Linear(8, 8, rng=rng), lw.LeakyReLU())
    m = lw.Sequential(lw.Linear(6, 8, rng=rng), lw.ReLU(), inner, lw.Linear(8, 3, rng=rng))
    return m.set_optimizer(lw.SGD(lr=0.1, momentum=0.9))


class Recorder(lw.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append("train_begin")

    def on_epoch_begin(self, trainer):
        self.events.append("epoch_begin")

    def on_before_backward(self, trainer, batch, loss):
        self.events.append(("before_backward", batch, loss))

    def on_batch_end(self, trainer, step, loss):
        self.events.append(("batch_end", step, loss))

    def on_epoch_end(self, trainer, row):
        self.events.append(("epoch_end", row["epoch"]))

    def on_train_end(self, trainer):
        self.events.append("train_end")


def test_callbacks_see_every_event_with_step_numbers_and_batch_losses(rng):
    X, y = data(rng)
    rec = Recorder()
    trainer = lw.Trainer(model_of(), epochs=2, batch_size=32, progress="off", callbacks=[rec])
    trainer.fit(X, y)
    kinds = [e if isinstance(e, str) else e[0] for e in rec.events]
    assert kinds == (["train_begin"] + (["epoch_begin"] + ["before_backward", "batch_end"] * 3 + ["epoch_end"]) * 2
                     + ["train_end"])
    ends = [e for e in rec.events if isinstance(e, tuple) and e[0] == "batch_end"]
    assert [step for _, step, _ in ends] == [1, 2, 3, 4, 5, 6]
    losses = [loss for _, _, loss in ends]
    assert all(isinstance(v, float) for v in losses)
    # the epoch's train_loss is the size-weighted mean of its batch losses
    assert trainer.history[0]["train_loss"] == pytest.approx(np.mean(losses[:3]))


def test_a_user_callback_can_stop_training(rng):
    X, y = data(rng)

    class StopAfterTwo(lw.Callback):
        def on_epoch_end(self, trainer, row):
            trainer.stop_training = trainer.epoch >= 2

    trainer = lw.Trainer(model_of(), epochs=10, batch_size=32, progress="off", callbacks=[StopAfterTwo()])
    trainer.fit(X, y)
    assert trainer.epoch == 2 and trainer.stopped_early


def test_plain_function_callbacks_still_work(rng):
    X, y = data(rng)
    seen = []
    lw.Trainer(model_of(), epochs=2, batch_size=32, progress="off",
               callbacks=[lambda t, e: seen.append(e)]).fit(X, y)
    assert seen == ["train_begin", "epoch_end", "epoch_end", "train_end"]


def test_the_trainer_never_computes_the_gradient_of_the_data(rng):
    X, y = data(rng)
    model = model_of()
    first = []
    model[0].register_backward_hook(lambda m, gy, gx: first.append(gx))
    lw.Trainer(model, epochs=1, batch_size=32, progress="off").fit(X, y)
    assert first == [None, None, None]


def test_an_interrupt_reaches_on_exception_and_closes_the_progress_bar(rng):
    X, y = data(rng)

    class Interrupt(lw.Callback):
        def on_batch_end(self, trainer, step, loss):
            if step == 2:
                raise KeyboardInterrupt

    trainer = lw.Trainer(model_of(), epochs=3, batch_size=32, progress="bar", callbacks=[Interrupt()])
    progress = next(cb for cb in trainer.callbacks if isinstance(cb, lw.ProgressLogger))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X, y)
    assert progress.bar is None and trainer.step == 2


def fit_with_early_stopping(X, y, Xv, yv, epochs, state=None):
    trainer = lw.Trainer(model_of(), epochs=epochs, batch_size=16, progress="off", seed=5,
                         early_stopping={"monitor": "val_accuracy", "patience": 3})
    if state is not None:
        trainer.model.load_state_dict(state[0])
        trainer.load_state(*state[1])
    trainer.fit(X, y, Xv, yv)
    return trainer


def test_early_stopping_state_survives_a_resume_bit_for_bit(rng):
    X, y = data(rng)
    Xv, yv = data(rng, 40)
    whole = fit_with_early_stopping(X, y, Xv, yv, epochs=12)
    first = lw.Trainer(model_of(), epochs=5, batch_size=16, progress="off", seed=5,
                       early_stopping={"monitor": "val_accuracy", "patience": 3, "restore_best": False})
    first.fit(X, y, Xv, yv)
    assert not first.stopped_early                              # the interruption comes mid-run
    meta, arrays = first.state()
    meta = json.loads(json.dumps(meta))                         # as the checkpoint stores it
    resumed = fit_with_early_stopping(X, y, Xv, yv, epochs=12, state=(first.model.state_dict(), (meta, arrays)))
    assert resumed.epoch == whole.epoch and resumed.best_epoch == whole.best_epoch
    assert [r["val_accuracy"] for r in resumed.history] == [r["val_accuracy"] for r in whole.history]
    for (n, a), (_, b) in zip(sorted(whole.model.state_dict().items()), sorted(resumed.model.state_dict().items())):
        assert np.array_equal(a, b), n


def test_early_stopping_without_validation_data_is_refused(rng):
    X, y = data(rng)
    with pytest.raises(ValueError, match="pass X_val and y_val"):
        lw.Trainer(model_of(), epochs=2, early_stopping={"patience": 2}, progress="off").fit(X, y)


def test_nan_guard_names_the_nested_module_whose_output_overflows(rng):
    X, y = data(rng)
    model = model_of()
    model[2][0].params["W"][...] = 3e38          # finite weights, infinite products
    trainer = lw.Trainer(model, epochs=1, batch_size=32, progress="off")
    before = model.state_dict()
    with pytest.raises(TrainingError, match=r"epoch 1, batch 1 \(step 1\): the output of module 2\.0 \(Linear\)"):
        trainer.fit(X, y)
    for k, v in model.state_dict().items():       # the guard runs before backward: nothing was updated
        assert np.array_equal(v, before[k]), k


def _make(base, barrier, out):
    barrier.wait()
    out.put(str(make_run_dir(base)))


def test_run_directories_are_unique_when_processes_start_at_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    n = 6
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_make, args=(tmp_path / "runs" / "exp-20260101-120000", barrier, out))
             for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    made = sorted(out.get(timeout=5) for _ in range(n))
    assert len(set(made)) == n
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        ["exp-20260101-120000"] + [f"exp-20260101-120000-{k}" for k in range(2, n + 1)])


def test_early_stopping_on_the_training_loss_needs_no_validation_set(rng):
    X, y = data(rng)
    trainer = lw.Trainer(model_of(), epochs=30, batch_size=16, progress="off",
                         early_stopping={"monitor": "train_loss", "patience": 1, "min_delta": 10.0})
    history = trainer.fit(X, y)
    assert trainer.stopped_early and len(history) == 2 and trainer.best_epoch == 1


def test_gradient_clipping_leaves_a_frozen_layers_gradient_out_of_the_norm(rng):
    X, y = data(rng)
    model = model_of()
    model.set_optimizer(lw.SGD(lr=0.1))
    model[3].frozen = True
    W0 = model[0].params["W"].copy()
    loss = lw.CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward(), input_grad=False)
    trainable = [model[0].grads["W"], model[0].grads["b"], model[2][0].grads["W"], model[2][0].grads["b"]]
    norm = np.sqrt(sum(float(np.vdot(g, g)) for g in trainable))
    expected = W0 - 0.1 * model[0].grads["W"] * (0.5 * norm / (norm + 1e-6))
    model.zero_grad()
    lw.Trainer(model, epochs=1, batch_size=len(X), shuffle=False, grad_clip_norm=0.5 * norm, progress="off").fit(X, y)
    np.testing.assert_allclose(model[0].params["W"], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fit, message", [
    (lambda t, X, y: t.fit(X, y.astype(str)), "y holds <U21 labels; Trainer takes integer class codes 0..C-1"),
    (lambda t, X, y: t.fit(X, y[:-1]), "X has 96 samples but y has 95: give one target per sample"),
    (lambda t, X, y: t.fit(X[:0], y[:0]), "Trainer.fit got no training samples"),
    (lambda t, X, y: t.fit(X, y, X[:5], y[:4]), "X_val has 5 samples but y_val has 4"),
])
def test_fit_refuses_data_it_cannot_train_on_with_a_clear_error(rng, fit, message):
    X, y = data(rng)
    with pytest.raises(ValueError, match=message):
        fit(lw.Trainer(model_of(), epochs=1, progress="off"), X, y)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "'batch_size' parameter of Trainer must be an int >= 1. Got 0"),
    ({"epochs": -1}, "'epochs' parameter of Trainer must be an int >= 0. Got -1"),
    ({"eval_batch_size": 2.5}, "'eval_batch_size' parameter of Trainer must be an int >= 1. Got 2.5"),
])
def test_trainer_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lw.Trainer(model_of(), progress="off", **kwargs)


def test_lists_are_taken_as_arrays(rng):
    X, y = data(rng, 32)
    trainer = lw.Trainer(model_of(), epochs=1, batch_size=8, progress="off")
    trainer.fit(X.tolist(), y.tolist())
    assert trainer.predict(X[:3].tolist()).shape == (3, 3)
    assert set(trainer.evaluate(X.tolist(), y.tolist())) == {"loss", "accuracy"}


def test_whole_float_epochs_and_object_arrays_of_int_labels_are_taken(rng):
    X, y = data(rng, 32)
    trainer = lw.Trainer(model_of(), epochs=2.0, batch_size=8, progress="off")
    assert trainer.epochs == 2 and len(trainer.fit(X, y.astype(object))) == 2


@pytest.mark.parametrize("limit", [-1.0, 0, float("nan"), float("inf"), "1", True])
def test_a_clipping_norm_that_is_not_a_positive_number_is_refused(limit):
    with pytest.raises(ValueError, match="'grad_clip_norm' parameter of Trainer must be None or a number > 0"):
        lw.Trainer(model_of(), grad_clip_norm=limit, progress="off")


def test_a_plateau_schedule_on_a_validation_metric_needs_validation_data_before_training(rng):
    X, y = data(rng)
    model = model_of()
    model.set_optimizer(lw.SGD(lr=0.1))
    W0 = model[0].params["W"].copy()
    schedule = make_schedule({"type": "plateau"}, [model.optimizer], epochs=3)
    trainer = lw.Trainer(model, epochs=3, schedule=schedule, progress="off")
    with pytest.raises(ValueError, match="monitors 'val_loss', a validation metric: pass X_val and y_val"):
        trainer.fit(X, y)
    np.testing.assert_array_equal(model[0].params["W"], W0)     # refused before the first step
    schedule = make_schedule({"type": "plateau", "monitor": "train_accuracy"}, [model.optimizer],
                                          epochs=2)
    regression = lw.Trainer(model, epochs=2, schedule=schedule, progress="off", classification=False)
    with pytest.raises(ValueError, match="monitors 'train_accuracy', which the epoch's metrics lack; they have"):
        regression.fit(X, y)


def test_one_hot_targets_count_accuracy_by_their_class(rng):
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = lw.Sequential(lw.Linear(4, 2, rng=0)).set_optimizer(lw.SGD(lr=0.5))
    trainer = lw.Trainer(model, epochs=5, batch_size=20, progress="off")
    history = trainer.fit(X, np.eye(2)[y])
    assert history[-1]["train_accuracy"] > 0.8
    assert trainer.evaluate(X, np.eye(2)[y])["accuracy"] == trainer.evaluate(X, y)["accuracy"]


def test_mse_on_float_targets_is_a_regression_and_on_codes_a_classification(rng):
    X = rng.normal(size=(40, 3)).astype(np.float32)
    model = lw.Sequential(lw.Linear(3, 1, rng=0)).set_optimizer(lw.SGD(lr=0.05))
    reg = lw.Trainer(model, "mse", epochs=2, batch_size=10, progress="off")
    row = reg.fit(X, X[:, :1] * 2.0)[-1]
    assert "train_accuracy" not in row and "accuracy" not in reg.evaluate(X, X[:, :1] * 2.0)
    with pytest.raises(ValueError, match="val_accuracy"):
        lw.Trainer(model, "mse", epochs=2, progress="off", early_stopping={"monitor": "val_accuracy"}).fit(
            X, X[:, :1], X, X[:, :1])
    clf = lw.Trainer(lw.Sequential(lw.Linear(3, 2, rng=0)).set_optimizer(lw.SGD(lr=0.05)), "mse", epochs=1,
                  batch_size=10, progress="off")
    assert "train_accuracy" in clf.fit(X, (X[:, 0] > 0).astype(int))[-1]


@pytest.mark.parametrize("kwargs, match", [
    ({"schedule": {"type": "cosine"}}, "must be a Schedule"),
    ({"early_stopping": True}, "dict of EarlyStopping's arguments"),
    ({"early_stopping": {"patiance": 2}}, "It takes \\['monitor', 'patience'"),
    ({"progress": "of"}, "'progress' parameter of Trainer must be one of"),
])
def test_trainer_arguments_of_the_wrong_kind_are_refused_at_once(kwargs, match):
    model = lw.Sequential(lw.Linear(2, 2, rng=0)).set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises((TypeError, ValueError), match=match):
        lw.Trainer(model, **kwargs)


def test_false_means_none_for_schedule_and_early_stopping():
    model = lw.Sequential(lw.Linear(2, 2, rng=0)).set_optimizer(lw.SGD(lr=0.1))
    trainer = lw.Trainer(model, schedule=False, early_stopping=False, progress="off")
    assert trainer.early_stopping is None and trainer.schedule is not False


@pytest.mark.parametrize("bad", [lw.SGD, "sgd", None])
def test_set_optimizer_takes_an_optimizer_instance(bad):
    with pytest.raises(TypeError, match="set_optimizer takes an optimizer"):
        lw.Linear(2, 2).set_optimizer(bad)


def test_without_a_schedule_a_rate_the_user_changes_stands(rng):
    """The constant schedule wrote the rate of the Trainer's construction back at every epoch."""
    X, y = data(rng)
    m = model_of()
    opt = m.optimizer

    class Halve(lw.Callback):
        def on_epoch_end(self, trainer, row):
            opt.lr *= 0.5

    trainer = lw.Trainer(m, epochs=3, batch_size=32, progress="off", callbacks=[Halve()])
    assert [row["lr"] for row in trainer.fit(X, y)] == [0.1, 0.05, 0.025]
    opt.lr = 1e-3
    trainer.epochs = 4
    assert trainer.fit(X, y)[-1]["lr"] == 1e-3
    warm = model_of()
    schedule = make_schedule({"type": "none", "warmup_epochs": 2}, [warm.optimizer], epochs=2)
    history = lw.Trainer(warm, epochs=2, batch_size=32, progress="off", schedule=schedule).fit(X, y)
    assert [row["lr"] for row in history] == [0.05, 0.1]                 # a warm-up still sets the rate


def test_evaluating_in_the_middle_of_an_epoch_leaves_the_model_in_training_mode(rng):
    X, y = data(rng)
    m = lw.Sequential(lw.Linear(6, 8, rng=0), lw.Dropout(0.5, rng=0), lw.Linear(8, 3, rng=1))
    m.set_optimizer(lw.SGD(lr=0.1))
    modes = []
    m[1].register_forward_hook(lambda mod, x, out: modes.append(mod.training))

    class Validate(lw.Callback):
        def on_batch_end(self, trainer, step, loss):
            if step == 1:
                trainer.evaluate(X, y)
                trainer.predict(X[:4])

    lw.Trainer(m, epochs=1, batch_size=16, progress="off", callbacks=[Validate()]).fit(X, y)
    assert modes[0] and not modes[1] and not modes[2]      # batch 1, then the evaluation and the prediction
    assert all(modes[3:]) and len(modes) == 2 + len(X) // 16     # 6 batches, 2 evaluation passes
    m[2].eval()
    lw.Trainer(m, epochs=1).evaluate(X, y)
    assert m[0].training and not m[2].training            # each module's own mode is put back


def test_nan_in_regression_targets_or_in_validation_data_is_named(rng):
    """NaN targets were blamed on the learning rate; NaN in X_val only showed as val_loss nan."""
    X = rng.normal(size=(40, 6)).astype(np.float32)
    t = X[:, :1].copy()
    t[13] = np.nan
    model = lw.Sequential(lw.Linear(6, 1, rng=0)).set_optimizer(lw.SGD(lr=0.01))
    with pytest.raises(TrainingError, match=r"batch 2 \(step 2\): the targets of the batch hold NaN or Inf; check"):
        lw.Trainer(model, "mse", epochs=1, batch_size=8, shuffle=False, progress="off").fit(X, t)
    X_val = X.copy()
    X_val[7, 2] = np.inf
    y = np.arange(40) % 3
    for Xv, yv, name in ((X_val, y, "X_val"), (X, np.where(np.arange(40) == 7, np.nan, 1.0), "y_val")):
        with pytest.raises(ValueError, match=rf"{name} holds NaN or Inf \(row 7\); check the data"):
            lw.Trainer(model_of(), "mse", epochs=1, progress="off").fit(X, y, Xv, yv)


def test_what_a_forward_hook_or_augment_is_given_it_may_keep(rng):
    """Every batch was gathered into one buffer: a hook that kept its inputs held the last batch n times.
    Now every batch is a fresh array."""
    X, y = data(rng, n=64)
    model = model_of()
    seen = []
    model[0].register_forward_hook(lambda m, x, out: seen.append(x))
    lw.Trainer(model, epochs=1, batch_size=16, shuffle=False, progress="off").fit(X, y)
    assert len(seen) == 4 and all(np.array_equal(x, X[16 * i:16 * (i + 1)]) for i, x in enumerate(seen))
    kept = []
    lw.Trainer(model_of(), epochs=1, batch_size=16, shuffle=False, progress="off",
               augment=lambda xb: kept.append(xb) or xb).fit(X, y)
    assert all(np.array_equal(x, X[16 * i:16 * (i + 1)]) for i, x in enumerate(kept))

    batches = []

    class Keeps(lw.Callback):                     # a callback may keep trainer.batch_x as it is
        def on_batch_end(self, trainer, step, loss):
            batches.append(trainer.batch_x)

    lw.Trainer(model_of(), epochs=1, batch_size=16, shuffle=False, progress="off", callbacks=[Keeps()]).fit(X, y)
    assert len(batches) == 4 and all(np.array_equal(x, X[16 * i:16 * (i + 1)]) for i, x in enumerate(batches))

    class AddsAHook(lw.Callback):                 # from the batch after it is added, the batches are fresh
        def on_batch_end(self, trainer, step, loss):
            if step == 2:
                trainer.model[0].register_forward_hook(lambda m, x, out: seen.append(x))

    seen.clear()
    lw.Trainer(model_of(), epochs=1, batch_size=16, shuffle=False, progress="off", callbacks=[AddsAHook()]).fit(X, y)
    assert len(seen) == 2 and np.array_equal(seen[0], X[32:48]) and np.array_equal(seen[1], X[48:])


def test_a_config_run_leaves_its_model_in_eval_mode(tmp_path):
    """run.fit's model ended in eval mode only because the test evaluation left it so; once evaluate put
    the modes back it was left training, and exp.model.forward ran Dropout."""
    from layerwise import run
    layers = [{"type": "flatten"}, {"type": "linear", "units": 16}, {"type": "dropout", "p": 0.5},
              {"type": "linear", "units": 10}]
    config = {"data": {"dataset": "digits"}, "training": {"epochs": 1}, "model": {"layers": layers}}
    exp = run.fit(config, out=tmp_path / "r", progress="off")
    assert not any(m.training for _, m in exp.model.named_modules())
    again = run.resume(tmp_path / "r", progress="off")       # nothing left to train: the same
    assert again.note and not any(m.training for _, m in again.model.named_modules())
    x = exp.data.X_test[:4]
    assert np.array_equal(exp.model.forward(x), exp.model.forward(x))


def test_batches_are_the_rows_of_the_shuffled_order_for_plain_and_own_indexing_arrays(rng):
    """A plain ndarray's batches (gathered with np.take) and those of an array class with its own indexing
    (gathered through it) are the rows X[order[start:stop]] of the epoch's order, in that order."""
    class Counted(np.ndarray):
        calls = 0

        def __getitem__(self, key):
            Counted.calls += isinstance(key, np.ndarray)       # a batch's row indices
            return np.ndarray.__getitem__(self, key)

    X = np.arange(20 * 3, dtype=np.float32).reshape(20, 3)
    y = np.arange(20) % 2
    for data in (X, X.view(Counted)):
        batches = []
        trainer = lw.Trainer(lw.Linear(3, 2), "cross_entropy", epochs=1, batch_size=8, progress="off", seed=3,
                             callbacks=[type("Keep", (lw.callbacks.Callback,), {"on_batch_end": lambda self, t, s, v: (
                                 batches.append(np.array(t.batch_x)))})()])
        trainer.model.set_optimizer(lw.SGD(lr=0.1))
        trainer.fit(data, y)
        order = np.random.default_rng(3).permutation(20)
        for k, batch in enumerate(batches):
            np.testing.assert_array_equal(batch, X[order[8 * k:8 * k + 8]])
        assert len(batches) == 3
    assert Counted.calls == 3      # each batch was gathered through the class's own indexing
