"""What recording per-layer statistics costs: epoch time with and without ``LayerStats``, side by side.

    python scripts/bench_layer_stats.py [--repeats 5] [--samples 20000]

Three models, each trained by ``Trainer.fit`` one epoch at a time: without statistics, with the
default recording (the first batch and the last full batch of each epoch), and with ``every`` 50 and
10 updates. The variants take turns epoch by epoch, in an order rotated every round (interleaved, so a
busy machine slows them alike),
each epoch timed around ``fit`` (all callback events included). The table gives the median epoch time
of each, and its cost: the median over rounds of its epoch time over the same round's epoch without
statistics, minus 1. On a busy machine that ratio is noisy by several percent, so each model also gets
the cost of one recorded step against a plain one (alternating, medians), and what it adds to an epoch.

- ``mlp``: 784-256-128-10 ReLU on MNIST-shaped random data, batch 128;
- ``sigmoid``: configs/glorot_bengio.yaml's 784-(256 sigmoid)x5-10, batch 10 (many small steps);
- ``digits``: configs/digits_mlp.yaml's model on the 8x8 digits, batch 32.
"""

import argparse
import statistics
import time

import numpy as np

import layerwise as lw
from layerwise.analysis.stats import LayerStats

VARIANTS = {"off": None, "per epoch": {}, "every 50": {"every": 50}, "every 10": {"every": 10}}


def mlp(rng):
    return lw.Sequential(lw.Flatten(), lw.Linear(784, 256, init="he_uniform", rng=rng), lw.ReLU(),
                         lw.Linear(256, 128, init="he_uniform", rng=rng), lw.ReLU(), lw.Linear(128, 10, rng=rng))


def sigmoid(rng):
    layers, n = [lw.Flatten()], 784
    for _ in range(5):
        layers += [lw.Linear(n, 256, init="standard", rng=rng), lw.Sigmoid()]
        n = 256
    return lw.Sequential(*layers, lw.Linear(n, 10, init="standard", rng=rng))


def digits(rng):
    return lw.Sequential(lw.Flatten(), lw.Linear(64, 256, init="he_uniform", rng=rng), lw.ReLU(), lw.Dropout(0.2, rng=rng),
                         lw.Linear(256, 128, init="he_uniform", rng=rng), lw.ReLU(), lw.Linear(128, 10, rng=rng))


def data(name, samples):
    if name == "digits":
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        return (X / 16).astype(np.float32).reshape(-1, 1, 8, 8), y
    rng = np.random.default_rng(0)
    n = samples if name == "mlp" else samples // 4
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def step_cost(make, X, y, batch, n=200):
    """Median seconds of a plain training step and of a recorded one, alternating step by step."""
    model = make(np.random.default_rng(0))
    model.set_optimizer(lw.SGD(lr=0.01, momentum=0.9))
    loss, stats = lw.CrossEntropyLoss(), LayerStats()
    xb, yb = X[:batch], y[:batch]

    def step():
        loss.forward(model.forward(xb), yb)
        model.backward(loss.backward(), input_grad=False)
        model.update()

    plain, recorded = [], []
    for k in range(2 * n + 20):
        start = time.perf_counter()
        if k % 2:
            with stats.record(model, k):
                step()
        else:
            step()
        if k >= 20:
            (recorded if k % 2 else plain).append(time.perf_counter() - start)
    return statistics.median(plain), statistics.median(recorded)


def bench(name, make, batch, repeats, samples):
    X, y = data(name, samples)
    trainers = {}
    for variant, kwargs in VARIANTS.items():
        model = make(np.random.default_rng(0))
        model.set_optimizer(lw.SGD(lr=0.01, momentum=0.9))
        callbacks = [] if kwargs is None else [LayerStats(**kwargs)]
        trainers[variant] = lw.Trainer(model, epochs=0, batch_size=batch, progress="off", callbacks=callbacks)
    seconds = {v: [] for v in VARIANTS}
    names = list(trainers)
    for r in range(repeats + 1):            # the first round warms up and is not counted
        for variant in names[r % len(names):] + names[:r % len(names)]:   # each variant takes each place
            t = trainers[variant]
            t.epochs += 1
            start = time.perf_counter()
            t.fit(X, y)
            if r:
                seconds[variant].append(time.perf_counter() - start)
    steps = -(-len(X) // batch)
    print(f"\n{name}: {len(X)} samples, batch {batch} ({steps} steps an epoch), median of {repeats} epochs")
    print(f"  {'statistics':<10}  {'epoch s':>8}  {'cost':>7}  recorded batches")
    for variant, values in seconds.items():
        cost = statistics.median(v / b for v, b in zip(values, seconds["off"])) - 1
        every = (VARIANTS[variant] or {}).get("every")
        recorded = "-" if VARIANTS[variant] is None else str(2 + (steps // every if every else 0))
        print(f"  {variant:<10}  {statistics.median(values):8.3f}  {cost:+7.1%}  {recorded}")
    plain, recorded = step_cost(make, X, y, batch)
    extra = recorded - plain
    print(f"  one step {plain * 1e3:.3f} ms, a recorded step {recorded * 1e3:.3f} ms (median of 200 each, "
          f"alternating): the default recording adds 2 x {extra * 1e3:.3f} ms to an epoch of {steps} steps, "
          f"{2 * extra / (steps * plain):.1%}; every 10 adds {(2 + steps // 10) * extra / (steps * plain):.1%}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--samples", type=int, default=20000)
    args = p.parse_args()
    bench("mlp", mlp, 128, args.repeats, args.samples)
    bench("sigmoid", sigmoid, 10, args.repeats, args.samples)
    bench("digits", digits, 32, args.repeats, args.samples)


if __name__ == "__main__":
    main()
