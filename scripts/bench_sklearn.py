"""Fit and predict time of LayerwiseClassifier against MLPClassifier with the same architecture.

    python scripts/bench_sklearn.py [--only fit|predict] [--repeats 3] [--n 20000] [--epochs 5]

Two data sets: scikit-learn's digits (1797 x 64, hidden (256, 128), 30 epochs) and an MNIST-shaped
synthetic set (n x 784, 10 classes, hidden (256, 128)). Both estimators use adam, batch 128,
learning_rate_init 1e-3, alpha 1e-4, tol 0 (no early stop): the same number of updates. Fits are
interleaved; figures are medians.

Both estimators compute in the dtype of X (LayerwiseClassifier follows MLPClassifier there, so that
the same random_state trains the same network): float64 for the usual float64 arrays
(``load_digits``, ``fetch_openml``, ``X / 255.0``), float32 when given float32. The MNIST-shaped set
is therefore timed twice, with the same values passed as float64 and as float32.

Predict: both estimators fitted for one epoch on 2000 MNIST-shaped rows, then ``predict`` on 10,000
rows (X float64 and float32), interleaved, median of ``--repeats``. ``row at a time`` is the forward
pass LayerwiseClassifier.predict made before it ran in fixed chunks: one forward per sample.
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from layerwise.sklearn import LayerwiseClassifier


def common(epochs):
    return dict(hidden_layer_sizes=(256, 128), solver="adam", batch_size=128, learning_rate_init=1e-3,
                alpha=1e-4, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0)


def bench(name, X, y, epochs, repeats):
    times = {"layerwise": [], "scikit-learn": []}
    scores = {}
    for _ in range(repeats):
        for label, make in (("layerwise", LayerwiseClassifier), ("scikit-learn", MLPClassifier)):
            est = make(**common(epochs))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                est.fit(X, y)
                times[label].append(time.perf_counter() - t0)
            scores[label] = est.score(X, y)
    lw_t, sk_t = (statistics.median(times[k]) for k in ("layerwise", "scikit-learn"))
    print(f"{name}: {X.shape[0]} x {X.shape[1]}, {epochs} epochs, median of {repeats}: layerwise {lw_t:.2f} s, "
          f"MLPClassifier {sk_t:.2f} s, layerwise {sk_t / lw_t:.1f}x faster "
          f"(train accuracy {scores['layerwise']:.3f} vs {scores['scikit-learn']:.3f})")


def mnist_shaped(n, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(10, 784))
    y = rng.integers(0, 10, n)
    return centers[y] + 2.0 * rng.normal(size=(n, 784)), y


def bench_predict(name, X_fit, y_fit, X, repeats):
    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for label, make in (("layerwise", LayerwiseClassifier), ("scikit-learn", MLPClassifier)):
            fitted[label] = make(**common(1)).fit(X_fit, y_fit)
    lw = fitted["layerwise"]

    def row_at_a_time():
        Xc = np.ascontiguousarray(X, dtype=np.float32)
        out = np.concatenate([lw.model_.eval().forward(Xc[i:i + 1]) for i in range(len(Xc))])
        return lw.classes_[out.argmax(axis=1)]

    variants = {"LayerwiseClassifier.predict": lambda: lw.predict(X), "row at a time (before)": row_at_a_time,
                "MLPClassifier.predict": lambda: fitted["scikit-learn"].predict(X)}
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for label, run in variants.items():
            t0 = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"predict, {name}: {X.shape[0]} x {X.shape[1]}, hidden (256, 128), median of {repeats}: "
          + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in med.items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("fit", "predict"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args(argv)
    if args.only != "predict":
        X, y = load_digits(return_X_y=True)
        bench("digits, X float64", X / 16.0, y, 30, args.repeats)
        X, y = mnist_shaped(args.n)
        bench("MNIST-shaped synthetic, X float64", X, y, args.epochs, args.repeats)
        bench("MNIST-shaped synthetic, X float32", X.astype(np.float32), y, args.epochs, args.repeats)
    if args.only != "fit":
        X, y = mnist_shaped(12000)
        for dtype in (np.float64, np.float32):
            X_d = X.astype(dtype)
            bench_predict(f"X {np.dtype(dtype).name}", X_d[:2000], y[:2000], X_d[2000:], args.repeats)


if __name__ == "__main__":
    main()
