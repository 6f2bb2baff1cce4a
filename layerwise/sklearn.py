"""scikit-learn estimators backed by layerwise: ``LayerwiseClassifier`` and ``LayerwiseRegressor``.

Parameter names follow ``MLPClassifier`` where they exist, so an MLP can be swapped for a layerwise
model in a Pipeline, GridSearchCV or cross_val_score. ``alpha`` means what it means in scikit-learn:
:func:`weight_decay_from_alpha` is the one place that turns it into layerwise's ``weight_decay``.
The shared fitting code is in :mod:`layerwise._mlp`.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._mlp import _LayerwiseMLP, alpha_from_weight_decay, seed_from, weight_decay_from_alpha
from .losses import get_loss


class LayerwiseClassifier(ClassifierMixin, _LayerwiseMLP):
    """A multi-layer network trained by layerwise, with ``MLPClassifier``'s parameter names.

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of int, default (100,)
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
    solver : {"adam", "sgd"}, default "adam"
        layerwise trains by minibatches: "lbfgs" is not offered.
    alpha : float >= 0, default 1e-4
        L2 penalty as in scikit-learn (see :func:`weight_decay_from_alpha`).
    batch_size : int or "auto", default "auto" (``min(200, n_samples)``)
    learning_rate_init : float > 0, default 1e-3
    max_iter : int, default 200
        Epochs.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default None
        Seeds the initial weights, the shuffling and the early_stopping split (see :func:`seed_from`).
    shuffle, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change :
        As in ``MLPClassifier``: training stops when the training loss (or, with early_stopping, the
        validation accuracy) has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    layers : list or tuple of dict, optional
        Hidden layers as config entries (``[{"type": "linear", "units": 64}, {"type": "relu"}]``);
        replaces hidden_layer_sizes and activation. The output layer is added.
    dtype : {"float32", "float64"}, default "float32"

    Attributes
    ----------
    classes_, model_, loss_curve_, n_iter_, n_features_in_, best_loss_, validation_scores_,
    best_validation_score_

    Notes
    -----
    Parameters are checked by scikit-learn's ``_parameter_constraints`` when ``fit`` (or the first
    ``partial_fit``) starts. A sample's prediction does not depend on the other rows passed with it.
    """

    _is_classifier = True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs."""
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self._set_classes(y)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                             f"the data contains only one class: {self.classes_[0]!r}.")
        return self._fit(X, self._encoder.transform(y), incremental=False, epochs=self.max_iter)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; the first call needs ``classes`` (all labels that will appear)."""
        first = not hasattr(self, "classes_")
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._set_classes(np.asarray(classes))
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels {unseen.tolist()} that are not in classes {self.classes_.tolist()}.")
        return self._fit(X, self._encoder.transform(y), incremental=True, epochs=1)

    def _set_classes(self, labels):
        self._encoder = LabelEncoder().fit(labels)
        self.classes_ = self._encoder.classes_
        self._loss = get_loss("bce_with_logits" if len(self.classes_) == 2 else "cross_entropy")
        self._n_outputs = self._loss.output_width(len(self.classes_))

    def _score_arrays(self, X, y_codes):
        return float(np.mean(self._loss.labels(self._forward(X)) == y_codes))

    def predict_proba(self, X):
        """Class probabilities, one column per entry of ``classes_``."""
        check_is_fitted(self, "model_")
        return self._loss.proba(self._forward(self._validate(X, reset=False)).astype(np.float64))

    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class label of each sample."""
        check_is_fitted(self, "model_")
        return self.classes_[self._loss.labels(self._forward(self._validate(X, reset=False)))]


class LayerwiseRegressor(RegressorMixin, _LayerwiseMLP):
    """A multi-layer network regressor trained by layerwise with mean squared error.

    Same parameters as :class:`LayerwiseClassifier`; ``early_stopping`` monitors the validation R^2.
    """

    _is_classifier = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on ``(X, y)``; y may have several target columns."""
        X, y = self._validate(X, y)
        self._set_targets(y)
        return self._fit(X, y.reshape(len(y), -1).astype(self.dtype), incremental=False, epochs=self.max_iter)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first:
            self._set_targets(y)
        return self._fit(X, y.reshape(len(y), -1).astype(self.dtype), incremental=True, epochs=1)

    def _set_targets(self, y):
        self._y_1d = y.ndim == 1
        self._n_outputs = y.reshape(len(y), -1).shape[1]
        self._loss = get_loss("mse")

    def _score_arrays(self, X, y):
        from sklearn.metrics import r2_score
        return float(r2_score(y, self._forward(X)))

    def predict(self, X):
        """Predicted targets, shape (n,) for a 1-D y at fit time, else (n, n_targets)."""
        check_is_fitted(self, "model_")
        out = self._forward(self._validate(X, reset=False)).astype(np.float64)
        return out[:, 0] if self._y_1d else out


__all__ = ["LayerwiseClassifier", "LayerwiseRegressor", "weight_decay_from_alpha", "alpha_from_weight_decay",
           "seed_from"]
