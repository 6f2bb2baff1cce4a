"""The fitting core behind :mod:`layerwise.sklearn`: parameters and their constraints, the model,
the fit loop with ``MLPClassifier``'s stopping rule, and prediction that does not depend on batching.

Also the rules that relate scikit-learn's names to layerwise's (activations, ``alpha``,
``random_state``); :mod:`layerwise.baselines` uses them too.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import validate_data

from .build import build_model
from .callbacks import Callback
from .modules import Linear
from .monitor import Monitor
from .optim import SGD, Adam
from .trainer import Trainer

#: scikit-learn's activation names -> layerwise layer types (None: no activation layer)
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": None}
#: rows per forward pass in predict; every pass has exactly this many rows (see ``_forward``).
#: Measured on 10,000 MNIST-shaped rows, hidden (256, 128): 1024 is as fast as 256 on one BLAS thread and
#: 2.4x faster on two threads when another process holds a core (fewer thread hand-offs); a one-row
#: predict then costs 6 ms instead of 2 ms.
PREDICT_CHUNK = 1024


def weight_decay_from_alpha(alpha, batch_size):
    """layerwise's ``weight_decay`` that regularizes as scikit-learn's ``alpha`` does.

    scikit-learn adds ``alpha / 2 * ||W||^2`` to the loss of each batch and divides it by the batch's
    size, so its gradient adds ``alpha / batch_size * W``; layerwise's L2 ``weight_decay`` adds
    ``weight_decay * W`` (weights only, as scikit-learn). The two agree on every full batch.
    """
    return alpha / batch_size


def alpha_from_weight_decay(weight_decay, batch_size):
    """scikit-learn's ``alpha`` for layerwise's ``weight_decay``: the inverse of :func:`weight_decay_from_alpha`."""
    return weight_decay * batch_size


def seed_from(random_state):
    """An int seed drawn from ``random_state``.

    None, an int or a ``RandomState`` go through scikit-learn's ``check_random_state`` (an int always
    gives the same seed; None draws from NumPy's global RandomState); a ``numpy.random.Generator``
    is drawn from directly (``check_random_state`` refuses it). Drawing advances a passed
    RandomState or Generator, so refitting with the same instance gives a different model.
    """
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2 ** 31))
    return int(check_random_state(random_state).randint(2 ** 31))


class _MLPEpochs(Callback):
    """``MLPClassifier``'s bookkeeping after each epoch, as a trainer callback.

    Appends the training loss to ``loss_curve``. While ``patience`` is set (``fit``, not
    ``partial_fit``), it also watches the training loss, or, when ``score`` is set (early_stopping),
    the validation score, which it appends to ``validation_scores``; training stops once
    ``monitor.wait`` exceeds ``patience`` (``n_iter_no_change``). With ``score``, the weights of the
    best validation score are restored when training ends.
    """

    def __init__(self, mode, tol, early_stopping):
        # scikit-learn's rule: improved iff loss <= best - tol; the best follows any better value
        self.monitor = Monitor(mode, tol, inclusive=True, best_follows="any")
        self.loss_curve, self.validation_scores = [], ([] if early_stopping else None)
        self.patience = self.score = self.best_state = None

    def on_epoch_end(self, trainer, row):
        self.loss_curve.append(row["train_loss"])
        if self.patience is None:
            return
        value = row["train_loss"] if self.score is None else self.score()
        if self.score is not None:
            self.validation_scores.append(value)
        self.monitor.update(value)
        if self.score is not None and value == self.monitor.best:
            self.best_state = trainer.model.state_dict()
        if self.monitor.wait > self.patience:
            trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)


class _LayerwiseMLP(BaseEstimator):
    """Shared fitting code; see LayerwiseClassifier for the parameters."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "layers": [list, tuple, None],
        "dtype": [StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64})],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, layers=None, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.layers = layers
        self.dtype = dtype

    # -- building --------------------------------------------------------------------------------
    def _hidden_specs(self):
        if self.layers is not None:
            return [dict(spec) for spec in self.layers]
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if any(isinstance(h, bool) or not isinstance(h, Integral) or h < 1 for h in sizes):
            raise ValueError(f"The 'hidden_layer_sizes' parameter of {type(self).__name__} must be an int >= 1 "
                             f"or an array-like of ints >= 1. Got {self.hidden_layer_sizes!r} instead.")
        act = ACTIVATIONS[self.activation]
        specs = []
        for h in sizes:
            specs.append({"type": "linear", "units": int(h), "init": "glorot_uniform"})
            if act:
                specs.append({"type": act})
        return specs

    def _batch(self, n):
        return min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    def _build(self, n_features, n_samples):
        rng = np.random.default_rng(self._seed)
        dtype = np.dtype(self.dtype)
        model, shape = build_model(self._hidden_specs(), (n_features,), rng=rng, dtype=dtype, where="layers")
        if len(shape) != 1:
            raise ValueError(f"The hidden layers must end in flat features, but they output shape {shape}.")
        model.append(Linear(shape[0], self._n_outputs, rng=rng, dtype=dtype))
        decay = weight_decay_from_alpha(self.alpha, self._batch(n_samples))
        if self.solver == "sgd":
            opt = SGD(self.learning_rate_init, momentum=self.momentum,
                      nesterov=bool(self.nesterovs_momentum and self.momentum > 0), weight_decay=decay)
        else:
            opt = Adam(self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                       weight_decay=decay)
        model.set_optimizer(opt)
        return model

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, X, targets, *, incremental, epochs):
        first = not (incremental or self.warm_start) or not hasattr(self, "model_")
        if first:
            self._seed = seed_from(self.random_state)
            self.model_ = self._build(X.shape[1], len(X))
            self._watcher = _MLPEpochs("max" if self.early_stopping else "min", float(self.tol),
                                       self.early_stopping)
            self._trainer = Trainer(self.model_, self._loss, epochs=0, batch_size=self._batch(len(X)),
                                    seed=int(np.random.default_rng(self._seed).integers(2 ** 31)) + 1,
                                    shuffle=self.shuffle, classification=self._is_classifier,
                                    progress="lines" if self.verbose else "off", callbacks=[self._watcher])
            self.loss_curve_, self.validation_scores_ = self._watcher.loss_curve, self._watcher.validation_scores
        X_tr, y_tr = X, targets
        watcher, trainer = self._watcher, self._trainer
        watcher.monitor.min_delta = float(self.tol)
        watcher.patience = None if incremental else self.n_iter_no_change
        if self.early_stopping and not incremental:
            from sklearn.model_selection import train_test_split
            stratify = targets if self._is_classifier else None
            X_tr, X_val, y_tr, y_val = train_test_split(X, targets, test_size=self.validation_fraction,
                                                        random_state=self._seed, stratify=stratify)
            watcher.score = lambda: self._score_arrays(X_val, y_val)
        trainer.batch_size = self._batch(len(X_tr))
        trainer.epochs = trainer.epoch + epochs
        trainer.stop_training = False
        try:
            trainer.fit(X_tr, y_tr)
        finally:
            watcher.score = watcher.best_state = None    # no reference to this fit's data outlives it
        best = watcher.monitor.best
        if self.early_stopping:
            self.best_loss_, self.best_validation_score_ = None, (-np.inf if best is None else best)
        else:
            self.best_loss_, self.best_validation_score_ = (np.inf if best is None else best), None
        self.n_iter_ = trainer.epoch
        self.t_ = trainer.step * trainer.batch_size
        if not incremental and not trainer.stop_training:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)
        return self

    # -- prediction --------------------------------------------------------------------------------
    def _forward(self, X):
        """Model outputs in eval mode, ``PREDICT_CHUNK`` rows per forward pass.

        BLAS picks its kernel, and so the rounding of a row's products, by the shape of the whole
        product (a one-row product is a matrix-vector one; leftover rows of a block take other code).
        Every pass here has exactly ``PREDICT_CHUNK`` rows, the last one padded with zeros, so a
        row's output has the same bits whatever other rows ``X`` holds and wherever it stands.
        """
        self.model_.eval()
        X = np.ascontiguousarray(X, dtype=np.dtype(self.dtype))
        n, c = len(X), PREDICT_CHUNK
        outs = []
        for start in range(0, n, c):
            xb = X[start:start + c]
            if len(xb) < c:
                xb = np.concatenate([xb, np.zeros((c - len(xb), *X.shape[1:]), X.dtype)])
            outs.append(self.model_.forward(xb)[:n - start])
        return np.concatenate(outs)

    def _validate(self, X, y="no_validation", reset=True):
        kw = dict(accept_sparse=False, dtype=[np.float64, np.float32], reset=reset)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, **kw).astype(self.dtype, copy=False)
        X, y = validate_data(self, X, y, multi_output=not self._is_classifier, y_numeric=not self._is_classifier, **kw)
        return X.astype(self.dtype, copy=False), y
