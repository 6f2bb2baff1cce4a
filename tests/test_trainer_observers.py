"""What a callback may do in the middle of training without changing it: evaluate, predict and the analysis
tools between a batch's forward and its backward; callbacks written as plain objects or set on an instance;
NumPy numbers in the epoch row; fit after early stopping."""

import json
import warnings

import numpy as np
import pytest

import layerwise as lw
from layerwise.analysis import fgsm, saliency
from layerwise.checkpoint import save_arrays


def _data(n=96, seed=0, conv=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X.reshape(n, 1, 2, 3) if conv else X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _model(conv=False):
    rng = np.random.default_rng(1)
    if conv:      # the convolution keeps its column matrix in a buffer it reuses from call to call
        m = lw.Sequential(lw.Conv2d(1, 3, 2, padding=1, rng=rng), lw.ReLU(), lw.Flatten(), lw.Linear(36, 2, rng=rng))
    else:
        m = lw.Sequential(lw.Linear(6, 8, rng=rng), lw.Dropout(0.2, rng=2), lw.ReLU(), lw.Linear(8, 2, rng=rng))
    return m.set_optimizer(lw.SGD(lr=0.1, momentum=0.9))


def _weights(model):
    return {name: m.params[k].copy() for name, m, k in model.named_parameters()}


def _fit(callbacks=(), conv=False, **kwargs):
    X, y = _data(conv=conv)
    model = _model(conv)
    trainer = lw.Trainer(model, epochs=2, batch_size=16, progress="off", seed=0, callbacks=list(callbacks), **kwargs)
    trainer.fit(X, y)
    return model, trainer


class During(lw.Callback):
    """Runs ``fn(trainer)`` between every batch's forward and its backward."""

    def __init__(self, fn):
        self.fn = fn

    def on_before_backward(self, trainer, batch, loss):
        self.fn(trainer)


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("what", ["evaluate 5 rows", "evaluate a batch's worth", "predict", "saliency", "fgsm",
                                  "summary"])
def test_evaluating_or_explaining_between_a_forward_and_its_backward_leaves_the_step_as_it_was(what, conv):
    X, y = _data(conv=conv)
    tools = {
        "evaluate 5 rows": lambda t: t.evaluate(X[:5], y[:5]),
        "evaluate a batch's worth": lambda t: t.evaluate(X[-16:], y[-16:]),   # same shapes: no check could tell
        "predict": lambda t: t.predict(X[-16:]),
        "saliency": lambda t: saliency(t.model, X[-16:]),
        "fgsm": lambda t: fgsm(t.model, lw.CrossEntropyLoss(), X[-16:], y[-16:], 0.1),
        "summary": lambda t: t.model.summary(X.shape[1:]),
    }
    plain, _ = _fit(conv=conv)
    watched, trainer = _fit([During(tools[what])], conv=conv)
    for name, value in _weights(plain).items():
        np.testing.assert_array_equal(_weights(watched)[name], value, err_msg=f"{what} changed {name}")
    assert all(m.training for m in trainer.model)       # Dropout is back in training mode


class Lazy(lw.Module):
    """Builds its weight on its first forward, and counts its calls: attributes a forward sets that stay."""

    def __init__(self):
        super().__init__()
        self.W, self.calls = None, 0

    def forward(self, x):
        if self.W is None:
            self.W = self.register_param("W", np.ones((x.shape[1], 2), x.dtype))
        self.calls += 1
        self._cache = x
        return x @ self.W

    def backward(self, grad_y):
        self.grads["W"] += self._cache.T @ grad_y
        return grad_y @ self.W.T


def test_outside_a_step_what_a_forward_sets_stays_after_predict_and_evaluate():
    X, y = _data()
    model = lw.Sequential(Lazy()).set_optimizer(lw.SGD(lr=0.1))
    trainer = lw.Trainer(model, progress="off")
    trainer.predict(X[:4])                      # the first forward ever: the layer builds its weight here
    lazy = model[0]
    assert lazy.W is lazy.params["W"] and lazy.calls == 1
    lazy.params["W"][...] = 0                   # weights loaded into it are not thrown away by the next call
    assert np.all(trainer.predict(X[:4]) == 0) and lazy.calls == 2
    trainer.evaluate(X[:4], y[:4])
    assert lazy.calls == 3


def test_a_callback_can_be_any_object_with_event_methods_or_a_handler_set_on_an_instance():
    seen = []

    class Plain:                            # not a Callback: Keras users write them so
        def on_batch_end(self, trainer, step, loss):
            seen.append(("batch", step))

    on_instance = lw.Callback()
    on_instance.on_epoch_end = lambda trainer, row: seen.append(("epoch", row["epoch"]))
    _fit([Plain(), on_instance])
    assert [s for kind, s in seen if kind == "epoch"] == [1, 2]
    assert [s for kind, s in seen if kind == "batch"] == list(range(1, 13))
    with pytest.raises(TypeError, match="an object with any of the methods on_train_begin"):
        lw.Trainer(_model(), callbacks=[42])
    with pytest.raises(TypeError, match=r"got the class Plain: pass Plain\(\)"):
        lw.Trainer(_model(), callbacks=[Plain])


def test_numpy_numbers_in_the_epoch_row_become_python_numbers_and_other_values_are_named(tmp_path):
    class Norm(lw.Callback):
        def on_epoch_end(self, trainer, row):
            row["w_norm"] = np.linalg.norm(trainer.model[0].params["W"])     # np.float32
            row["best"] = np.int64(3)

    _, trainer = _fit([Norm()])
    row = trainer.history[-1]
    assert type(row["w_norm"]) is float and type(row["best"]) is int
    meta, arrays = trainer.state()
    save_arrays(tmp_path / "state.safetensors", arrays, {"trainer": meta})   # JSON could not take np.float32
    assert json.dumps(trainer.history)

    class Listy(lw.Callback):
        def on_epoch_end(self, trainer, row):
            row["per_class"] = [np.float32(0.5), 1.0]        # JSON takes lists (and dicts) of numbers

    class Arrayed(lw.Callback):
        def on_epoch_end(self, trainer, row):
            row["per_layer"] = np.array([1.0, 2.0])

    assert _fit([Listy()])[1].history[-1]["per_class"] == [0.5, 1.0]
    with pytest.raises(TypeError, match=r"Arrayed.on_epoch_end set the epoch row's 'per_layer' to ndarray"):
        _fit([Arrayed()])


def test_fit_after_early_stopping_says_why_no_epoch_runs():
    X, y = _data()
    stopper = lw.Callback()
    stopper.on_epoch_end = lambda trainer, row: setattr(trainer, "stop_training", True)
    trainer = lw.Trainer(_model(), epochs=3, batch_size=16, progress="off", callbacks=[stopper])
    trainer.fit(X, y)
    assert len(trainer.history) == 1
    with pytest.warns(UserWarning, match="stopped early at epoch 1.*stop_training = False"):
        trainer.fit(X, y)
    meta, arrays = trainer.state()              # a run stopped early, loaded to be finished: no warning
    loaded = lw.Trainer(_model(), epochs=3, batch_size=16, progress="off")
    loaded.load_state(meta, arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.fit(X, y)
    assert len(loaded.history) == 1
    trainer.stop_training = False
    stopper.on_epoch_end = lambda trainer, row: None
    trainer.fit(X, y)
    assert len(trainer.history) == 3


class Net(lw.Module):
    """A user module as the model's root, running a Sequential it holds."""

    def __init__(self, conv=False):
        super().__init__()
        self.body = _model(conv)

    def children(self):
        return [self.body]

    def forward(self, x):
        return self.body.forward(x)

    def backward(self, grad_y, input_grad=True):
        return self.body.backward(grad_y, input_grad=input_grad)


@pytest.mark.parametrize("conv", [False, True])
def test_a_mid_step_evaluation_keeps_the_step_whatever_the_models_root(conv):
    from layerwise.analysis.dream import truncate
    from layerwise.analysis.gradients import input_gradient, untouched
    X, y = _data(conv=conv)

    def fit(callbacks):
        net = Net(conv).set_optimizer(lw.SGD(lr=0.1, momentum=0.9))
        lw.Trainer(net, epochs=2, batch_size=16, progress="off", seed=0, callbacks=callbacks).fit(X, y)
        return _weights(net)

    def part_gradient(t):
        part = truncate(t.model.body, "1")                  # a new root over the model's own modules
        with untouched(part):
            input_gradient(part, X[-16:], lambda out: np.ones_like(out))

    plain = fit([])
    for tool in (lambda t: t.evaluate(X[:5], y[:5]), lambda t: t.evaluate(X[-16:], y[-16:]), part_gradient):
        for name, value in fit([During(tool)]).items():
            np.testing.assert_array_equal(value, plain[name], err_msg=name)


def test_a_module_without_super_init_is_named_wherever_a_model_is_taken_in():
    class Bad(lw.Module):
        def __init__(self):
            self.size = 2

        def forward(self, x):
            return x

        def backward(self, grad_y):
            return grad_y

    message = r"Bad has no params: Bad.__init__ must call super\(\).__init__\(\) first"   # no other attribute is
    assert not hasattr(Bad(), "other")                   # touched: a plain AttributeError stays plain
    for attempt in (lambda: lw.Trainer(lw.Sequential(Bad())), lambda: lw.Sequential(Bad()).summary((2,)),
                    lambda: Bad().set_optimizer(lw.SGD(lr=0.1)), lambda: lw.gradcheck(Bad(), np.ones((2, 2)))):
        with pytest.raises(AttributeError, match=message):
            attempt()
    inner = lw.Sequential(lw.Tanh())
    lw.Sequential(lw.Linear(2, 2), inner).set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises(AttributeError, match=r"Bad has no params: Bad.__init__ must call super"):
        inner.append(Bad())


def test_a_mid_step_evaluation_in_another_thread_a_nested_trainer_or_a_loop_by_hand_keeps_the_step():
    import copy
    from concurrent.futures import ThreadPoolExecutor
    X, y = _data()

    def nested(t):
        lw.Trainer(copy.deepcopy(t.model), epochs=1, batch_size=16, progress="off").fit(X[:32], y[:32])
        t.evaluate(X[-16:], y[-16:])

    def other_thread(t):
        with ThreadPoolExecutor(1) as pool:
            pool.submit(t.evaluate, X[-16:], y[-16:]).result()

    plain, _ = _fit()
    for tool in (nested, other_thread):
        watched, _ = _fit([During(tool)])
        for name, value in _weights(plain).items():
            np.testing.assert_array_equal(_weights(watched)[name], value, err_msg=name)

    def by_hand(evaluate):
        model, loss = _model(), lw.CrossEntropyLoss()
        trainer = lw.Trainer(model, progress="off")
        for start in range(0, 96, 16):
            loss.forward(model.forward(X[start:start + 16]), y[start:start + 16])
            if evaluate:
                trainer.evaluate(X[-16:], y[-16:])
            model.backward(loss.backward(), input_grad=False)
            model.update()
        return _weights(model)

    for name, value in by_hand(False).items():
        np.testing.assert_array_equal(by_hand(True)[name], value, err_msg=name)


class _ValError(lw.Callback):
    """Adds a metric of the user's own to the epoch's row: lower is better."""

    def on_epoch_end(self, trainer, row):
        row["val_error"] = 1 - row["val_accuracy"]


def test_an_early_stopping_reused_for_another_model_restores_that_models_weights_only():
    """Its best stayed from the first fit: the second model (worse at every epoch) stopped at once, and at the
    end it was given the first model's weights."""
    X, y = _data(n=160)
    es = lw.EarlyStopping(monitor="val_loss", patience=2)
    models = []
    for lr in (0.1, 1e-6):          # the second model barely moves, so it never reaches the first one's best
        model = _model().set_optimizer(lw.SGD(lr=lr))
        trainer = lw.Trainer(model, epochs=3, batch_size=16, progress="off", seed=0, callbacks=[es])
        history = trainer.fit(X[:128], y[:128], X[128:], y[128:])
        models.append(model)
    assert len(history) == 3 and es.best_epoch == trainer.best_epoch >= 1
    assert es.tracker.best == min(row["val_loss"] for row in history)
    assert not np.array_equal(models[0][0].params["W"], models[1][0].params["W"])


def test_early_stopping_reads_lower_or_higher_from_the_name_or_is_told():
    """Anything not ending in 'loss' was maximised: a falling val_error stopped training and the worst epoch's
    weights were kept."""
    X, y = _data(n=160)
    es = lw.EarlyStopping(monitor="val_error", patience=2)
    assert es.mode == "min" and lw.EarlyStopping(monitor="val_r2").mode == "max"
    trainer = lw.Trainer(_model(), epochs=4, batch_size=16, progress="off", seed=0, callbacks=[_ValError(), es])
    history = trainer.fit(X[:128], y[:128], X[128:], y[128:])
    errors = [row["val_error"] for row in history]
    assert es.tracker.best == min(errors) and trainer.best_epoch == errors.index(min(errors)) + 1
    with pytest.raises(ValueError, match="EarlyStopping cannot tell whether a higher or a lower 'val_score2' is "
                                         "better; pass mode='min' or mode='max'"):
        lw.EarlyStopping(monitor="val_score2")
    assert lw.EarlyStopping(monitor="val_score2", mode="min").mode == "min"
    with pytest.raises(ValueError, match="The 'mode' parameter of EarlyStopping must be 'auto', 'min' or 'max'"):
        lw.EarlyStopping(mode="lower")
    from layerwise.schedules import PlateauSchedule
    assert PlateauSchedule([lw.SGD(0.1)], epochs=3, monitor="val_error").tracker.mode == "min"


def test_the_built_in_early_stopping_says_how_to_watch_a_metric_a_callback_adds():
    X, y = _data(n=160)
    trainer = lw.Trainer(_model(), epochs=3, batch_size=16, progress="off", callbacks=[_ValError()],
                         early_stopping={"monitor": "val_error", "patience": 2})
    with pytest.raises(ValueError, match=r"lack; they have .*\]\. Trainer\(early_stopping=...\) runs before your "
                                         r"callbacks; to watch a metric that one of them adds, pass EarlyStopping"):
        trainer.fit(X[:128], y[:128], X[128:], y[128:])
    es = lw.EarlyStopping(monitor="val_error", patience=5)
    trainer = lw.Trainer(_model(), epochs=3, batch_size=16, progress="off", callbacks=[_ValError(), es])
    history = trainer.fit(X[:128], y[:128], X[128:], y[128:])
    assert trainer.best_epoch == es.best_epoch >= 1           # it was 0: history[best_epoch - 1] read the last row
    assert history[trainer.best_epoch - 1]["val_error"] == min(row["val_error"] for row in history)
