"""LayerwiseClassifier / LayerwiseRegressor as scikit-learn estimators."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from layerwise.sklearn import LayerwiseClassifier, LayerwiseRegressor


# learning_rate_init 0.01: the 60 updates of check_classifiers_train reach its accuracy bar from any seed
@parametrize_with_checks([LayerwiseClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                                              random_state=0),
                          LayerwiseRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                                             random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


def test_learns_digits_and_exposes_mlp_attributes():
    X_tr, X_te, y_tr, y_te = digits()
    clf = LayerwiseClassifier(hidden_layer_sizes=(64,), max_iter=40, learning_rate_init=0.01, random_state=0)
    clf.fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.95
    assert list(clf.classes_) == list(range(10)) and clf.n_features_in_ == 64
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.predict_proba(X_te).shape == (len(X_te), 10)


def test_string_labels_and_refit_with_the_same_random_state_gives_the_same_model():
    X_tr, X_te, y_tr, _ = digits()
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    y_str = names[y_tr][::-1][::-1]  # a non-contiguous view of string labels
    a = LayerwiseClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=3).fit(X_tr, y_str)
    b = LayerwiseClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=3).fit(X_tr, y_str)
    assert set(a.predict(X_te)) <= set(names)
    assert np.array_equal(a.predict_proba(X_te), b.predict_proba(X_te))


def fitted(dtype="float32", regressor=False):
    """A model fitted for 5 epochs on digits (a classifier, or a regressor on 2 targets), and 450 test rows."""
    X_tr, X_te, y_tr, _ = digits()
    Estimator, y = (LayerwiseRegressor, np.column_stack([y_tr, -y_tr])) if regressor else (LayerwiseClassifier, y_tr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Estimator(hidden_layer_sizes=(32,), max_iter=5, random_state=0, dtype=dtype).fit(X_tr, y), X_te


@pytest.mark.parametrize("chunk", [None, 128])
@pytest.mark.parametrize("dtype, regressor", [("float32", False), ("float64", False), ("float32", True)])
def test_a_prediction_does_not_depend_on_the_other_samples(dtype, regressor, chunk, monkeypatch):
    # BLAS rounds a one-row product, and leftover rows of a block, differently from the rest of a batch:
    # a plain model.forward(X) fails every comparison below on this data. Equal means bit for bit.
    # chunk 128 puts the 450 rows in 4 chunks, so rows also move across chunk edges.
    if chunk:
        monkeypatch.setattr("layerwise._mlp.PREDICT_CHUNK", chunk)
    est, X = fitted(dtype, regressor)
    method = est.predict if regressor else est.predict_proba
    full = method(X)
    n, rng = len(X), np.random.default_rng(0)
    for i in (0, 1, 127, 128, 129, n - 1):               # alone; at the chunk edges of chunk 128
        assert np.array_equal(method(X[i:i + 1]), full[i:i + 1]), i
    for size in (2, 3, 4, 5, 17, 127, 128, 129, 300):    # subsets drawn anywhere, in any order
        idx = rng.choice(n, size, replace=False)
        assert np.array_equal(method(X[idx]), full[idx]), size
    order = rng.permutation(n)
    assert np.array_equal(method(X[order]), full[order])
    assert np.array_equal(method(X[::-1]), full[::-1])
    assert np.array_equal(method(np.concatenate([X, X[:300]])), np.concatenate([full, full[:300]]))
    if not regressor:
        assert np.array_equal(est.predict(X), est.classes_[full.argmax(axis=1)])


def test_prediction_runs_in_batches_of_one_size():
    from layerwise._mlp_rules import PREDICT_CHUNK
    clf, X = fitted()
    shapes = []
    handle = clf.model_[0].register_forward_hook(lambda module, x, y: shapes.append(x.shape))
    clf.predict(np.resize(X, (2 * PREDICT_CHUNK + 1, X.shape[1])))
    clf.predict(X[:1])
    handle.remove()
    assert shapes == [(PREDICT_CHUNK, X.shape[1])] * 4


def same_model(a, b):
    wa, wb = a.model_.state_dict(), b.model_.state_dict()
    return all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_random_state_takes_an_int_none_a_randomstate_or_a_generator():
    from sklearn.base import clone
    X, _, y, _ = digits()
    fit = lambda rs: LayerwiseClassifier(hidden_layer_sizes=(8,), max_iter=1, tol=0.0, random_state=rs).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert same_model(fit(3), fit(3)) and not same_model(fit(3), fit(4))
        for make in (np.random.RandomState, np.random.default_rng):
            assert same_model(fit(make(7)), fit(make(7)))
            shared = make(7)                 # a fit draws from the instance, as scikit-learn's estimators do
            assert not same_model(fit(shared), fit(shared))
            est = LayerwiseClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=make(7))
            assert same_model(clone(est).fit(X, y), est.fit(X, y))
        saved = np.random.get_state()        # None: NumPy's global RandomState, as in scikit-learn
        try:
            np.random.seed(0)
            a = fit(None)
            np.random.seed(0)
            assert same_model(a, fit(None))
        finally:
            np.random.set_state(saved)
    with pytest.raises(ValueError, match="The 'random_state' parameter of LayerwiseClassifier must be .*"
                                         "Generator.* Got 'seed' instead"):
        fit("seed")


@pytest.mark.parametrize("Estimator", [LayerwiseClassifier, LayerwiseRegressor])
def test_every_parameter_is_checked_by_its_constraint(Estimator):
    from sklearn.utils.estimator_checks import check_param_validation
    check_param_validation(Estimator.__name__, Estimator(hidden_layer_sizes=(4,), max_iter=1))


@pytest.mark.parametrize("params, start, end", [
    ({"solver": "lbfgs"}, "The 'solver' parameter of LayerwiseClassifier must be a str among", "Got 'lbfgs' instead."),
    ({"learning_rate_init": float("inf")}, "The 'learning_rate_init' parameter of LayerwiseClassifier must be "
                                           "a float in the range (0.0, inf).", "Got inf instead."),
    ({"hidden_layer_sizes": (16, 0)}, "The 'hidden_layer_sizes' parameter of LayerwiseClassifier must be an int "
                                      ">= 1 or an array-like of ints >= 1.", "Got (16, 0) instead."),
    ({"dtype": "float16"}, "The 'dtype' parameter of LayerwiseClassifier must be a str among",
     "Got 'float16' instead."),
])
def test_a_bad_parameter_is_refused_before_training(params, start, end):
    X, _, y, _ = digits()
    with pytest.raises(ValueError) as info:
        LayerwiseClassifier(**params).fit(X, y)
    message = str(info.value)
    assert message.startswith(start) and message.endswith(end), message


def sklearn_stop_epoch(values, tol, n_iter_no_change, mode):
    """scikit-learn's MLP rule, transcribed: the epoch at which it stops on this sequence of values."""
    best, count = (np.inf, 0) if mode == "min" else (-np.inf, 0)
    for epoch, v in enumerate(values, 1):
        worse = v > best - tol if mode == "min" else v < best + tol
        count = count + 1 if worse else 0
        best = min(best, v) if mode == "min" else max(best, v)
        if count > n_iter_no_change:
            return epoch
    return None


# each case fails for a rule that differs in one point: a tie with tol 0 counts as an improvement
# (validation accuracy ties often), and the best follows a gain smaller than tol (the training loss)
@pytest.mark.parametrize("early_stopping, tol", [(False, 2e-3), (True, 0.0)])
def test_tol_and_n_iter_no_change_stop_as_in_mlpclassifier(early_stopping, tol):
    from sklearn.neural_network import MLPClassifier
    X, _, y, _ = digits()
    kw = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0, early_stopping=early_stopping)
    # a tol no epoch can reach: both stop after the first epoch and n_iter_no_change + 1 more
    ours = LayerwiseClassifier(**kw, tol=1e3, n_iter_no_change=3).fit(X, y)
    assert ours.n_iter_ == MLPClassifier(**kw, tol=1e3, n_iter_no_change=3).fit(X, y).n_iter_ == 5
    clf = LayerwiseClassifier(**kw, tol=tol, n_iter_no_change=2, max_iter=60).fit(X, y)
    values, mode = (clf.validation_scores_, "max") if early_stopping else (clf.loss_curve_, "min")
    assert len(values) == clf.n_iter_ == sklearn_stop_epoch(values, tol, 2, mode) < 60
    if early_stopping:       # the best follows every better value, even one better by less than tol
        assert clf.best_validation_score_ == max(values) and clf.best_loss_ is None
        theirs = MLPClassifier(**kw, tol=tol, n_iter_no_change=2, max_iter=60).fit(X, y)
        assert theirs.validation_scores_ == values      # the same split, the same scores
        np.testing.assert_allclose(clf.coefs_[0], theirs.coefs_[0], rtol=1e-9)   # the best weights restored
    else:
        assert clf.best_loss_ == min(values) and clf.validation_scores_ is None


def test_partial_fit_and_warm_start_continue_training():
    X_tr, X_te, y_tr, y_te = digits()
    clf = LayerwiseClassifier(hidden_layer_sizes=(32,), random_state=0, learning_rate_init=0.01)
    for _ in range(5):
        clf.partial_fit(X_tr, y_tr, classes=np.arange(10))
    # as MLPClassifier: n_iter_ counts the epochs of the last call, t_ and loss_curve_ all of them
    assert clf.n_iter_ == 1 and clf.t_ == 5 * len(X_tr) and len(clf.loss_curve_) == 5
    assert clf.score(X_te, y_te) > 0.85
    warm = LayerwiseClassifier(hidden_layer_sizes=(32,), max_iter=2, warm_start=True, random_state=0).fit(X_tr, y_tr)
    warm.fit(X_tr, y_tr)
    assert warm.n_iter_ == 2 and len(warm.loss_curve_) == 4


def test_pipeline_gridsearch_and_cross_val_score():
    X, _, y, _ = digits()
    pipe = make_pipeline(StandardScaler(), LayerwiseClassifier(hidden_layer_sizes=(32,), max_iter=10,
                                                                     learning_rate_init=0.01, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.95
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    search = GridSearchCV(LayerwiseClassifier(max_iter=10, learning_rate_init=0.01, random_state=0),
                          {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-1]}, cv=2).fit(X, y)
    assert search.best_params_["hidden_layer_sizes"] in [(16,), (32,)] and search.best_score_ > 0.85


def test_regressor_fits_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    reg = LayerwiseRegressor(hidden_layer_sizes=(32,), max_iter=200, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.95 and reg.predict(X).shape == (400,)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_pickled_estimator_carries_no_rows_of_the_data():
    import pickle

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)) + 1000.0          # rows recognisable by their values
    y = (X[:, 0] > 1000.0).astype(int)
    clf = LayerwiseClassifier(hidden_layer_sizes=(8,), max_iter=2, batch_size=50, random_state=0).fit(X, y)
    clf.predict(X[:7])
    back = pickle.loads(pickle.dumps(clf))
    arrays = [v for _, m in back.model_.named_modules() for v in vars(m).values() if isinstance(v, np.ndarray)]
    arrays += [m._cache for _, m in back.model_.named_modules() if m._cache is not None]
    arrays += [g for _, m in back.model_.named_modules() for g in m._grads.values()]
    arrays += [a for a in (back._loss._cache or ()) if isinstance(a, np.ndarray)]
    assert back._loss._cache is None and back._trainer.batch_x is None
    assert not any(np.any(np.abs(a) > 500) for a in arrays if np.issubdtype(np.asarray(a).dtype, np.floating))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_and_partial_fit_refuse_other_classes_or_widths_before_changing_anything():
    """They accepted them: an output trained as class 2 came to mean 7, or classes_ and the network disagreed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.arange(60) % 3
    warm = LayerwiseClassifier(hidden_layer_sizes=(8,), max_iter=3, warm_start=True, random_state=0).fit(X, y)
    W = warm.model_[0].params["W"].copy()
    for other in (np.where(y == 2, 7, y), y % 2):
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the exact same classes"):
            warm.fit(X, other)
    with pytest.raises(ValueError, match="X has 5 features, but LayerwiseClassifier is expecting 4"):
        warm.fit(np.hstack([X, X[:, :1]]), y)
    assert warm.classes_.tolist() == [0, 1, 2] and np.array_equal(warm.model_[0].params["W"], W)
    assert np.allclose(warm.predict_proba(X).sum(axis=1), 1)
    part = LayerwiseClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`classes=.*` is not the same as on last call to partial_fit"):
        part.partial_fit(X, y % 2, classes=[0, 1])
    part.partial_fit(X, y % 2, classes=[2, 1, 0])                  # the same classes in another order
    reg = LayerwiseRegressor(hidden_layer_sizes=(8,), max_iter=3, warm_start=True, random_state=0).fit(X, X[:, :2])
    for call in (lambda: reg.fit(X, X[:, 0]), lambda: reg.partial_fit(X, X[:, :3])):
        with pytest.raises(ValueError, match=r"y has \d target\(s\) per sample, but LayerwiseRegressor was fitted with 2"):
            call()


def test_a_fit_refused_for_one_class_leaves_no_classes_behind():
    """Its classes_ made the next partial_fit refuse the right classes as 'not the same as on last call'."""
    X = np.random.default_rng(0).normal(size=(40, 4))
    clf = LayerwiseClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="the data contains only one class: 0"):
        clf.fit(X, np.zeros(40, int))
    assert not hasattr(clf, "classes_")
    clf.partial_fit(X, np.arange(40) % 3, classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2] and clf.predict(X).shape == (40,)


def test_the_regressors_predictions_are_shaped_as_the_latest_y():
    """A warm fit on y of shape (n,) after one of (n, 1) kept predicting (n, 1)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    reg = LayerwiseRegressor(hidden_layer_sizes=(8,), max_iter=2, warm_start=True, random_state=0)
    shapes = []
    for call, y in ((reg.fit, X[:, :1]), (reg.fit, X[:, 0]), (reg.partial_fit, X[:, :1]), (reg.partial_fit, X[:, 0])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            call(X, y)
        shapes.append(reg.predict(X).shape)
    assert shapes == [(50, 1), (50,), (50, 1), (50,)]


def test_warm_start_and_partial_fit_refuse_hidden_layers_changed_since_the_network_was_built():
    """The new sizes were ignored: training went on with the old network while get_params reported the new."""
    X, y = load_iris(return_X_y=True)
    clf = LayerwiseClassifier(hidden_layer_sizes=(16,), warm_start=True, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        clf.set_params(hidden_layer_sizes=(32, 8))
        with pytest.raises(ValueError, match=r"warm_start=True goes on training the network of the last fit, whose "
                                             r"hidden layers were linear 16, relu; they are now linear 32, relu, "
                                             r"linear 8, relu\. Fit a new network with warm_start=False"):
            clf.fit(X, y)
        with pytest.raises(ValueError, match="partial_fit goes on training"):
            clf.partial_fit(X, y)
        clf.set_params(hidden_layer_sizes=(16,), activation="tanh")
        with pytest.raises(ValueError, match="they are now linear 16, tanh"):
            clf.fit(X, y)
        clf.set_params(activation="relu").fit(X, y)         # the same network again: it goes on
        clf.set_params(hidden_layer_sizes=(32, 8), warm_start=False).fit(X, y)
        assert [m.params["W"].shape for m in clf.model_ if m.params] == [(4, 32), (32, 8), (8, 3)]


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_multilabel_targets_are_refused_saying_so(method):
    """The message was scikit-learn's 'y should be a 1d array, got an array of shape (n, 2)'."""
    X = np.random.default_rng(0).normal(size=(20, 3))
    Y = np.column_stack([np.arange(20) % 2, np.arange(20) % 3 == 0]).astype(int)
    kwargs = {"classes": [0, 1]} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=r"takes one label per sample; y of shape \(20, 2\) holds several \(multilabel"):
        getattr(LayerwiseClassifier(), method)(X, Y, **kwargs)
