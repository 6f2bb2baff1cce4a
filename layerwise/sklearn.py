"""scikit-learn estimators backed by layerwise: ``LayerwiseClassifier`` and ``LayerwiseRegressor``.

Parameter names follow ``MLPClassifier`` where they exist, so an MLP can be swapped for a layerwise
model in a Pipeline, GridSearchCV or cross_val_score. ``alpha`` means what it means in scikit-learn:
:func:`weight_decay_from_alpha` is the one place that turns it into layerwise's ``weight_decay``.
The shared fitting code is in :mod:`layerwise._mlp`.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from ._mlp import LayerwiseMLP
from ._mlp_rules import (
    SquaredError,
    alpha_from_weight_decay,
    seed_from,
    weight_decay_from_alpha,
)
from .losses import get_loss


class LayerwiseClassifier(ClassifierMixin, LayerwiseMLP):
    """A multi-layer network trained by layerwise, with ``MLPClassifier``'s parameters and attributes.

    With the same parameters and ``random_state``, it trains the network ``MLPClassifier`` trains, to
    rounding: the same initial draws, epoch order, updates, loss and stopping epoch
    (``scripts/parity_sklearn.py`` compares the two by cross-validation).

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of int, default (100,)
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
    solver : {"adam", "sgd"}, default "adam"
        layerwise trains by minibatches: "lbfgs" is not offered.
    alpha : float >= 0, default 1e-4
        L2 penalty as in scikit-learn (see :func:`weight_decay_from_alpha`).
    batch_size : int or "auto", default "auto" (``min(200, n_samples)``)
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The rate of the sgd solver, as in scikit-learn: "invscaling" is ``learning_rate_init / (t + 1)
        ** power_t`` after each epoch (t: samples seen), "adaptive" divides it by 5 where sgd would stop
        and stops once it is <= 1e-6. adam ignores it.
    learning_rate_init : float > 0, default 1e-3
    power_t : float >= 0, default 0.5
    max_iter : int, default 200
        Epochs.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator, default None
        Draws the initial weights and biases, the early_stopping split and the order of each epoch,
        in that order, as ``MLPClassifier`` does (a Generator seeds a RandomState with one draw).
    shuffle, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change :
        As in ``MLPClassifier``: training stops when the training loss (or, with early_stopping, the
        validation accuracy) has not improved by ``tol`` for ``n_iter_no_change`` epochs. Each
        ``fit`` starts a new optimizer, also with warm_start; ``partial_fit`` keeps it.
    max_fun : int >= 1, default 15000
        Accepted for compatibility: only the lbfgs solver uses it.
    layers : list or tuple of dict, optional
        Hidden layers as config entries (``[{"type": "linear", "units": 64}, {"type": "relu"}]``);
        replaces hidden_layer_sizes and activation. The output layer is added.
    dtype : {"float32", "float64"} or None, default None
        The dtype of the computation. None: X's own when it is float32, float64 otherwise, as in
        ``MLPClassifier``. "float32" is faster and rounds differently from ``MLPClassifier``.

    Attributes
    ----------
    classes_, n_features_in_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_ :
        As in ``MLPClassifier``; ``loss_curve_`` holds its loss, with the L2 term and clipped
        probabilities.
    coefs_, intercepts_ : list of ndarray
        The weights (n_in, n_out) and biases (n_out,) of each Linear layer: the model's own arrays.
    n_layers_ : int
        The input layer, each hidden layer and the output layer.
    n_outputs_ : int
        1 for two classes (one logistic output), else the number of classes.
    out_activation_ : {"logistic", "softmax"}
    model_ : Sequential
        The network, its output layer giving logits.

    Notes
    -----
    Parameters are checked by scikit-learn's ``_parameter_constraints`` when ``fit`` (or the first
    ``partial_fit``) starts. A sample's prediction does not depend on the other rows passed with it.
    """

    _is_classifier = True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs."""
        warm = self._warm()
        X, y = self._validate(X, y, reset=not warm)
        check_classification_targets(y)
        if warm:        # the outputs keep their meaning: refused before anything changes, as MLPClassifier does
            if set(unique_labels(y)) != set(self.classes_):
                raise ValueError("warm_start can only be used where `y` has the exact same classes as in the previous "
                                 f"call to fit. Previously got {self.classes_}, `y` has {unique_labels(y)}")
            return self._fit(X, self._encoder.transform(y), incremental=False, epochs=self.max_iter)
        labels = unique_labels(y)
        if len(labels) < 2:     # refused before classes_ is set: a later partial_fit is a first call
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                             f"the data contains only one class: {labels.tolist()[0]!r}.")
        self._set_classes(y)
        return self._fit(X, self._encoder.transform(y), incremental=False, epochs=self.max_iter)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; the first call needs ``classes`` (all labels that will appear)."""
        first = not hasattr(self, "model_")     # (as the regressor: classes_ of a fit that failed do not count)
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._set_classes(np.asarray(classes))
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={unique_labels(classes)!r}` is not the same as on last call to partial_fit, "
                             f"was: {self.classes_!r}")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels {unseen.tolist()} that are not in classes {self.classes_.tolist()}.")
        return self._fit(X, self._encoder.transform(y), incremental=True, epochs=1)

    def _set_classes(self, labels):
        self._encoder = LabelEncoder().fit(labels)
        self.classes_ = self._encoder.classes_
        binary = len(self.classes_) == 2
        self._loss = get_loss("bce_with_logits" if binary else "cross_entropy")
        self.n_outputs_ = self._loss.output_width(len(self.classes_))
        self.out_activation_ = "logistic" if binary else "softmax"

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


class LayerwiseRegressor(RegressorMixin, LayerwiseMLP):
    """A multi-layer network regressor trained by layerwise, as ``MLPRegressor`` with its default loss.

    Same parameters and attributes as :class:`LayerwiseClassifier`; ``early_stopping`` monitors the
    validation R^2. The loss is scikit-learn's ``squared_error`` (half the mean squared error), the
    output activation "identity"; ``MLPRegressor``'s ``loss`` parameter ("poisson") is not offered.
    """

    _is_classifier = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on ``(X, y)``; y may have several target columns."""
        warm = self._warm()
        X, y = self._validate(X, y, reset=not warm)
        if warm:
            self._check_width(y)
        else:
            self._set_targets(y)
        self._y_1d = y.ndim == 1        # predict's shape follows the latest y
        return self._fit(X, y.reshape(len(y), -1).astype(X.dtype), incremental=False, epochs=self.max_iter)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first:
            self._set_targets(y)
        else:
            self._check_width(y)
        self._y_1d = y.ndim == 1
        return self._fit(X, y.reshape(len(y), -1).astype(X.dtype), incremental=True, epochs=1)

    def _check_width(self, y):
        """Later calls on the same network must give as many targets per sample as the first."""
        width = y.reshape(len(y), -1).shape[1]
        if width != self.n_outputs_:
            raise ValueError(f"y has {width} target(s) per sample, but {type(self).__name__} was fitted with "
                             f"{self.n_outputs_}: warm_start and partial_fit go on training the same network.")

    def _set_targets(self, y):
        self.n_outputs_ = y.reshape(len(y), -1).shape[1]
        self.out_activation_ = "identity"
        self._loss = SquaredError()

    def _score_arrays(self, X, y):
        from sklearn.metrics import r2_score
        return float(r2_score(y, self._forward(X)))

    def predict(self, X):
        """Predicted targets, shape (n,) when the last fit or partial_fit had a 1-D y, else (n, n_targets)."""
        check_is_fitted(self, "model_")
        out = self._forward(self._validate(X, reset=False)).astype(np.float64)
        return out[:, 0] if self._y_1d else out


__all__ = ["LayerwiseClassifier", "LayerwiseRegressor", "weight_decay_from_alpha", "alpha_from_weight_decay",
           "seed_from"]
