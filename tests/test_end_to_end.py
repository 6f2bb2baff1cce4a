"""The explicit loop (forward, loss, backward, update) learns scikit-learn's digits."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import layerwise as lw


def test_mlp_with_the_explicit_loop_reaches_96_percent_on_digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    rng = np.random.default_rng(0)
    model = lw.Sequential(lw.Linear(64, 128, init="he_uniform", rng=rng), lw.ReLU(),
                          lw.Linear(128, 10, rng=rng))
    model.set_optimizer(lw.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4))
    loss = lw.CrossEntropyLoss()
    for _ in range(20):
        order = rng.permutation(len(X_tr))
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            loss.forward(model.forward(X_tr[idx]), y_tr[idx])
            model.backward(loss.backward())
            model.update()
    model.eval()
    accuracy = np.mean(model.forward(X_te).argmax(axis=1) == y_te)
    assert model.params == {} and model[0].params["W"].dtype == np.float32
    assert accuracy >= 0.96
