"""LayerwiseClassifier / LayerwiseRegressor against MLPClassifier / MLPRegressor with the same random_state.

The estimators follow scikit-learn's procedure step for step (initial draws, epoch order, updates,
loss, stopping rule), so with float64 data the networks agree to rounding, not only in accuracy.
"""

import re
import warnings
from copy import deepcopy

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from layerwise.sklearn import LayerwiseClassifier, LayerwiseRegressor


def digits(n=300):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def cancer(n=300):
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X[:n]), y[:n]


def fit_both(make_ours, make_theirs, X, y, **params):
    """Both estimators fitted with the same parameters (each its own copy of a RandomState)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_ours(**deepcopy(params)).fit(X, y), make_theirs(**deepcopy(params)).fit(X, y)


def assert_same_network(ours, theirs, X):
    """Same stopping epoch, weights, loss curve and scores, to rounding."""
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-9) if theirs.best_loss_ is not None \
        else ours.best_loss_ is None
    if theirs.validation_scores_ is None:
        assert ours.validation_scores_ is None
    else:
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)


# each case exercises one part of the procedure: Adam's epsilon (dead units under alpha), sgd's velocity
# under a changing rate, the adaptive rate's stops (tol no epoch reaches), the Glorot factor of logistic,
# the last short batch's L2 gradient, the early_stopping split and its best weights
CASES = {
    "adam": {},
    "adam_alpha": {"alpha": 0.1},
    "sgd": {"solver": "sgd"},
    "sgd_plain_momentum": {"solver": "sgd", "nesterovs_momentum": False},
    "sgd_invscaling": {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.1},
    "sgd_adaptive": {"solver": "sgd", "learning_rate": "adaptive", "tol": 1e3, "n_iter_no_change": 2},
    "logistic": {"activation": "logistic"},
    "tanh_two_layers": {"activation": "tanh", "hidden_layer_sizes": (20, 10)},
    "identity": {"activation": "identity"},
    "batch_64_unshuffled": {"batch_size": 64, "shuffle": False},
    "early_stopping": {"early_stopping": True},
    "randomstate_instance": {"random_state": np.random.RandomState(3)},
}


@pytest.mark.parametrize("data", [digits, cancer], ids=["10_classes", "2_classes"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_random_state_trains_mlpclassifiers_network(case, data):
    X, y = data()
    params = {"hidden_layer_sizes": (16,), "max_iter": 30, "random_state": 1, **CASES[case]}
    ours, theirs = fit_both(LayerwiseClassifier, MLPClassifier, X, y, **params)
    assert_same_network(ours, theirs, X)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["adam", "sgd_invscaling", "early_stopping"])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_same_random_state_trains_mlpregressors_network(case, n_targets):
    X, _ = cancer()
    targets = np.column_stack([X[:, 0] + X[:, 1] ** 2, X[:, 2]])[:, :n_targets].squeeze()
    params = {"hidden_layer_sizes": (16,), "max_iter": 30, "random_state": 1,
              **CASES[case], **({"learning_rate_init": 0.01} if case == "sgd_invscaling" else {})}
    ours, theirs = fit_both(LayerwiseRegressor, MLPRegressor, X, targets, **params)
    assert_same_network(ours, theirs, X)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)


def test_warm_start_and_partial_fit_continue_as_mlpclassifier():
    # each fit starts a new optimizer (warm_start keeps the weights only); partial_fit keeps it
    X, y = digits()
    pairs = []
    for make in (LayerwiseClassifier, MLPClassifier):
        warm = make(hidden_layer_sizes=(16,), max_iter=3, warm_start=True, random_state=0)
        partial = make(hidden_layer_sizes=(16,), solver="sgd", learning_rate="invscaling", random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warm.fit(X, y).fit(X, y)
        for _ in range(3):
            partial.partial_fit(X, y, classes=np.arange(10))
        pairs.append((warm, partial))
    for ours, theirs in zip(*pairs):
        assert_same_network(ours, theirs, X)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_raw_wine_cross_validation_matches_mlpclassifier():
    # raw wine (proline ~ 1000) is where the two used to differ most: 0.775 against 0.893 at random_state 0,
    # from other initial draws, float32, PyTorch's Adam epsilon and an unclipped loss without the L2 term
    X, y = load_wine(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cross_val_score(LayerwiseClassifier(random_state=0), X, y, cv=5)
        theirs = cross_val_score(MLPClassifier(random_state=0), X, y, cv=5)
    assert abs(ours.mean() - theirs.mean()) < 0.01, (ours, theirs)


@pytest.mark.parametrize("data", [digits, cancer], ids=["10_classes", "2_classes"])
def test_fitted_attributes_are_mlpclassifiers(data):
    X, y = data()
    ours, theirs = fit_both(LayerwiseClassifier, MLPClassifier, X, y, hidden_layer_sizes=(16, 8), max_iter=2,
                            random_state=0)
    for name in ("coefs_", "intercepts_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert type(a) is type(b) is list
        assert [(type(w), w.shape, w.dtype) for w in a] == [(type(w), w.shape, w.dtype) for w in b]
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert type(a) is type(b) and a == b, name
    assert isinstance(ours.loss_, float) and ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    # coefs_ and intercepts_ are the network's own arrays, as MLPClassifier's are its
    ours.coefs_[-1][...] = 0
    ours.intercepts_[-1][...] = np.arange(ours.n_outputs_) + 1.0     # the last class wins (logit 1 if binary)
    assert np.all(ours.predict(X) == ours.classes_[-1])


def test_regressor_attributes_are_mlpregressors():
    X, _ = cancer()
    ours, theirs = fit_both(LayerwiseRegressor, MLPRegressor, X, np.column_stack([X[:, 0], X[:, 1]]),
                            hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    assert (ours.n_layers_, ours.n_outputs_, ours.out_activation_) == (theirs.n_layers_, theirs.n_outputs_,
                                                                        theirs.out_activation_) == (3, 2, "identity")


def test_mlpclassifiers_parameters_with_their_defaults():
    ours, theirs = LayerwiseClassifier().get_params(), MLPClassifier().get_params()
    assert {k: ours[k] for k in theirs} == theirs
    assert set(ours) - set(theirs) == {"layers", "dtype"}


SKLEARN_PARAM_MESSAGE = re.compile(r"The '(\w+)' parameter of MLPClassifier must be .* Got .* instead\.")


@pytest.mark.parametrize("params", [
    {"learning_rate": "optimal"}, {"power_t": -1.0}, {"max_fun": 0}, {"momentum": 1.5}, {"beta_1": 1.0},
    {"epsilon": 0.0}, {"n_iter_no_change": 0}, {"activation": "softmax"}, {"batch_size": 0}, {"tol": -1.0},
])
def test_a_bad_parameter_gets_mlpclassifiers_message(params):
    X, y = digits(50)
    messages = []
    for make in (LayerwiseClassifier, MLPClassifier):
        with pytest.raises(ValueError) as info:
            make(**params).fit(X, y)
        messages.append(str(info.value))
    ours, theirs = (same_set_order(m) for m in messages)
    assert SKLEARN_PARAM_MESSAGE.fullmatch(theirs), theirs
    assert ours == theirs.replace("MLPClassifier", "LayerwiseClassifier")


def same_set_order(message):
    """``message`` with the items of each ``{...}`` sorted (a set prints in the order of its hashes)."""
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def test_lbfgs_is_refused_with_scikit_learns_message():
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = digits(50)
    with pytest.raises(InvalidParameterError, match=r"^The 'solver' parameter of LayerwiseClassifier must be a "
                                                     r"str among \{'(adam|sgd)', '(adam|sgd)'\}\. Got 'lbfgs' "
                                                     r"instead\.$"):
        LayerwiseClassifier(solver="lbfgs").fit(X, y)


PRIVATE = re.compile(r"(?<![\w.])_\w|_mlp|LayerwiseMLP|MLPEpochs|MLPLoss|MLPAdam|MLPSGD|EpochOrder|LearningRate|"
                     r"SquaredError")


def messages_of_bad_calls():
    """The message of every error a user can reach through the estimators' public methods."""
    X, y = digits(60)
    calls = {
        "predict before fit": lambda: LayerwiseClassifier().predict(X),
        "coefs_ before fit": lambda: LayerwiseClassifier().coefs_,
        "one class": lambda: LayerwiseClassifier(max_iter=1).fit(X, np.zeros(len(X))),
        "partial_fit without classes": lambda: LayerwiseClassifier().partial_fit(X, y),
        "unseen label": lambda: LayerwiseClassifier().partial_fit(X, y, classes=np.arange(9)),
        "partial_fit with early_stopping": lambda: LayerwiseClassifier(early_stopping=True).partial_fit(
            X, y, classes=np.arange(10)),
        "feature count": lambda: LayerwiseClassifier(max_iter=1).fit(X, y).predict(X[:, :5]),
        "nan in X": lambda: LayerwiseClassifier().fit(np.full_like(X, np.nan), y),
        "nan target for regression": lambda: LayerwiseRegressor().fit(X, np.where(y > 5, np.nan, y)),
        "hidden size 0": lambda: LayerwiseClassifier(hidden_layer_sizes=(4, 0)).fit(X, y),
        "unknown layer": lambda: LayerwiseClassifier(layers=[{"type": "rleu"}]).fit(X, y),
        "conv on flat input": lambda: LayerwiseClassifier(layers=[{"type": "conv2d", "filters": 2,
                                                                   "kernel_size": 3}]).fit(X, y),
        "validation set too small": lambda: LayerwiseClassifier(early_stopping=True, validation_fraction=0.01).fit(
            X[:20], y[:20]),
        "diverged": lambda: LayerwiseClassifier(solver="sgd", learning_rate_init=10, max_iter=5).fit(X * 1e100, y),
    }
    for name in LayerwiseClassifier().get_params():
        calls[f"bad {name}"] = lambda name=name: LayerwiseClassifier(**{name: object()}).fit(X, y)
    out = {}
    for what, call in calls.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                call()
            except Exception as error:          # noqa: BLE001 - every message is the point
                out[what] = f"{type(error).__name__}: {error}"
            else:
                out[what] = None
    return out


def test_no_error_names_a_private_class_or_module():
    messages = messages_of_bad_calls()
    assert [what for what, message in messages.items() if message is None] == []
    named = {what: message for what, message in messages.items() if PRIVATE.search(message)}
    assert named == {}
    assert "learning_rate_init" in messages["diverged"]


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_parameters_set_between_calls_take_effect_as_in_scikit_learn(how):
    """alpha (and shuffle, verbose) were fixed when the network was built: a set_params between partial_fit
    calls, or before a warm-started fit, was reported by get_params but not trained with."""
    X, y = digits()
    nets = []
    for make in (LayerwiseClassifier, MLPClassifier):
        net = make(hidden_layer_sizes=(16,), max_iter=3, random_state=0, warm_start=how == "warm_start")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            net.partial_fit(X, y, classes=np.arange(10)) if how == "partial_fit" else net.fit(X, y)
            net.set_params(alpha=10.0, shuffle=False)
            net.partial_fit(X, y) if how == "partial_fit" else net.fit(X, y)
        nets.append(net)
    ours, theirs = nets
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_verbose_set_between_partial_fit_calls_prints(capsys):
    X, y = digits()
    net = LayerwiseClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=np.arange(10))
    assert capsys.readouterr().out == ""
    net.set_params(verbose=True).partial_fit(X, y)
    captured = capsys.readouterr()
    assert "loss" in (captured.out + captured.err).lower()


def test_early_stopping_switched_before_a_warm_start_is_refused():
    """Turned off, the refit stopped after 1 epoch with best_loss_ holding a validation accuracy."""
    X, y = digits()
    net = LayerwiseClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, warm_start=True,
                              early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(X, y)
    with pytest.raises(ValueError, match=r"warm_start=True goes on training the network of the last fit, which had "
                                         r"early_stopping=True; it is now False\. Fit a new network with "
                                         r"warm_start=False"):
        net.set_params(early_stopping=False).fit(X, y)
