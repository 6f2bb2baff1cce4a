"""Why the update phase costs what it does: the SGD-momentum passes over the 784x256 weight, alone and
right after a matrix product on two BLAS threads read that weight.

    python scripts/bench_update.py [--rounds 5] [--steps 400]

The four passes of ``SGD.step`` (momentum 0.9, as bench_mlp.py): ``v *= mu``, ``v += g``, ``g = lr * v``,
``W -= g``, each timed on its own, in three settings interleaved round by round in one process:

(1) alone: nothing between two updates but restoring ``g``;
(2) after ``x @ W`` (the first layer's forward product, batch 128) on OpenBLAS's two threads, as in training;
(3) the same product on one BLAS thread (threadpoolctl).

A pass that writes memory the other core has just read (``W -= g`` after (2)) must first take those cache
lines back from it; (3) shows the same pass when only this core ever touched them. Figures are medians of
the per-step times over all rounds (microseconds). Run it alone on an idle machine.
"""

import argparse
import statistics
import time

import numpy as np
from _bench_common import blas_info
from threadpoolctl import threadpool_limits

PASSES = ("v *= mu", "v += g", "g = lr*v", "W -= g")


def one_setting(arrays, steps, product):
    """Per-pass seconds of ``steps`` updates, each after ``product()`` (or nothing)."""
    x, W, g, v, g0, out = arrays
    pc, times = time.perf_counter, [[] for _ in PASSES]
    for _ in range(steps):
        np.copyto(g, g0)            # a fresh gradient each step, as backward gives (keeps v from decaying)
        if product is not None:
            product(x, W, out)
        t0 = pc()
        v *= 0.9
        t1 = pc()
        v += g
        t2 = pc()
        np.multiply(v, 0.01, out=g)
        t3 = pc()
        W -= g
        t4 = pc()
        W += g                      # undo, so W stays the same array of the same values
        for k, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            times[k].append(b - a)
    return times


def forward_product(x, W, out):
    np.matmul(x, W, out=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=400, help="updates per setting per round")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    W = rng.standard_normal((784, 256), dtype=np.float32) * 0.05
    g0 = x.T @ (rng.standard_normal((128, 256), dtype=np.float32) * 1e-3)
    arrays = (x, W, np.empty_like(W), np.zeros_like(W), g0, np.empty((128, 256), np.float32))
    settings = {"(1) alone": (None, None), "(2) after x @ W, 2 BLAS threads": (forward_product, None),
                "(3) after x @ W, 1 BLAS thread": (forward_product, 1)}
    results = {name: [[] for _ in PASSES] for name in settings}
    print(blas_info())
    for r in range(args.rounds):
        names = list(settings)[r % 3:] + list(settings)[:r % 3]
        for name in names:
            product, threads = settings[name]
            time.sleep(0.1)
            with threadpool_limits(threads, "blas"):
                one_setting(arrays, 20, product)                  # warm-up
                for acc, new in zip(results[name], one_setting(arrays, args.steps, product)):
                    acc.extend(new)
    print(f"\nSGD-momentum passes over a 784x256 float32 weight, us per pass (median of {args.rounds} x "
          f"{args.steps} steps):")
    print(f"  {'setting':<34}" + "".join(f"{p:>10}" for p in PASSES) + f"{'sum':>9}")
    for name, times in results.items():
        med = [statistics.median(t) * 1e6 for t in times]
        print(f"  {name:<34}" + "".join(f"{m:10.1f}" for m in med) + f"{sum(med):9.1f}")


if __name__ == "__main__":
    main()
