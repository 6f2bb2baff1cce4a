"""Train an MLP on scikit-learn's bundled 8x8 digits with layerwise's explicit loop.

    python scripts/train_digits.py [--epochs 30] [--seed 0]

Every step is visible: forward, loss, backward, update. Prints per-epoch loss and accuracy.
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import layerwise as lw


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=args.seed)

    rng = np.random.default_rng(args.seed)
    model = lw.Sequential(lw.Linear(64, 128, init="he_uniform", rng=rng), lw.ReLU(),
                          lw.Linear(128, 10, rng=rng))
    model.set_optimizer(lw.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4))
    loss = lw.CrossEntropyLoss()

    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(len(X_tr))
        total = 0.0
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            logits = model.forward(X_tr[idx])
            total += loss.forward(logits, y_tr[idx]) * len(idx)
            model.backward(loss.backward(), input_grad=False)   # the input is data: no dL/dx
            model.update()
        model.eval()
        train_acc = np.mean(model.forward(X_tr).argmax(1) == y_tr)
        test_acc = np.mean(model.forward(X_te).argmax(1) == y_te)
        print(f"epoch {epoch:3d}  loss {total / len(X_tr):.4f}  train acc {train_acc:.4f}  test acc {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
