"""What a callback may do in the middle of training without changing it: evaluate, predict and the analysis
tools between a batch's forward and its backward; callbacks written as plain objects or set on an instance;
NumPy numbers in the epoch row; fit after early stopping."""

import json

import numpy as np
import pytest

import layerwise as lw
from layerwise.analysis import fgsm, saliency
from layerwise.checkpoint import save_arrays


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _model():
    rng = np.random.default_rng(1)
    m = lw.Sequential(lw.Linear(6, 8, rng=rng), lw.Dropout(0.2, rng=2), lw.ReLU(), lw.Linear(8, 2, rng=rng))
    return m.set_optimizer(lw.SGD(lr=0.1, momentum=0.9))


def _weights(model):
    return {name: m.params[k].copy() for name, m, k in model.named_parameters()}


def _fit(callbacks=(), **kwargs):
    X, y = _data()
    model = _model()
    trainer = lw.Trainer(model, epochs=2, batch_size=16, progress="off", seed=0, callbacks=list(callbacks), **kwargs)
    trainer.fit(X, y)
    return model, trainer


class During(lw.Callback):
    """Runs ``fn(trainer)`` between every batch's forward and its backward."""

    def __init__(self, fn):
        self.fn = fn

    def on_before_backward(self, trainer, batch, loss):
        self.fn(trainer)


@pytest.mark.parametrize("what", ["evaluate 5 rows", "evaluate a batch's worth", "predict", "saliency", "fgsm",
                                  "summary"])
def test_evaluating_or_explaining_between_a_forward_and_its_backward_leaves_the_step_as_it_was(what):
    X, y = _data()
    tools = {
        "evaluate 5 rows": lambda t: t.evaluate(X[:5], y[:5]),
        "evaluate a batch's worth": lambda t: t.evaluate(X[-16:], y[-16:]),   # same shapes: no check could tell
        "predict": lambda t: t.predict(X[-16:]),
        "saliency": lambda t: saliency(t.model, X[-16:]),
        "fgsm": lambda t: fgsm(t.model, lw.CrossEntropyLoss(), X[-16:], y[-16:], 0.1),
        "summary": lambda t: t.model.summary((6,)),
    }
    plain, _ = _fit()
    watched, trainer = _fit([During(tools[what])])
    for name, value in _weights(plain).items():
        np.testing.assert_array_equal(_weights(watched)[name], value, err_msg=f"{what} changed {name}")
    assert trainer.model[1].training       # Dropout is back in training mode


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
            row["per_layer"] = [1.0, 2.0]

    with pytest.raises(TypeError, match=r"Listy.on_epoch_end set the epoch row's 'per_layer' to list"):
        _fit([Listy()])


def test_fit_after_early_stopping_says_why_no_epoch_runs():
    X, y = _data()
    stopper = lw.Callback()
    stopper.on_epoch_end = lambda trainer, row: setattr(trainer, "stop_training", True)
    trainer = lw.Trainer(_model(), epochs=3, batch_size=16, progress="off", callbacks=[stopper])
    trainer.fit(X, y)
    assert len(trainer.history) == 1
    with pytest.warns(UserWarning, match="stopped early at epoch 1.*stop_training = False"):
        trainer.fit(X, y)
    trainer.stop_training = False
    stopper.on_epoch_end = lambda trainer, row: None
    trainer.fit(X, y)
    assert len(trainer.history) == 3
