"""5-fold cross-validation of LayerwiseClassifier against MLPClassifier, both with default parameters.

    OPENBLAS_NUM_THREADS=1 python scripts/parity_sklearn.py [--random-state 0] [--folds 5] [--dtype float32]

Eight cases: iris, digits, wine and breast cancer, raw and standardized (``StandardScaler`` in a
Pipeline). Both estimators get the same ``random_state``; ``cross_validate`` uses the same
unshuffled stratified folds for both. Columns: mean test accuracy over the folds, their difference
(layerwise minus scikit-learn), the mean number of epochs, and the fit seconds summed over the folds.

With float64 data, LayerwiseClassifier trains the network MLPClassifier trains (same draws, updates,
loss and stopping epoch), so the differences are 0 to rounding. ``--dtype float32`` shows the faster
float32 computation, which rounds differently: where training is chaotic (raw wine, whose proline
column is around 1000), that can move a fold's stopping epoch.
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from layerwise.sklearn import LayerwiseClassifier

DATASETS = {"iris": load_iris, "digits": load_digits, "wine": load_wine, "breast_cancer": load_breast_cancer}


def evaluate(estimator, X, y, folds):
    """Mean test accuracy, mean epochs and summed fit seconds of a ``folds``-fold cross-validation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = cross_validate(estimator, X, y, cv=folds, return_estimator=True)
    epochs = [(est[-1] if hasattr(est, "steps") else est).n_iter_ for est in out["estimator"]]
    return out["test_score"].mean(), float(np.mean(epochs)), out["fit_time"].sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="LayerwiseClassifier's dtype (default: X's, as MLPClassifier)")
    args = parser.parse_args(argv)
    print(f"{args.folds}-fold CV, default parameters, random_state={args.random_state}, "
          f"LayerwiseClassifier dtype={args.dtype or 'as X'}\n")
    print("| dataset | MLPClassifier | LayerwiseClassifier | difference | epochs (sk / lw) | fit s (sk / lw) |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        for scaled in (False, True):
            row = []
            for est in (MLPClassifier(random_state=args.random_state),
                        LayerwiseClassifier(random_state=args.random_state, dtype=args.dtype)):
                row.append(evaluate(make_pipeline(StandardScaler(), est) if scaled else est, X, y, args.folds))
            (sk_acc, sk_ep, sk_s), (lw_acc, lw_ep, lw_s) = row
            worst = max(worst, abs(lw_acc - sk_acc))
            label = f"{name}, {'standardized' if scaled else 'raw'}"
            print(f"| {label} | {sk_acc:.3f} | {lw_acc:.3f} | {lw_acc - sk_acc:+.3f} | {sk_ep:.0f} / {lw_ep:.0f} "
                  f"| {sk_s:.2f} / {lw_s:.2f} |")
    print(f"\nlargest difference: {worst:.4f}")


if __name__ == "__main__":
    main()
