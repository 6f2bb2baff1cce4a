"""LayerwiseClassifier / LayerwiseRegressor as scikit-learn estimators."""

import numpy as np
import pytest
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
