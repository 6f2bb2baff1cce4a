"""The trainer's state as a resume and a continued fit use it: a user's EarlyStopping in run.fit, two of them,
the history as a snapshot, a refused optimizer state, the constant rate's column, and the NaN guard's probe."""

import numpy as np
import pytest

import layerwise as lw
from layerwise.errors import TrainingError
from tests.test_cli import SMALL
from tests.test_trainer import data, model_of


def _stopper(**kw):
    return lw.EarlyStopping(monitor="val_loss", patience=3, **kw)


class InterruptAfter(lw.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, row):
        if trainer.epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_users_early_stopping_in_run_fit_resumes_bit_exactly(tmp_path):
    """run.fit put the user's callbacks after the checkpoint, which so held their state of the epoch before: the
    resumed run stopped at 6 epochs (kept 3) where the whole run stopped at 4 (kept 1)."""
    config = {**SMALL, "optimizer": {"type": "sgd", "lr": 0.5, "momentum": 0.95}, "schedule": {"type": "none"},
              "training": {"epochs": 30, "batch_size": 64}}
    whole = lw.run.fit(config, out=tmp_path / "whole", progress="off", callbacks=[_stopper()])
    assert whole.trainer.stopped_early and whole.trainer.epoch < 30          # the case this test is for
    for at in sorted({1, whole.trainer.epoch - 1}):        # the first epoch, and the last before it stops
        out = tmp_path / f"cut{at}"
        with pytest.raises(KeyboardInterrupt):
            lw.run.fit(config, out=out, progress="off", callbacks=[_stopper(), InterruptAfter(at)])
        resumed = lw.run.resume(out, progress="off", callbacks=[_stopper()])
        assert (resumed.summary["epochs_run"], resumed.summary["kept_epoch"]) == \
               (whole.summary["epochs_run"], whole.summary["kept_epoch"]), at
        assert resumed.summary["test_accuracy"] == whole.summary["test_accuracy"]


def test_two_early_stoppings_each_resume_their_own_state(rng):
    """Both were saved under 'early_stopping': the last one's state overwrote the first's, and both loaded it."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)
    trainer = lw.Trainer(model_of(), epochs=4, batch_size=16, progress="off", seed=1,
                         callbacks=[_stopper(restore_best=False), lw.EarlyStopping(monitor="val_accuracy", patience=99)])
    trainer.fit(X, y, Xv, yv)
    meta, arrays = trainer.state()
    again = lw.Trainer(model_of(), epochs=4, batch_size=16, progress="off", seed=1,
                       callbacks=[_stopper(restore_best=False), lw.EarlyStopping(monitor="val_accuracy", patience=99)])
    again.load_state(meta, arrays)
    for a, b in zip(trainer.callbacks[-2:], again.callbacks[-2:]):
        assert (b.monitor, b.tracker.best, b.tracker.wait, b.best_epoch) == \
               (a.monitor, a.tracker.best, a.tracker.wait, a.best_epoch)
        assert set(b.best_state) == set(a.best_state)
        assert all(np.array_equal(b.best_state[k], a.best_state[k]) for k in a.best_state)


def test_a_state_is_a_snapshot_and_loading_it_leaves_it_the_callers(rng):
    """state() handed out the live history: it grew with the trainer, and loading it later was refused."""
    X, y = data(rng)
    trainer = lw.Trainer(model_of(), epochs=2, batch_size=16, progress="off")
    trainer.fit(X, y)
    meta, arrays = trainer.state()
    trainer.epochs = 4
    trainer.fit(X, y)
    assert len(meta["history"]) == meta["epoch"] == 2
    other = lw.Trainer(model_of(), epochs=4, batch_size=16, progress="off")
    other.load_state(meta, arrays)
    other.fit(X, y)
    assert len(meta["history"]) == 2 and len(other.history) == 4


def _trained_for_a_continued_fit(rng):
    """``(data, whole, part)``: a trainer fitted 8 epochs and one fitted 4 whose best (restored) came earlier."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)

    def trainer(epochs):
        return lw.Trainer(model_of().set_optimizer(lw.SGD(lr=0.5, momentum=0.9)), epochs=epochs, batch_size=16,
                          progress="off", seed=2, early_stopping={"monitor": "val_loss", "patience": 50})
    whole = trainer(8)
    whole.fit(X, y, Xv, yv)
    part = trainer(4)
    part.fit(X, y, Xv, yv)
    assert part.best_epoch < 4                  # the best was restored at the end: the case these tests are for
    return (X, y, Xv, yv), whole, part


def test_a_fit_continued_after_restoring_the_best_trains_as_one_longer_fit(rng):
    """It went on from the best epoch's weights with the last epoch's momentum and counter."""
    (X, y, Xv, yv), whole, part = _trained_for_a_continued_fit(rng)
    part.epochs = 8
    part.fit(X, y, Xv, yv)
    assert [r["val_loss"] for r in part.history] == [r["val_loss"] for r in whole.history]
    for k, v in whole.model.state_dict().items():
        assert np.array_equal(part.model.state_dict()[k], v), k


def test_a_refused_optimizer_state_leaves_the_models_own_in_place(rng):
    model = model_of()
    X, y = data(rng)
    lw.Trainer(model, epochs=1, batch_size=16, progress="off").fit(X, y)
    good = model.optimizer_state_dict()

    def unchanged():
        after = model.optimizer_state_dict()
        return set(after) == set(good) and all(np.array_equal(after[k], good[k]) for k in good)
    with pytest.raises(ValueError, match="'0.W'"):
        model.load_optimizer_state_dict({**good, "0.W.momentum_buffer": np.zeros((7, 7), np.float32)})
    assert unchanged()
    with pytest.raises(KeyError):
        model.load_optimizer_state_dict({**good, "9.W.momentum_buffer": np.zeros(1)})
    assert unchanged()
    model.update()                              # it steps: no (7, 7) buffer was taken


def test_the_lr_column_reads_an_optimizer_set_after_the_trainer(rng):
    """The default constant schedule captured the optimizers of construction time: 0.0 with none yet."""
    X, y = data(rng)
    model = lw.Sequential(lw.Linear(6, 3, rng=0))
    trainer = lw.Trainer(model, epochs=1, batch_size=16, progress="off")
    model.set_optimizer(lw.SGD(lr=0.1))
    assert trainer.fit(X, y)[-1]["lr"] == 0.1
    model.set_optimizer(lw.Adam(lr=0.003))
    trainer.epochs = 2
    assert trainer.fit(X, y)[-1]["lr"] == 0.003


class LogOf(lw.Module):
    def forward(self, x):
        self._cache = x
        return np.log(x)

    def backward(self, g):
        return g / self._cached()


def test_the_nan_guards_probe_leaves_batch_norm_statistics_and_dropout_draws_as_they_were(rng):
    """Its diagnostic forward ran in training mode: running_mean took a second momentum step."""
    model = lw.Sequential(lw.Linear(6, 4, rng=0), lw.BatchNorm1d(4), lw.Dropout(0.3, rng=1), LogOf(),
                          lw.Linear(4, 3, rng=0)).set_optimizer(lw.SGD(lr=0.1))
    X, y = data(rng)
    trainer = lw.Trainer(model, epochs=1, batch_size=96, progress="off")      # one step
    after = []          # the state after each forward: the step's, then the guard's probe

    def keep(module, x, y):
        after.append((model[1].buffers["running_mean"].copy(), model[2].rng.bit_generator.state))
    model[2].register_forward_hook(keep)
    with pytest.raises(TrainingError, match=r"module 3 \(LogOf\)"), np.errstate(all="ignore"):
        trainer.fit(X, y)
    assert len(after) == 2                      # the probe ran
    assert np.array_equal(model[1].buffers["running_mean"], after[0][0])
    assert model[2].rng.bit_generator.state == after[0][1]


def test_a_checkpoint_whose_generator_state_is_out_of_range_is_damaged_not_a_traceback(tmp_path):
    """An OverflowError from NumPy's PCG64 setter escaped the resume's checks."""
    from layerwise.checkpoint import load_arrays, save_arrays
    from layerwise.errors import DataError
    config = {**SMALL, "training": {"epochs": 2, "batch_size": 64}}
    with pytest.raises(KeyboardInterrupt):
        lw.run.fit(config, out=tmp_path / "r", progress="off", callbacks=[InterruptAfter(1)])
    ckpt = tmp_path / "r" / "checkpoint.safetensors"
    arrays, meta = load_arrays(ckpt)
    meta["trainer"]["rng"]["state"]["state"] = -5
    save_arrays(ckpt, arrays, meta)
    with pytest.raises(DataError, match="checkpoint.safetensors: the checkpoint is damaged"):
        lw.run.resume(tmp_path / "r", progress="off")


def test_a_hook_that_returns_a_value_is_told_it_is_ignored():
    """A PyTorch user's forward hook returns the new output; here it was silently dropped."""
    from layerwise.errors import LayerwiseWarning
    model = lw.Sequential(lw.Linear(3, 2, rng=0), lw.ReLU())
    x = np.ones((4, 3), np.float32)
    plain = model.forward(x)
    model[0].register_forward_hook(lambda m, x, y: y * 0)
    with pytest.warns(LayerwiseWarning, match="returned a value, which is ignored"):
        out = model.forward(x)
    np.testing.assert_array_equal(out, plain)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.forward(x)                        # once per hook
        model[1].register_forward_hook(lambda m, x, y: None)
        model.forward(x)


def test_one_early_stopping_given_to_two_trainers_does_not_carry_weights_between_them(rng):
    """Its memory of the last epoch's weights (for a continued fit) went into another trainer's model: a resume
    whose best epoch was its last, given the EarlyStopping another run had used, went on from that run's weights."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)

    def used(seed):
        es = lw.EarlyStopping(monitor="val_loss", patience=50)
        trainer = lw.Trainer(model_of(seed).set_optimizer(lw.SGD(lr=0.5, momentum=0.9)), epochs=4, batch_size=16,
                             progress="off", seed=2, callbacks=[es])
        trainer.fit(X, y, Xv, yv)
        return trainer, es
    a, es = used(0)
    b, b_es = used(1)
    for take_state in (True, False):
        a, es = used(0)
        assert es.best_epoch < 4                        # a's best was restored: es remembers a's last weights
        if take_state:                                  # what a resume of b does with the callback it is given
            es.load_state_dict(b_es.state_dict())
            es.load_arrays(b_es.arrays())
        else:                                           # b's weights happen to be its best: nothing else of b's
            es.best_state = b.model.state_dict()
        mine = b.model.state_dict()
        es.on_train_begin(b)
        assert all(np.array_equal(b.model.state_dict()[k], v) for k, v in mine.items()), take_state


def test_a_users_early_stopping_keeps_its_state_when_a_resume_adds_the_trainers_own(rng):
    """Keys were positional: the trainer's own EarlyStopping, added on resume, took the user's state."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)
    first = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off", callbacks=[_stopper(restore_best=False)])
    first.fit(X, y, Xv, yv)
    meta, arrays = first.state()
    again = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off", callbacks=[_stopper(restore_best=False)],
                       early_stopping={"monitor": "val_accuracy", "patience": 2})
    again.load_state(meta, arrays)
    user, own = again.callbacks[-1], again.early_stopping
    assert (user.tracker.best, user.best_epoch) == (first.callbacks[-1].tracker.best, first.callbacks[-1].best_epoch)
    assert own.tracker.best is None and own.best_epoch == 0


def test_a_refused_trainer_state_leaves_the_trainer_as_it_was(rng):
    X, y = data(rng)
    trainer = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off")
    trainer.fit(X, y)
    meta, arrays = trainer.state()
    other = lw.Trainer(model_of(), epochs=2, batch_size=16, progress="off")
    other.fit(X, y)
    before_meta, before_arrays = other.state()
    broken = {k: v for k, v in arrays.items() if not k.startswith("optim.3.")}       # a layer's momentum missing
    with pytest.raises(ValueError, match="optimizer state of parameter"):
        other.load_state(meta, broken)
    after_meta, after_arrays = other.state()
    assert after_meta == before_meta and set(after_arrays) == set(before_arrays)
    assert all(np.array_equal(after_arrays[k], before_arrays[k]) for k in before_arrays)


def test_a_schedule_set_after_the_trainer_is_not_replaced_at_fit(rng):
    """fit reset the assigned schedule's base rates to the already decayed rate (the default's fix misfired)."""
    from layerwise.schedules import make_schedule
    X, y = data(rng)

    def rates(assign_later):
        model = model_of()
        opts = [model[0].optimizer]
        schedule = make_schedule({"type": "step", "step_size": 2, "gamma": 0.5}, opts, epochs=8)
        trainer = lw.Trainer(model, epochs=4, batch_size=16, progress="off",
                             schedule=None if assign_later else schedule)
        if assign_later:
            trainer.schedule = schedule
        trainer.fit(X, y)
        trainer.epochs = 8
        return [r["lr"] for r in trainer.fit(X, y)]
    assert rates(True) == rates(False)


def test_hooks_returning_arrays_each_warn_and_others_do_not():
    from layerwise.errors import LayerwiseWarning
    import warnings
    model = lw.Sequential(lw.Linear(3, 2, rng=0))
    x = np.ones((2, 3), np.float32)
    for _ in range(3):                                  # a new lambda each time (its id may be reused)
        handle = model[0].register_forward_hook(lambda m, x, y: y + 1)
        with pytest.warns(LayerwiseWarning):
            model.forward(x)
        handle.remove()
    model[0].register_forward_hook(lambda m, x, y: 7)    # file.write's count, say: not an output
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.forward(x)


class Counter(lw.Callback):
    """State made lazily, as a user's callback may: no ``n`` before its first fit or load."""

    state_key = "counter"

    def on_train_begin(self, trainer):
        self.n = getattr(self, "n", 0)

    def on_epoch_end(self, trainer, row):
        self.n += 1

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


def test_a_callback_with_lazily_made_state_loads_into_a_fresh_trainer(rng):
    """The rollback snapshot asked every callback for its state first: AttributeError, reported by a resume as a
    damaged checkpoint."""
    X, y = data(rng)
    first = lw.Trainer(model_of(), epochs=2, batch_size=16, progress="off", callbacks=[Counter()])
    first.fit(X, y)
    fresh = lw.Trainer(model_of(), epochs=2, batch_size=16, progress="off", callbacks=[Counter()])
    fresh.load_state(*first.state())
    assert fresh.callbacks[-1].n == 2


def test_a_refused_state_keeps_what_a_continued_fit_goes_on_from(rng):
    """The rollback reloaded each EarlyStopping's state, which forgot the last epoch's weights."""
    (X, y, Xv, yv), whole, part = _trained_for_a_continued_fit(rng)
    meta, arrays = part.state()
    with pytest.raises(ValueError):
        part.load_state(meta, {k: v for k, v in arrays.items() if not k.startswith("optim.3.")})
    part.epochs = 8
    part.fit(X, y, Xv, yv)
    assert [r["val_loss"] for r in part.history] == [r["val_loss"] for r in whole.history]


@pytest.mark.parametrize("own", [False, True])
def test_states_saved_with_the_earlier_keys_still_reach_the_users_callbacks(rng, own):
    """A checkpoint written before the user's callbacks got 'key#1': the user's EarlyStopping started afresh."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)
    kw = {"early_stopping": {"monitor": "val_accuracy", "patience": 9}} if own else {}
    first = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off",
                       callbacks=[_stopper(restore_best=False)], **kw)
    first.fit(X, y, Xv, yv)
    meta, arrays = first.state()
    old = {("early_stopping#2" if own else "early_stopping") if k == "early_stopping#1" else k: v
           for k, v in meta["callbacks"].items()}
    renamed = {("early_stopping#2." if own else "early_stopping.") + k[len("early_stopping#1."):]
               if k.startswith("early_stopping#1.") else k: v for k, v in arrays.items()}
    again = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off",
                       callbacks=[_stopper(restore_best=False)], **kw)
    legacy = {k: v for k, v in meta.items() if k != "callback_keys"}      # written before the key scheme was named
    again.load_state({**legacy, "callbacks": old}, renamed)
    user = again.callbacks[-1]
    assert (user.tracker.best, user.best_epoch) == (first.callbacks[-1].tracker.best, first.callbacks[-1].best_epoch)
    assert user.best_epoch > 0


def test_an_unhashable_hook_that_returns_an_array_is_warned_of_not_an_error():
    import dataclasses

    from layerwise.errors import LayerwiseWarning

    @dataclasses.dataclass
    class Recorder:                                     # eq=True makes it unhashable
        seen: int = 0

        def __call__(self, m, x, y):
            self.seen += 1
            return y
    model = lw.Sequential(lw.Linear(3, 2, rng=0))
    hook = Recorder()
    model[0].register_forward_hook(hook)
    with pytest.warns(LayerwiseWarning):
        model.forward(np.ones((2, 3), np.float32))
    assert hook.seen == 1


def test_an_early_stopping_that_restored_the_best_pickles_and_copies(rng):
    import copy
    import pickle
    X, y = data(rng)
    Xv, yv = data(rng, 40)
    es = lw.EarlyStopping(monitor="val_loss", patience=50)
    lw.Trainer(model_of().set_optimizer(lw.SGD(lr=0.5, momentum=0.9)), epochs=4, batch_size=16, progress="off",
               seed=2, callbacks=[es]).fit(X, y, Xv, yv)
    assert es._last is not None
    for twin in (pickle.loads(pickle.dumps(es)), copy.deepcopy(es)):
        assert twin._last is None and twin.best_epoch == es.best_epoch
        assert all(np.array_equal(twin.best_state[k], v) for k, v in es.best_state.items())


def test_a_refused_state_is_rolled_back_around_callbacks_without_state_and_a_plain_augment(rng):
    """The rollback called the augment's missing load_state_dict (hiding the refusal), and a callback whose state is
    made lazily kept the refused state's."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)

    class Aug:
        def __call__(self, xb):
            return xb

        def state_dict(self):
            return {"k": 1}
    first = lw.Trainer(model_of(), epochs=2, batch_size=16, progress="off", callbacks=[Counter(), _stopper()])
    first.fit(X, y, Xv, yv)
    meta, arrays = first.state()
    fresh = lw.Trainer(model_of(), epochs=2, batch_size=16, progress="off", callbacks=[Counter(), _stopper()],
                       augment=Aug())
    with pytest.raises(ValueError, match="optimizer state of parameter"):
        fresh.load_state(meta, {k: v for k, v in arrays.items() if not k.startswith("optim.0.")})
    assert not hasattr(fresh.callbacks[-2], "n")
    assert fresh.model.optimizer_state_dict() == {}


def test_a_new_state_with_only_the_trainers_early_stopping_is_not_taken_for_an_old_one(rng):
    """Keyed 'early_stopping' either way: resumed without it and with a user's EarlyStopping, the user's took it."""
    X, y = data(rng)
    Xv, yv = data(rng, 40)
    first = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off",
                       early_stopping={"monitor": "val_loss", "patience": 9})
    first.fit(X, y, Xv, yv)
    again = lw.Trainer(model_of(), epochs=3, batch_size=16, progress="off", callbacks=[_stopper(restore_best=False)])
    again.load_state(*first.state())
    assert again.callbacks[-1].tracker.best is None and again.callbacks[-1].best_epoch == 0
