"""scikit-learn estimators backed by layerwise: ``LayerwiseClassifier`` and ``LayerwiseRegressor``.

Parameter names follow ``MLPClassifier`` where they exist, so an MLP can be swapped for a layerwise
model in a Pipeline, GridSearchCV or cross_val_score. ``alpha`` means what it means in scikit-learn:
the L2 term ``alpha / 2 * ||W||^2`` is divided by the batch size there, so layerwise applies it as
``weight_decay = alpha / batch_size`` and the two estimators regularize alike.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .build import build_model
from .modules import Linear
from .optim import SGD, Adam
from .trainer import Trainer

ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": None}


class _LayerwiseMLP(BaseEstimator):
    """Shared fitting code; see LayerwiseClassifier for the parameters."""

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

    # -- checks ------------------------------------------------------------------------------
    def _check_params(self):
        name = type(self).__name__
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"The 'activation' parameter of {name} must be one of {sorted(ACTIVATIONS)}. "
                             f"Got {self.activation!r} instead.")
        if self.solver not in ("sgd", "adam"):
            raise ValueError(f"The 'solver' parameter of {name} must be 'sgd' or 'adam'. Got {self.solver!r} "
                             "instead (layerwise trains by minibatches; 'lbfgs' is not offered).")
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, (int, np.integer)) else list(sizes)
        if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in sizes):
            raise ValueError(f"The 'hidden_layer_sizes' parameter of {name} must be positive ints. "
                             f"Got {self.hidden_layer_sizes!r} instead.")
        for param, ok in (("alpha", self.alpha >= 0), ("learning_rate_init", self.learning_rate_init > 0),
                          ("max_iter", self.max_iter >= 1), ("tol", self.tol >= 0),
                          ("n_iter_no_change", self.n_iter_no_change >= 1),
                          ("validation_fraction", 0 < self.validation_fraction < 1),
                          ("momentum", 0 <= self.momentum <= 1)):
            if not ok:
                raise ValueError(f"The '{param}' parameter of {name} is out of range. "
                                 f"Got {getattr(self, param)!r} instead.")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1):
            raise ValueError(f"The 'batch_size' parameter of {name} must be 'auto' or an int >= 1. "
                             f"Got {self.batch_size!r} instead.")
        return sizes

    def _hidden_specs(self, sizes):
        if self.layers is not None:
            return [dict(spec) for spec in self.layers]
        act = ACTIVATIONS[self.activation]
        specs = []
        for h in sizes:
            specs.append({"type": "linear", "units": int(h), "init": "glorot_uniform"})
            if act:
                specs.append({"type": act})
        return specs

    def _batch(self, n):
        return min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    # -- building and training ---------------------------------------------------------------
    def _build(self, n_features, n_outputs, n_samples):
        sizes = self._check_params()
        rng = np.random.default_rng(self._seed)
        dtype = np.dtype(self.dtype)
        model, shape = build_model(self._hidden_specs(sizes), (n_features,), rng=rng, dtype=dtype,
                                   where="layers")
        if len(shape) != 1:
            raise ValueError(f"The hidden layers must end in flat features, but they output shape {shape}.")
        model.append(Linear(shape[0], n_outputs, rng=rng, dtype=dtype))
        decay = self.alpha / self._batch(n_samples)
        if self.solver == "sgd":
            opt = SGD(self.learning_rate_init, momentum=self.momentum,
                      nesterov=bool(self.nesterovs_momentum and self.momentum > 0), weight_decay=decay)
        else:
            opt = Adam(self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                       weight_decay=decay)
        model.set_optimizer(opt)
        model.requires_input_grad = False
        return model

    def _new_trainer(self, model, n_samples):
        return Trainer(model, self._loss_name, epochs=0, batch_size=self._batch(n_samples),
                       seed=int(np.random.default_rng(self._seed).integers(2 ** 31)) + 1, shuffle=self.shuffle,
                       classification=self._is_classifier, progress="lines" if self.verbose else "off")

    def _fit(self, X, targets, *, incremental, epochs):
        first = not (incremental or self.warm_start) or not hasattr(self, "model_")
        if first:
            rs = self.random_state
            self._seed = int(np.random.default_rng(rs).integers(2 ** 31)) if isinstance(
                rs, (int, np.integer)) or rs is None else int(rs.randint(2 ** 31))
            self.model_ = self._build(X.shape[1], self._n_outputs, len(X))
            self._trainer = self._new_trainer(self.model_, len(X))
            self.loss_curve_, self.validation_scores_ = [], ([] if self.early_stopping else None)
            self.best_loss_ = None if self.early_stopping else np.inf
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self._no_improvement = 0
        X_val = y_val = None
        X_tr, y_tr = X, targets
        if self.early_stopping and not incremental:
            from sklearn.model_selection import train_test_split
            stratify = targets if self._is_classifier else None
            X_tr, X_val, y_tr, y_val = train_test_split(X, targets, test_size=self.validation_fraction,
                                                        random_state=self._seed, stratify=stratify)
        trainer = self._trainer
        trainer.batch_size = self._batch(len(X_tr))
        trainer.epochs = trainer.epoch + epochs
        trainer.stopped_early = False
        trainer.callbacks = [] if incremental else [self._tol_stop(X_val, y_val)]
        best = [None]
        trainer.callbacks.append(lambda t, e: self.loss_curve_.append(t.history[-1]["train_loss"])
                                 if e == "epoch_end" else None)
        if self.early_stopping and not incremental:
            trainer.callbacks.append(self._keep_best(best))
        trainer.fit(X_tr, y_tr)
        trainer.callbacks = []
        if best[0] is not None:
            self.model_.load_state_dict(best[0])
        self.n_iter_ = trainer.epoch
        self.t_ = trainer.step * trainer.batch_size
        if not incremental and not trainer.stopped_early and self.max_iter > 0:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        return self

    def _tol_stop(self, X_val, y_val):
        def on_event(trainer, event):
            if event != "epoch_end":
                return
            loss = trainer.history[-1]["train_loss"]
            if self.early_stopping:
                score = self._score_arrays(X_val, y_val)
                self.validation_scores_.append(score)
                improved = score >= self.best_validation_score_ + self.tol
                self.best_validation_score_ = max(self.best_validation_score_, score)
            else:
                improved = loss <= self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, loss)
            self._no_improvement = 0 if improved else self._no_improvement + 1
            if self._no_improvement > self.n_iter_no_change:
                trainer.stopped_early = True
        return on_event

    def _keep_best(self, best):
        def on_event(trainer, event):
            if event == "epoch_end" and self.validation_scores_ and \
                    self.validation_scores_[-1] >= max(self.validation_scores_):
                best[0] = self.model_.state_dict()
        return on_event

    def _forward(self, X):
        """Model outputs, one row at a time: a BLAS product's last bits depend on a row's place in
        the batch, so this keeps every sample's prediction independent of the others."""
        self.model_.eval()
        X = np.ascontiguousarray(X, dtype=np.dtype(self.dtype))
        if len(X) == 0:
            return np.zeros((0, self._n_outputs), dtype=X.dtype)
        return np.concatenate([self.model_.forward(X[i:i + 1]) for i in range(len(X))])

    def _validate(self, X, y="no_validation", reset=True):
        kw = dict(accept_sparse=False, dtype=[np.float64, np.float32], reset=reset)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, **kw).astype(self.dtype, copy=False)
        X, y = validate_data(self, X, y, multi_output=not self._is_classifier, y_numeric=not self._is_classifier, **kw)
        return X.astype(self.dtype, copy=False), y


class LayerwiseClassifier(ClassifierMixin, _LayerwiseMLP):
    """A multi-layer network trained by layerwise, with ``MLPClassifier``'s parameter names.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
    solver : {"adam", "sgd"}, default "adam"
    alpha : float, default 1e-4
        L2 penalty as in scikit-learn (applied as ``weight_decay = alpha / batch_size``).
    batch_size : int or "auto", default "auto" (``min(200, n_samples)``)
    learning_rate_init : float, default 1e-3
    max_iter : int, default 200
        Epochs.
    shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change :
        As in ``MLPClassifier``: training stops when the training loss (or, with early_stopping, the
        validation accuracy) has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    layers : list of dict, optional
        Hidden layers as config entries (``[{"type": "linear", "units": 64}, {"type": "relu"}]``);
        replaces hidden_layer_sizes and activation. The output layer is added.
    dtype : {"float32", "float64"}, default "float32"

    Attributes
    ----------
    classes_, model_, loss_curve_, n_iter_, n_features_in_, validation_scores_, best_validation_score_
    """

    _is_classifier = True

    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs."""
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                             f"the data contains only one class: {self.classes_[0]!r}.")
        self._setup_outputs()
        return self._fit(X, self._encoder.transform(y), incremental=False, epochs=self.max_iter)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; the first call needs ``classes`` (all labels that will appear)."""
        first = not hasattr(self, "classes_")
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._encoder = LabelEncoder().fit(np.asarray(classes))
            self.classes_ = self._encoder.classes_
            self._setup_outputs()
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels {unseen.tolist()} that are not in classes {self.classes_.tolist()}.")
        return self._fit(X, self._encoder.transform(y), incremental=True, epochs=1)

    def _setup_outputs(self):
        binary = len(self.classes_) == 2
        self._n_outputs = 1 if binary else len(self.classes_)
        self._loss_name = "bce_with_logits" if binary else "cross_entropy"

    def _score_arrays(self, X, y_codes):
        return float(np.mean(self._codes(self._forward(X)) == y_codes))

    def _codes(self, out):
        return (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)

    def predict_proba(self, X):
        """Class probabilities, one column per entry of ``classes_``."""
        check_is_fitted(self, "model_")
        out = self._forward(self._validate(X, reset=False)).astype(np.float64)
        if out.shape[1] == 1:
            p = 0.5 * (1 + np.tanh(0.5 * out[:, 0]))
            return np.column_stack([1 - p, p])
        out -= out.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        return out / out.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class label of each sample."""
        check_is_fitted(self, "model_")
        return self.classes_[self._codes(self._forward(self._validate(X, reset=False)))]


class LayerwiseRegressor(RegressorMixin, _LayerwiseMLP):
    """A multi-layer network regressor trained by layerwise with mean squared error.

    Same parameters as :class:`LayerwiseClassifier`; ``early_stopping`` monitors the validation R^2.
    """

    _is_classifier = False
    _loss_name = "mse"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train on ``(X, y)``; y may have several target columns."""
        X, y = self._validate(X, y)
        self._y_1d = y.ndim == 1
        targets = y.reshape(len(y), -1).astype(self.dtype)
        self._n_outputs = targets.shape[1]
        return self._fit(X, targets, incremental=False, epochs=self.max_iter)

    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first:
            self._y_1d = y.ndim == 1
            self._n_outputs = y.reshape(len(y), -1).shape[1]
        return self._fit(X, y.reshape(len(y), -1).astype(self.dtype), incremental=True, epochs=1)

    def _score_arrays(self, X, y):
        from sklearn.metrics import r2_score
        return float(r2_score(y, self._forward(X)))

    def predict(self, X):
        """Predicted targets, shape (n,) for a 1-D y at fit time, else (n, n_targets)."""
        check_is_fitted(self, "model_")
        out = self._forward(self._validate(X, reset=False)).astype(np.float64)
        return out[:, 0] if self._y_1d else out


__all__ = ["LayerwiseClassifier", "LayerwiseRegressor"]
