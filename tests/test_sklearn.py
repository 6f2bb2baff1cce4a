"""LayerwiseClassifier / LayerwiseRegressor as scikit-learn estimators."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from layerwise.sklearn import LayerwiseClassifier, LayerwiseRegressor


@parametrize_with_checks([LayerwiseClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0),
                          LayerwiseRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                                             random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    import warnings
    from sklearn.exceptions import ConvergenceWarning
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


def test_a_prediction_does_not_depend_on_the_other_samples():
    X_tr, X_te, y_tr, _ = digits()
    clf = LayerwiseClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(X_tr, y_tr)
    full = clf.predict_proba(X_te)
    for i in (0, 7, 300):
        assert np.array_equal(clf.predict_proba(X_te[i:i + 1]), full[i:i + 1])
    assert np.array_equal(clf.predict_proba(X_te[::-1]), full[::-1])


def test_partial_fit_and_warm_start_continue_training():
    X_tr, X_te, y_tr, y_te = digits()
    clf = LayerwiseClassifier(hidden_layer_sizes=(32,), random_state=0, learning_rate_init=0.01)
    for _ in range(5):
        clf.partial_fit(X_tr, y_tr, classes=np.arange(10))
    assert clf.n_iter_ == 5 and clf.score(X_te, y_te) > 0.85
    warm = LayerwiseClassifier(hidden_layer_sizes=(32,), max_iter=2, warm_start=True, random_state=0).fit(X_tr, y_tr)
    warm.fit(X_tr, y_tr)
    assert warm.n_iter_ == 4


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
