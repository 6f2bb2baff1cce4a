"""Seconds per epoch of a 784-256-128-10 ReLU MLP through layerwise's explicit loop, next to the floor.

    python scripts/bench_mlp.py [--n 60000] [--epochs 1] [--repeats 5]

The floor is an epoch of only the matrix products a training step needs (3 forward x @ W, 3 weight
gradients x.T @ g, 2 input gradients g @ W.T: the first layer's input is data and needs none).
"in products" = floor / epoch time: the share of the epoch spent in BLAS. A plain hand-written NumPy
MLP is timed too, for reference. Variants are interleaved and each figure is the median of the repeats.
"""

import argparse
import statistics
import time

import numpy as np

import layerwise as lw

SIZES = (784, 256, 128, 10)


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.float32), rng.integers(0, 10, n)


def make_model():
    """The benchmark MLP with SGD momentum 0.9; its input is data, so no dL/dx for the first layer."""
    rng = np.random.default_rng(0)
    model = lw.Sequential(lw.Linear(784, 256, init="he_uniform", rng=rng), lw.ReLU(),
                          lw.Linear(256, 128, init="he_uniform", rng=rng), lw.ReLU(), lw.Linear(128, 10, rng=rng))
    model.set_optimizer(lw.SGD(lr=0.01, momentum=0.9))
    model.requires_input_grad = False
    return model


def layerwise_epoch(X, y, batch, state):
    if "model" not in state:
        state.update(model=make_model(), loss=lw.CrossEntropyLoss(), rng=np.random.default_rng(1),
                     buf=np.empty((batch, X.shape[1]), np.float32))
    model, loss, buf = state["model"], state["loss"], state["buf"]
    order = state["rng"].permutation(len(X))
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        xb = np.take(X, idx, axis=0, out=buf) if len(idx) == batch else X[idx]
        loss.forward(model.forward(xb), y[idx])
        model.backward(loss.backward())
        model.update()


def floor_epoch(X, y, batch, state):
    if "W" not in state:
        rng = np.random.default_rng(0)
        state["W"] = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(SIZES, SIZES[1:])]
    W = state["W"]
    for start in range(0, len(X), batch):
        h = [X[start:start + batch]]
        for w in W:
            h.append(h[-1] @ w)
        g = h[-1]
        for i in range(len(W) - 1, -1, -1):
            h[i].T @ g
            if i:
                g = g @ W[i].T


def numpy_epoch(X, y, batch, state):
    if "W" not in state:
        rng = np.random.default_rng(0)
        state["W"] = [rng.standard_normal((a, b), dtype=np.float32) * np.float32(np.sqrt(2 / a))
                      for a, b in zip(SIZES, SIZES[1:])]
        state["b"] = [np.zeros(b, np.float32) for b in SIZES[1:]]
        state["v"] = [np.zeros_like(w) for w in state["W"] + state["b"]]
        state["rng"] = np.random.default_rng(1)
    W, b, v = state["W"], state["b"], state["v"]
    order = state["rng"].permutation(len(X))
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        x, t = X[idx], y[idx]
        h1 = np.maximum(x @ W[0] + b[0], 0)
        h2 = np.maximum(h1 @ W[1] + b[1], 0)
        z = h2 @ W[2] + b[2]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(t)), t] -= 1
        g = p / len(t)
        grads = [None] * 6
        grads[2], grads[5] = h2.T @ g, g.sum(0)
        g = (g @ W[2].T) * (h2 > 0)
        grads[1], grads[4] = h1.T @ g, g.sum(0)
        g = (g @ W[1].T) * (h1 > 0)
        grads[0], grads[3] = x.T @ g, g.sum(0)
        for k, (param, grad) in enumerate(zip(W + b, grads)):
            v[k] = 0.9 * v[k] + grad
            param -= 0.01 * v[k]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i['internal_api']} {i['version']} {i['num_threads']} threads" for i in threadpool_info())
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"numpy {np.__version__}, BLAS: {blas}")
    X, y = make_data(args.n)
    variants = {"layerwise": layerwise_epoch, "matmul floor": floor_epoch, "plain numpy": numpy_epoch}
    states = {k: {} for k in variants}
    for name, fn in variants.items():  # warm-up: allocations, BLAS thread start
        fn(X[:args.batch * 4], y[:args.batch * 4], args.batch, states[name])
    times = {k: [] for k in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(args.epochs):
                fn(X, y, args.batch, states[name])
            times[name].append((time.perf_counter() - t0) / args.epochs)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["matmul floor"]
    print(f"{args.n} samples, batch {args.batch}, median of {args.repeats} runs, seconds per epoch:")
    for name in variants:
        share = f"  in products {floor / med[name]:6.1%}" if name != "matmul floor" else ""
        spread = f"(min {min(times[name]):.3f}, max {max(times[name]):.3f})"
        print(f"  {name:<13} {med[name]:.3f} s {spread}{share}")


if __name__ == "__main__":
    main()
