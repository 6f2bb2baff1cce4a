"""Seconds per epoch of a 784-256-128-10 ReLU MLP through layerwise's explicit loop, next to the floor.

    python scripts/bench_mlp.py [--n 60000] [--batch 128] [--epochs 1] [--repeats 5]

Data: ``n`` x 784 random float32 inputs and random int labels (seeded). Three variants, each timed for
``epochs`` epochs per run, run in turn ``repeats`` times in one process (the order rotates each round),
each figure the median of its runs:

- layerwise: the explicit loop (seeded shuffle, batch gathered into a kept buffer, ``model.forward``,
  ``CrossEntropyLoss.forward/backward``, ``model.backward``, ``model.update()``), SGD momentum 0.9;
  ``model.requires_input_grad = False`` since the input is data, so the first layer skips its dL/dx.
- matmul floor: only the matrix products a training step needs, same shapes, batch count and dtype:
  3 forward ``x @ W``, 3 weight gradients ``x.T @ g``, 2 input gradients ``g @ W.T``.
- plain numpy: a hand-written MLP the straightforward way (fancy-indexed batch, ``np.maximum(x @ W + b, 0)``,
  softmax cross-entropy, gradients in fresh arrays, ``v = 0.9 v + g; W -= lr * v``), for reference.

"in products" = floor time / epoch time: the share of an epoch spent in the matrix products.
Run one benchmark at a time: two at once share the cores and both figures are wrong.
"""

import argparse
import os
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
                     buf=np.empty((batch, X.shape[1]), X.dtype))
    model, loss, buf = state["model"], state["loss"], state["buf"]
    order = state["rng"].permutation(len(X))
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        # mode="clip": the indices are valid, and take() with out= copies through a buffer under "raise"
        xb = np.take(X, idx, axis=0, out=buf, mode="clip") if len(idx) == batch else X[idx]
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
        n = len(t)
        h1 = np.maximum(x @ W[0] + b[0], 0)
        h2 = np.maximum(h1 @ W[1] + b[1], 0)
        z = h2 @ W[2] + b[2]
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        s = p.sum(1, keepdims=True)
        state["loss"] = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), t]))
        p /= s
        p[np.arange(n), t] -= 1
        g = p / n
        grads = [None] * 6
        grads[2], grads[5] = h2.T @ g, g.sum(0)
        g = (g @ W[2].T) * (h2 > 0)
        grads[1], grads[4] = h1.T @ g, g.sum(0)
        g = (g @ W[1].T) * (h1 > 0)
        grads[0], grads[3] = x.T @ g, g.sum(0)
        for k, (param, grad) in enumerate(zip(W + b, grads)):
            v[k] = 0.9 * v[k] + grad
            param -= 0.01 * v[k]


def blas_info():
    """One line: numpy version, BLAS library and its thread count, CPUs."""
    cpus = os.cpu_count()
    try:
        from threadpoolctl import threadpool_info
        pools = [f"{i['internal_api']} {i['version']} ({i.get('threading_layer', '?')}), "
                 f"{i['num_threads']} threads" for i in threadpool_info() if i["user_api"] == "blas"]
        blas = "; ".join(pools) or "no BLAS found by threadpoolctl"
    except ImportError:
        try:
            cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            blas = f"{cfg.get('name')} {cfg.get('version')}"
        except (TypeError, KeyError):  # numpy < 1.26 has no mode="dicts"
            blas = "unknown"
        env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
        blas += f" (threads: {env or 'default'}; pip install threadpoolctl for the count)"
    return f"numpy {np.__version__}, BLAS: {blas}, {cpus} CPUs"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60000, help="samples (default 60000)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1, help="epochs per timed run (default 1)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each variant (default 5)")
    args = ap.parse_args(argv)
    if args.n < args.batch or args.epochs < 1 or args.repeats < 1:
        ap.error("need --n >= --batch, --epochs >= 1 and --repeats >= 1")
    print(blas_info())
    X, y = make_data(args.n)
    variants = {"layerwise": layerwise_epoch, "matmul floor": floor_epoch, "plain numpy": numpy_epoch}
    names = list(variants)
    states = {k: {} for k in variants}
    for name, fn in variants.items():  # warm-up: buffers, optimizer state, BLAS threads
        fn(X[:args.batch * 4], y[:args.batch * 4], args.batch, states[name])
    times = {k: [] for k in variants}
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            for _ in range(args.epochs):
                variants[name](X, y, args.batch, states[name])
            times[name].append((time.perf_counter() - t0) / args.epochs)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["matmul floor"]
    print(f"{args.n} samples x 784, batch {args.batch}, float32; seconds per epoch, "
          f"median of {args.repeats} runs of {args.epochs} epoch(s):")
    for name in variants:
        share = f"  in products {floor / med[name]:6.1%}" if name != "matmul floor" else ""
        spread = f"(min {min(times[name]):.3f}, max {max(times[name]):.3f})"
        print(f"  {name:<13} {med[name]:.3f} s {spread}{share}")


if __name__ == "__main__":
    main()
