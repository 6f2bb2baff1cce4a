"""A config's task (classification or regression): how it is resolved, what it asks of the model's last
layer and of the loss, and the test metrics of each.

:func:`check_head` is the one check that ``layerwise validate`` and ``layerwise train`` share: the
loss, the output width and the targets together, as the trainer will use them, before any run
directory exists. :func:`test_metrics` gives what ``summary.json`` and ``layerwise evaluate`` report.
"""

import warnings

import numpy as np

from .data.datasets import dataset_task
from .errors import ConfigError, LayerwiseWarning
from .losses import LOSSES
from .registry import is_builtin

#: the test metrics of each task, as summary.json names them (besides test_loss)
METRICS = {"classification": ("test_accuracy",), "regression": ("test_rmse", "test_mae", "test_r2")}


def _tasks_of(loss_cls):
    return getattr(loss_cls, "tasks", ("classification",))


def resolve_task(dataset, task, loss):
    """``data.task``: as given, else the dataset's own (``DATASET_TASKS``), else the loss's first task.

    A ConfigError when the dataset has another task, or the loss does not do the task.
    """
    own, tasks = dataset_task(dataset), _tasks_of(LOSSES[loss])
    resolved = task or own or tasks[0]
    if own and resolved != own:
        raise ConfigError(f"data.task is '{resolved}', but {dataset} is a {own} dataset.")
    if resolved not in tasks:
        fit = [name for name, cls in LOSSES.items() if resolved in _tasks_of(cls)]
        where = "data.task" if task else f"data.dataset {dataset}"
        raise ConfigError(f"loss {loss!r} does not do {resolved} ({where}); use one of {', '.join(map(repr, fit))}.")
    return resolved


def _test_only_classes(data):
    """``" (2 of them only in the test labels: 7, 9)"``, or "" when the training labels have every class."""
    train, test, classes = (getattr(data, k, None) for k in ("y_train", "y_test", "classes"))
    if train is None or test is None or classes is None or getattr(data, "task", None) == "regression":
        return ""
    only = np.setdiff1d(test, np.concatenate([train, getattr(data, "y_val", train)]))
    if not len(only):
        return ""
    names = ", ".join(str(classes[c]) for c in only[:5]) + (", ..." if len(only) > 5 else "")
    return f" ({len(only)} of them only in the test labels: {names})"


def _targets_probe(data, n=16):
    """A few targets as the trainer gets them; class codes ``0..C-1`` when the data is not loaded yet."""
    y = getattr(data, "y_train", None)
    return np.arange(data.n_classes) if y is None else y[:n]


def check_head(config, model, out_shape, loss, data):
    """Refuse (ConfigError, one line) a loss, output width or targets that training would fail on.

    Parameters
    ----------
    config : Config
    model : Sequential
        As built; its last module's ``output_range`` is checked against ``loss.input_range``.
    out_shape : tuple
        One sample's output shape.
    loss : Loss
    data : Dataset, or an object with ``input_shape`` and ``n_classes`` (a classification whose
        files are not there yet)

    Warns
    -----
    LayerwiseWarning
        When a loss that takes logits follows a layer whose outputs are probabilities (softmax then
        cross_entropy): it trains, through two softmaxes.
    """
    src, name = config.source, config.loss
    k = len(config.model.layers) - 1
    last = f"model.layers[{k}] ({config.model.layers[k]['type']})"
    task = getattr(data, "task", "classification")
    if task == "regression":
        width, what = data.n_targets, f"{name} on {data.n_targets} regression target(s)"
    elif data.n_classes < 2:
        raise ConfigError(f"{src}: data: the labels hold {data.n_classes} class{'es' if data.n_classes != 1 else ''}; "
                          "a classifier needs two or more (check the data file and its label column, or set "
                          "data.task: regression for real-valued targets).")
    else:
        width, what = loss.output_width(data.n_classes), f"{name} on {data.n_classes} classes"
    try:
        loss.check_targets(_targets_probe(data), width)
    except ValueError as e:
        raise ConfigError(f"{src}: loss: {what}: {e}") from None
    except Exception as e:    # a plugin loss's own error on the probe
        if is_builtin(type(loss)):
            raise
        raise ConfigError(f"{src}: loss: {what}: {type(loss).__name__}.forward on a probe batch raised "
                          f"{type(e).__name__}: {e}") from e
    if tuple(out_shape) != (width,):
        hint = ("; for real-valued targets set data.task: regression"
                if task == "classification" and "regression" in getattr(loss, "tasks", ()) else "")
        raise ConfigError(f"{src}: {last}: the model outputs shape {tuple(out_shape)} per sample, but {what}"
                          f"{_test_only_classes(data)} needs ({width},); set units: {width} on the last linear "
                          f"layer{hint}.")
    _check_loss_input(src, name, last, model[len(model) - 1], loss, task)
    if task == "regression" and not getattr(config, "from_run", False):
        _check_reachable_targets(src, last, model[len(model) - 1], width, getattr(data, "y_train", None))


def _check_reachable_targets(src, last, module, width, y):
    """A ConfigError when a regression's last layer cannot output its training targets: a softmax over one output
    is always 1, and a bounded activation (sigmoid, tanh, softmax, relu) cannot reach targets outside its range."""
    have = getattr(module, "output_range", None)
    if have is None:
        return
    if type(module).__name__ == "Softmax" and width == 1:
        raise ConfigError(f"{src}: {last}: a softmax over one output is always 1, so the model cannot fit any target; "
                          "a regression ends in a linear layer (remove the softmax).")
    if y is None or not len(y):
        return
    low, high = float(np.min(y)), float(np.max(y))
    if low < have[0] or high > have[1]:
        raise ConfigError(f"{src}: {last} outputs values in [{have[0]:g}, {have[1]:g}], but the regression targets run "
                          f"from {low:g} to {high:g}, beyond its reach; a regression ends in a linear layer (remove the "
                          "last activation).")


def _check_loss_input(src, name, last, module, loss, task):
    have = getattr(module, "output_range", None)
    want = getattr(loss, "input_range", None)
    if want is not None and (have is None or have[0] < want[0] or have[1] > want[1]):
        got = "any number" if have is None else f"values in [{have[0]:g}, {have[1]:g}]"
        fix = f"end the model with {{type: {loss.input_layer}}}, or " if getattr(loss, "input_layer", None) else ""
        on_logits = [n for n, cls in LOSSES.items() if getattr(cls, "takes_logits", False) and task in _tasks_of(cls)]
        raise ConfigError(f"{src}: {last} outputs {got}, but loss {name} takes values in [{want[0]:g}, "
                          f"{want[1]:g}]: {fix}use a loss on logits ({', '.join(on_logits)}).")
    if getattr(loss, "takes_logits", False) and have is not None and have[0] >= 0 and have[1] <= 1:
        warnings.warn(f"{src}: {last} outputs probabilities, but loss {name} takes logits and applies its own "
                      "softmax or sigmoid, so the model trains through both; remove that last layer "
                      "(predictions apply the loss's own).", LayerwiseWarning, stacklevel=3)


def regression_metrics(y_true, y_pred):
    """``{"rmse", "mae", "r2"}`` in float64, as scikit-learn computes them (outputs averaged uniformly)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    return {"rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "mae": float(mean_absolute_error(y_true, y_pred)), "r2": float(r2_score(y_true, y_pred))}


def regression_predictions(outputs, y_like):
    """Model outputs (N, targets) in the shape of the targets: (N,) for one target per sample."""
    return outputs[:, 0] if np.ndim(y_like) == 1 else outputs


def test_metrics(trainer, data):
    """``test_loss`` and the task's metrics (:data:`METRICS`) on ``data``'s test split."""
    result = trainer.evaluate(data.X_test, data.y_test)
    out = {"test_loss": result["loss"]}
    if data.task == "regression":
        pred = regression_predictions(trainer.predict(data.X_test), data.y_test)
        out.update({f"test_{k}": v for k, v in regression_metrics(data.y_test, pred).items()})
    else:
        out["test_accuracy"] = result.get("accuracy")
    return out
