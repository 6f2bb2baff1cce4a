"""The scikit-learn estimators of a config's ``baselines``: built-in names and ``{class: ..., params: ...}`` entries.

Every entry is checked (class, task, parameter names) before anything trains, so a misspelt
parameter is one config line, not a traceback after the layerwise model has trained.
"""

import importlib

from .config_errors import did_you_mean
from .errors import ConfigError

DEFAULT_BASELINES = {"classification": ("logistic_regression", "mlp"), "regression": ("ridge", "mlp")}
#: name -> (scikit-learn class, fixed parameters); "mlp" is matched to the config instead
BUILTINS = {
    "classification": {
        "logistic_regression": ("sklearn.linear_model.LogisticRegression", {"max_iter": 2000}),
        "mlp": ("sklearn.neural_network.MLPClassifier", "matched"),
        "linear_svm": ("sklearn.svm.LinearSVC", {"random_state": "seed"}),
        "random_forest": ("sklearn.ensemble.RandomForestClassifier",
                          {"n_estimators": 200, "random_state": "seed", "n_jobs": 1}),
        "knn": ("sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 5}),
    },
    "regression": {
        "ridge": ("sklearn.linear_model.Ridge", {"alpha": 1.0}),
        "mlp": ("sklearn.neural_network.MLPRegressor", "matched"),
        "linear_svm": ("sklearn.svm.LinearSVR", {"random_state": "seed"}),
        "random_forest": ("sklearn.ensemble.RandomForestRegressor",
                          {"n_estimators": 200, "random_state": "seed", "n_jobs": 1}),
        "knn": ("sklearn.neighbors.KNeighborsRegressor", {"n_neighbors": 5}),
    },
}


def _import(path):
    module_name, _, cls_name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), cls_name)


#: added to the matched MLP's tol: a validation score equal to the best is no improvement, as in layerwise
TIE = 1e-12


def _mlp_matched(config, n_train, n_targets=1):
    """An MLPClassifier (MLPRegressor for a regression) with the layerwise model's hidden sizes,
    activation, batch size, solver, learning rate and epochs.

    scikit-learn's squared error is ``mean over samples of sum over targets of (y - t)^2 / 2``, which
    is ``n_targets / 2`` times layerwise's ``mse`` (a mean over every element). So a regression's
    ``alpha`` is divided by that ratio and, for sgd, its learning rate multiplied by it: the same
    steps. l1 and huber are compared with the squared error all the same (MLPRegressor has no other).
    """
    from ._mlp_rules import ACTIVATIONS, alpha_from_weight_decay
    regression = config.data.task == "regression"
    layers = config.model.layers
    linear = [i for i, l in enumerate(layers) if l.get("type") == "linear"]
    hidden = [int(layers[i]["units"]) for i in linear[:-1]]
    sklearn_name = {layer_type: name for name, layer_type in ACTIVATIONS.items() if layer_type}
    between = layers[linear[0] + 1:linear[-1]] if hidden else []     # what the hidden layers apply
    nearest = {**sklearn_name, "leakyrelu": "relu"}      # scikit-learn has no leaky ReLU: the note says so
    activation = next((nearest[l["type"]] for l in between if l.get("type") in nearest), "identity")
    opt, t = config.optimizer, config.training
    solver = "adam" if opt.type in ("adam", "adamw") else "sgd"
    batch = min(t.batch_size, n_train)
    ratio = 2.0 / n_targets if regression else 1.0
    # AdamW's decay is decoupled from the gradient: no L2 penalty (alpha) is the same, so none is set
    decay = 0.0 if opt.type == "adamw" else opt.weight_decay
    params = dict(hidden_layer_sizes=tuple(hidden), activation=activation, solver=solver,
                  alpha=alpha_from_weight_decay(decay, batch) / ratio, batch_size=batch,
                  learning_rate_init=opt.lr * (ratio if solver == "sgd" else 1.0), max_iter=t.epochs,
                  random_state=config.seed, shuffle=t.shuffle, early_stopping=t.early_stopping is not None,
                  n_iter_no_change=t.epochs + 1, tol=0.0)
    es = t.early_stopping
    if es is not None:
        # scikit-learn stops once more than n_iter_no_change epochs in a row have not improved the score by tol,
        # layerwise once patience have: one fewer (it takes no fewer than 1). scikit-learn counts a gain of
        # exactly tol (a tie, with tol 0) as an improvement, layerwise does not: tol is a hair above min_delta.
        # min_delta is a tol only on the score scikit-learn watches (accuracy): on a loss it is in other units
        delta = es.min_delta if es.monitor == "val_accuracy" else 0.0
        params.update(n_iter_no_change=max(es.patience - 1, 1), validation_fraction=config.data.val_fraction,
                      tol=delta + TIE)
    if solver == "sgd":
        params.update(momentum=getattr(opt, "momentum", 0.0), nesterovs_momentum=getattr(opt, "nesterov", False))
    else:
        params.update(beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=opt.eps)
    estimator = _import(BUILTINS["regression" if regression else "classification"]["mlp"][0])(**params)
    estimator.layerwise_note = _unmatched(config, between, activation, sklearn_name)
    return estimator


def _unmatched(config, between, activation, sklearn_name):
    """What the matched MLP does not copy from the layerwise model (scikit-learn's MLP has no such thing),
    for its row in the comparison; None when it copies all it is said to."""
    notes = [f"{activation} for {kind}" for kind in dict.fromkeys(l.get("type") for l in between)
             if kind in ("leakyrelu", *sklearn_name) and sklearn_name.get(kind) != activation]
    kinds = dict.fromkeys(l.get("type") for l in config.model.layers)
    copied = {"linear", "flatten", "softmax", "leakyrelu", *sklearn_name}   # the output's softmax/sigmoid too
    notes += [f"no {kind}" for kind in kinds if kind not in copied]          # conv, dropout, a plugin's layer...
    if config.optimizer.type not in ("sgd", "adam", "adamw"):
        notes.append(f"sgd for {config.optimizer.type}")
    schedule = getattr(config.schedule, "type", "none")
    if schedule != "none":
        notes.append(f"a constant learning rate (layerwise: {schedule} schedule)")
    if config.optimizer.type == "adamw" and config.optimizer.weight_decay:
        notes.append("no weight decay (AdamW's is decoupled; alpha would be an L2 penalty)")
    if config.training.grad_clip_norm:
        notes.append("no gradient clipping")
    if config.data.task == "regression" and config.loss != "mse":
        notes.append(f"the squared error for {config.loss}")
    es = config.training.early_stopping
    if es is not None:
        watched = "R^2" if config.data.task == "regression" else "accuracy"
        notes.append(f"early stopping on validation {watched} of a share of its training rows, which it then does "
                     "not train on")
        if es.patience == 1:
            notes.append("a patience of 2 epochs (1 has no counterpart)")
        if es.min_delta and es.monitor != "val_accuracy":
            notes.append(f"no min_delta (layerwise's is on {es.monitor}, not on {watched})")
    return "the matched MLP has " + ", ".join(notes) + " (scikit-learn's MLP has no other)" if notes else None


def _builtin(name, config, n_train, n_targets, where):
    task = config.data.task
    if name not in BUILTINS[task]:
        names = ", ".join(BUILTINS[task])
        other = next((t for t in BUILTINS if name in BUILTINS[t]), None)
        why = (f"'{name}' is a {other} baseline, and this config is a {task}." if other
               else f"unknown baseline {name!r}.{did_you_mean(name, BUILTINS[task])}")
        raise ConfigError(f"{config.source}: {where}: {why} Built-in names for {task}: {names}; or any scikit-learn "
                          f"{'regressor' if task == 'regression' else 'classifier'} as "
                          f"{{class: sklearn.svm.{'SVR' if task == 'regression' else 'SVC'}, params: {{C: 10}}}}.")
    path, params = BUILTINS[task][name]
    if params == "matched":
        return _mlp_matched(config, n_train, n_targets)
    return _import(path)(**{k: config.seed if v == "seed" else v for k, v in params.items()})


def _with_params(cls, params, label, where):
    """``cls`` made with ``params``, each name checked against ``get_params()`` first."""
    try:
        estimator = cls()
    except TypeError:        # a constructor with required arguments: they come from params
        try:
            return cls(**params)
        except TypeError as e:
            raise ConfigError(f"{where} ({label}): {e}") from None
    known = estimator.get_params(deep=True)
    for key in params:
        if key not in known:
            hint = did_you_mean(key, known) or f" It takes: {', '.join(sorted(known))}."
            raise ConfigError(f"{where} ({label}): unknown parameter {key!r} of {cls.__name__}.{hint}")
    return estimator.set_params(**params)


def make_baseline(spec, config, n_train, n_targets=1, where="baselines"):
    """``(label, estimator)`` from a built-in name or ``{class: sklearn.x.Y, params: {...}, name: ...}``.

    The estimator must suit ``config.data.task`` (a classifier or a regressor); ``where`` names the
    entry in messages (``baselines[2]``).
    """
    from sklearn.base import is_classifier, is_regressor
    if isinstance(spec, str):
        return spec, _builtin(spec, config, n_train, n_targets, where)
    path = spec.class_
    module_name, _, cls_name = path.rpartition(".")
    plugin_modules = [p for p in config.plugins if not p.endswith(".py")]
    if not (path.startswith("sklearn.") or module_name in plugin_modules):
        raise ConfigError(f"{config.source}: {where}: class {path!r} is not under sklearn.*; list its module in "
                          "plugins to allow it.")
    try:
        cls = _import(path)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"{config.source}: {where}: cannot import {path!r}.") from None
    label = spec.name or cls_name
    regression = config.data.task == "regression"
    kind, fits = ("regressor", is_regressor) if regression else ("classifier", is_classifier)
    if not isinstance(cls, type) or not hasattr(cls, "get_params"):
        raise ConfigError(f"{config.source}: {where}: {path!r} is not a scikit-learn {kind}.")
    estimator = _with_params(cls, spec.params, label, f"{config.source}: {where}")
    if not fits(estimator):
        raise ConfigError(f"{config.source}: {where}: {path!r} is not a scikit-learn {kind}, and this config is "
                          f"a {config.data.task}.")
    validate = getattr(estimator, "_validate_params", None)     # what its fit() runs first (scikit-learn >= 1.2)
    if validate is not None:
        try:
            validate()
        except (ValueError, TypeError) as e:     # sklearn's InvalidParameterError is both
            raise ConfigError(f"{config.source}: {where}.params: {str(e).splitlines()[0]}") from None
    return label, estimator


def baseline_specs(config):
    """The config's ``baselines``, or the task's defaults."""
    return list(config.baselines) if config.baselines is not None else list(DEFAULT_BASELINES[config.data.task])


def check_baselines(config):
    """Make every baseline once (nothing is fitted): ConfigError on the first bad entry, or on a label two
    entries share (the table, compare.json and the confusion plots name each row by it)."""
    labels = {}
    for i, spec in enumerate(baseline_specs(config)):
        label, _ = make_baseline(spec, config, config.training.batch_size, where=f"baselines[{i}]")
        if label in labels or label == f"layerwise ({config.name})":
            first = f"baselines[{labels[label]}]" if label in labels else "the layerwise model's row"
            raise ConfigError(f"{config.source}: baselines[{i}] is named {label!r}, as {first} is; give each a "
                              f"unique name: {{class: ..., params: {{...}}, name: {label}-2}}.")
        labels[label] = i
