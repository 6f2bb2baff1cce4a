"""Why the update phase costs what it does: the SGD-momentum passes over the 784x256 weight, alone and
right after a matrix product on two BLAS threads read that weight.

    python scripts/bench_update.py [--rounds 5] [--steps 400]

The four passes of ``SGD.step`` (momentum 0.9, as bench_mlp.py): ``v *= mu``, ``v += g``, ``g = lr * v``,
``W -= g``, each timed on its own, in three settings interleaved round by round in one process:

(1) alone: nothing between two updates but restoring ``g``;
(2) after ``x @ W`` (the first layer's forward product, batch 128) on OpenBLAS's two threads, as in training;
(3) the same product on one BLAS thread (threadpoolctl).

A pass that writes memory the other core has just read (``W -= g`` after (2)) must first take those cache
lines back from it; (3) shows the same pass when only this core ever touched them.

Then what layerwise does about it: each optimizer's ``step`` on the same weight, right after the forward
product and the dL/dW product that writes its gradient (both on two BLAS threads, as in training), with
``y += a x`` and ``y = a x + b y`` on NumPy's own BLAS (layerwise._blas: one pass, and axpy on both
threads) and with every pass in NumPy (``layerwise._blas.numpy_only()``), interleaved. Last, ``y += a x``
alone on float32 vectors around ``layerwise._blas.MIN_BYTES``, BLAS against NumPy's two passes: where the
ctypes call starts to pay. Figures are medians of the per-step times over all rounds (microseconds). Run
it alone on an idle machine.
"""

import argparse
import contextlib
import statistics
import time

import numpy as np
from _bench_common import blas_info, step_only_sgd
from threadpoolctl import threadpool_limits

import layerwise as lw
from layerwise import _blas

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


OPTIMIZERS = {"SGD, momentum 0.9": lambda: lw.SGD(0.01, momentum=0.9),
              "SGD, momentum 0.9, by step": lambda: step_only_sgd(0.01, momentum=0.9),
              "SGD, Nesterov 0.9": lambda: lw.SGD(0.01, momentum=0.9, nesterov=True),
              "SGD, Nesterov 0.9, by step": lambda: step_only_sgd(0.01, momentum=0.9, nesterov=True),
              "SGD, momentum 0.9, weight decay": lambda: lw.SGD(0.01, momentum=0.9, weight_decay=1e-4),
              "SGD": lambda: lw.SGD(0.01), "Adam": lambda: lw.Adam(), "AdamW": lambda: lw.AdamW(),
              "RMSprop": lambda: lw.RMSprop(), "Adagrad": lambda: lw.Adagrad()}


class _Weight(lw.Module):
    def __init__(self, W):
        super().__init__()
        self.register_param("W", W)


def optimizer_steps(x, dy, W, out, make, steps):
    """Seconds of each ``update()`` of a module holding ``W``, after ``x @ W`` and ``g = x.T @ dy``."""
    module = _Weight(W.copy()).set_optimizer(make())
    p, times = module.params["W"], []
    for _ in range(steps):
        np.matmul(x, p, out=out)
        np.matmul(x.T, dy, out=module.grads["W"])
        t0 = time.perf_counter()
        module.update()
        times.append(time.perf_counter() - t0)
    return times


def axpy_sizes(rounds, calls=2000):
    """{elements: (BLAS us, NumPy us)} for ``y += a x`` on float32 vectors around MIN_BYTES."""
    big = np.ones(1 << 20, np.float32)
    fns = _blas._blas_for(big, big)         # the BLAS functions, taken for any size below
    if fns is None:
        return None
    sizes = (4096, 8192, _blas.MIN_BYTES // 4, 32768, 200704)
    result = {n: ([], []) for n in sizes}
    for _ in range(rounds):
        for n in sizes:
            x, y, tmp = np.ones(n, np.float32), np.ones(n, np.float32), np.empty(n, np.float32)
            # the BLAS call as layerwise._blas.axpy makes it (data addresses included), forced below MIN_BYTES
            for k, run in enumerate((lambda: fns[0](n, 1e-3, _blas._address(x), 1, _blas._address(y), 1),
                                     lambda: (np.multiply(x, 1e-3, out=tmp), np.add(y, tmp, out=y)))):
                t0 = time.perf_counter()
                for _ in range(calls):
                    run()
                result[n][k].append((time.perf_counter() - t0) / calls)
    return result


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

    x, W, out = arrays[0], arrays[1], arrays[5]
    dy = rng.standard_normal((128, 256), dtype=np.float32) * 1e-3
    steps = {(name, path): [] for name in OPTIMIZERS for path in ("blas", "numpy")}
    for r in range(args.rounds):
        for name, make in OPTIMIZERS.items():
            for path in (("blas", "numpy") if r % 2 else ("numpy", "blas")):
                time.sleep(0.05)
                with _blas.numpy_only() if path == "numpy" else contextlib.nullcontext():
                    steps[name, path].extend(optimizer_steps(x, dy, W, out, make, args.steps // 4))
    found = _blas._blas_for(W, W) is not None
    print(f"\nOne update() of the 784x256 weight after its forward and dL/dW products (2 BLAS threads), us "
          f"(median of {args.rounds} x {args.steps // 4} steps):" + ("" if found else
                                                                     "\n  (NumPy's BLAS is not its bundled "
                                                                     "OpenBLAS: both columns take NumPy's path)"))
    print(f"  {'optimizer':<34}{'BLAS axpy':>12}{'NumPy only':>12}{'ratio':>8}")
    for name in OPTIMIZERS:
        a, b = (statistics.median(steps[name, p]) * 1e6 for p in ("blas", "numpy"))
        print(f"  {name:<34}{a:12.1f}{b:12.1f}{a / b:8.2f}")

    sizes = axpy_sizes(args.rounds)
    if sizes:
        print(f"\ny += a x on float32 vectors, us per call (median of {args.rounds} x 2000 calls); BLAS from "
              f"{_blas.MIN_BYTES // 4} elements (MIN_BYTES = {_blas.MIN_BYTES}):")
        print(f"  {'elements':>10}{'BLAS axpy':>12}{'NumPy x2':>12}")
        for n, (a, b) in sizes.items():
            print(f"  {n:>10}{statistics.median(a) * 1e6:12.2f}{statistics.median(b) * 1e6:12.2f}")




if __name__ == "__main__":
    main()
