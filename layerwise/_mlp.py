"""The fitting core behind :mod:`layerwise.sklearn`: parameters and their constraints, the model,
the fit loop with ``MLPClassifier``'s stopping rule, and prediction that does not depend on batching.

Training follows scikit-learn's ``BaseMultilayerPerceptron`` step for step, so that the same
``random_state`` gives the same network: one ``RandomState`` draws the weights and biases (Glorot
uniform, in its order), then the early_stopping split, then each epoch's order; the computation
runs in the dtype of X; the loss that ``tol`` watches is scikit-learn's (clipped probabilities,
plus the L2 term). The rules themselves are in :mod:`layerwise._mlp_rules`.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._mlp_rules import (
    ACTIVATIONS,
    MLPSGD,
    PREDICT_CHUNK,
    EpochOrder,
    LearningRate,
    MLPAdam,
    MLPEpochs,
    MLPLoss,
    init_like_mlp,
    linears_of,
    random_state_from,
    seed_from,
)
from .build import build_model
from .errors import TrainingError
from .modules import Linear
from .trainer import Trainer


def _shown_specs(specs):
    """Hidden layer entries in a line: ``linear 16, relu``."""
    return ", ".join(" ".join([str(spec.get("type"))] + [str(v) for k, v in spec.items() if k in ("units",)])
                     for spec in specs) or "none"


class LayerwiseMLP(BaseEstimator):
    """Shared fitting code; see LayerwiseClassifier for the parameters."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
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
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "layers": [list, tuple, None],
        "dtype": [StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, layers=None,
                 dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
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
        self.max_fun = max_fun
        self.layers = layers
        self.dtype = dtype

    # -- scikit-learn's fitted attributes ---------------------------------------------------------
    def _linears(self):
        check_is_fitted(self, "model_")
        return linears_of(self.model_)

    @property
    def coefs_(self):
        """The weights of each Linear layer, (n_in, n_out), in order; the model's own arrays."""
        return [m.params["W"] for m in self._linears()]

    @property
    def intercepts_(self):
        """The bias of each Linear layer, (n_out,), in order; the model's own arrays."""
        return [m.params["b"] for m in self._linears()]

    @property
    def n_layers_(self):
        """Layers counted as scikit-learn does: the input, each hidden layer and the output."""
        return len(self._linears()) + 1

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
            specs.append({"type": "linear", "units": int(h), "init": "zeros"})    # drawn by init_like_mlp
            if act:
                specs.append({"type": act})
        return specs

    def _batch(self, n):
        return min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    def _build(self, n_features, random_state):
        """The network, initialized as MLPClassifier's from ``random_state``.

        ``layers`` entries keep their own initializers (drawn from a Generator seeded by one draw
        from the RandomState); the other layers are drawn by :func:`init_like_mlp`.
        """
        custom = self.layers is not None
        rng = seed_from(random_state) if custom else 0
        model, shape = build_model(self._hidden_specs(), (n_features,), rng=rng, dtype=self._dtype, where="layers")
        if len(shape) != 1:
            raise ValueError(f"The hidden layers must end in flat features, but they output shape {shape}.")
        model.append(Linear(shape[0], self.n_outputs_, init="zeros", dtype=self._dtype))
        init_like_mlp([model[-1]] if custom else linears_of(model), self.activation, random_state)
        return model

    def _new_trainer(self, n_samples):
        """A fresh optimizer (its state cleared) and learning rate, as MLPClassifier makes for each ``fit``."""
        if self.solver == "sgd":
            opt = MLPSGD(self.learning_rate_init, momentum=self.momentum, nesterov=self.nesterovs_momentum)
        else:
            opt = MLPAdam(self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        self.model_.set_optimizer(opt).load_optimizer_state_dict({})
        kind = self.learning_rate if self.solver == "sgd" else "constant"
        schedule = LearningRate([opt], kind, self.learning_rate_init, self.power_t)
        loss = MLPLoss(self._loss, self.model_, self.alpha, clip=self._is_classifier)
        return Trainer(self.model_, loss, epochs=0, batch_size=self._batch(n_samples), schedule=schedule,
                       shuffle=self.shuffle, classification=self._is_classifier,
                       progress="lines" if self.verbose else "off", callbacks=[self._watcher])

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, X, targets, *, incremental, epochs):
        """``BaseMultilayerPerceptron._fit`` with a stochastic solver: one ``fit`` or ``partial_fit`` call."""
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        random_state = random_state_from(self.random_state)
        if hasattr(self, "model_") and (incremental or self.warm_start):
            built, now = getattr(self, "_built_specs", None), self._hidden_specs()
            how = "partial_fit" if incremental else "warm_start=True"
            if built is not None and now != built:
                raise ValueError(f"{how} goes on training the network of the last fit, whose hidden layers were "
                                 f"{_shown_specs(built)}; they are now {_shown_specs(now)}. Fit a new network with "
                                 "warm_start=False (or a new estimator).")
            was = self._watcher.validation_scores is not None
            if was != bool(self.early_stopping):
                # what the last fit kept (best score or loss, validation_scores_) is of the other kind
                raise ValueError(f"{how} goes on training the network of the last fit, which had early_stopping="
                                 f"{was}; it is now {bool(self.early_stopping)}. Fit a new network with "
                                 "warm_start=False (or a new estimator).")
        else:
            self._dtype = X.dtype
            self.model_ = self._build(X.shape[1], random_state)
            self._built_specs = self._hidden_specs()
            self._watcher = MLPEpochs("max" if self.early_stopping else "min", float(self.tol),
                                      self.early_stopping, self.alpha)
            self.loss_curve_, self.validation_scores_ = self._watcher.loss_curve, self._watcher.validation_scores
            self._trainer = None
        if self._trainer is None or not incremental:
            self._trainer = self._new_trainer(len(X))
        X_tr, y_tr = X.astype(self._dtype, copy=False), targets
        watcher, trainer = self._watcher, self._trainer
        # what MLPClassifier reads from its parameters on every call, set_params between calls included
        watcher.monitor.min_delta = float(self.tol)
        watcher.patience = self.n_iter_no_change
        watcher.alpha = trainer.loss.alpha = float(self.alpha)
        trainer.shuffle = self.shuffle
        trainer.progress = "lines" if self.verbose else "off"
        if self.early_stopping:
            X_tr, y_tr, X_val, y_val = self._validation_split(X_tr, targets, random_state)
            watcher.score = lambda: self._score_arrays(X_val, y_val)
        trainer.rng = EpochOrder(random_state)
        if self.batch_size != "auto" and self.batch_size > len(X_tr):
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=4)
        trainer.batch_size = self._batch(len(X_tr))
        start = trainer.epoch
        trainer.epochs = start + epochs
        trainer.stop_training = False
        try:
            trainer.fit(X_tr, y_tr)
        except TrainingError as error:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed, or learning_rate_init may be too large.") from error
        finally:
            watcher.score = watcher.best_state = None    # no reference to this fit's data outlives it
            trainer.rng = None
            self._forget_rows()
        best = watcher.monitor.best
        if self.early_stopping:
            self.best_loss_, self.best_validation_score_ = None, (-np.inf if best is None else best)
        else:
            self.best_loss_, self.best_validation_score_ = (np.inf if best is None else best), None
        self.n_iter_ = trainer.epoch - start
        self.t_ = watcher.t
        self.loss_ = self.loss_curve_[-1]
        if not incremental and not trainer.stop_training:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)
        return self

    def _validation_split(self, X, targets, random_state):
        """early_stopping's held-out part, drawn as MLPClassifier draws it (stratified for one output only)."""
        from sklearn.model_selection import train_test_split
        stratify = targets if self._is_classifier and self.n_outputs_ == 1 else None
        X_tr, X_val, y_tr, y_val = train_test_split(X, targets, test_size=self.validation_fraction,
                                                    random_state=random_state, stratify=stratify)
        if len(X_val) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        return X_tr, y_tr, X_val, y_val

    def _forget_rows(self):
        """Drop what the last forward and loss kept of a batch (its rows, activations, targets): a fitted
        estimator, pickled, carries weights and optimizer state, not the user's data."""
        for _, m in self.model_.named_modules():
            m._forget_batch()
            m.grads                         # noqa: B018 - stale gradients (lazily zeroed) become zeros
        trainer = getattr(self, "_trainer", None)
        for loss in (getattr(self, "_loss", None), getattr(trainer, "loss", None)):
            if loss is not None:
                loss._cache = None
        if trainer is not None:
            trainer.batch_x = trainer.batch_y = None

    # -- prediction --------------------------------------------------------------------------------
    def _forward(self, X):
        """Model outputs in eval mode, ``PREDICT_CHUNK`` rows per forward pass.

        BLAS picks its kernel, and so the rounding of a row's products, by the shape of the whole
        product (a one-row product is a matrix-vector one; leftover rows of a block take other code).
        Every pass here has exactly ``PREDICT_CHUNK`` rows, the last one padded with zeros, so a
        row's output has the same bits whatever other rows ``X`` holds and wherever it stands.
        """
        self.model_.eval()
        X = np.ascontiguousarray(X, dtype=self._dtype)
        n, c = len(X), PREDICT_CHUNK
        outs = []
        for start in range(0, n, c):
            xb = X[start:start + c]
            if len(xb) < c:
                xb = np.concatenate([xb, np.zeros((c - len(xb), *X.shape[1:]), X.dtype)])
            outs.append(self.model_.forward(xb)[:n - start])
        self._forget_rows()
        return np.concatenate(outs)

    def _warm(self):
        """Whether ``fit`` goes on from the fitted network (``warm_start``): X must keep its features."""
        return bool(self.warm_start) and hasattr(self, "model_")

    def _validate(self, X, y="no_validation", reset=True):
        """X in the dtype of the computation: ``dtype``, or (None) X's own when float32, else float64."""
        dtype = [np.float64, np.float32] if self.dtype is None else np.dtype(self.dtype)
        kw = {"accept_sparse": False, "dtype": dtype, "reset": reset}
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, **kw)
        shape = getattr(y, "shape", None) or np.asarray(y).shape    # (np.shape would call __array_function__)
        if self._is_classifier and len(shape) == 2 and shape[1] > 1:
            raise ValueError(f"{type(self).__name__} takes one label per sample; y of shape {shape} holds several "
                             "(multilabel or multioutput), which it does not support. Fit one classifier per column "
                             "(sklearn.multioutput.MultiOutputClassifier), or use MLPClassifier.")
        return validate_data(self, X, y, multi_output=not self._is_classifier, y_numeric=not self._is_classifier, **kw)
