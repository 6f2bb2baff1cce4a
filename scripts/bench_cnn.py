"""A small CNN on 28x28 images: layerwise's Trainer.fit next to PyTorch, and where the time goes, layer by layer.

    python scripts/bench_cnn.py [--rounds 5] [--samples 10000] [--quick]

Network: conv(1->32, 3x3, pad 1) - ReLU - maxpool 2 - conv(32->64, 3x3, pad 1) - ReLU - maxpool 2 - flatten -
linear(3136->128) - ReLU - linear(128->10); batch 64; SGD lr 0.01 momentum 0.9; cross-entropy. Data: ``samples``
x 1 x 28 x 28 uniform float32 and int64 labels 0..9 (seeded). Figures are seconds per 10,000 training images.

All variants run in one process: each round runs one pass over the data with each, in an order that rotates
every round, after a 0.25 s pause (so the thread pool of the variant before has gone idle). Figures are medians
over rounds; the ratio to PyTorch is taken within each round, then the median over rounds.

(a)  ``Trainer(model, "cross_entropy", epochs=1, batch_size=64, progress="off", seed=0).fit(X, y)``, what
     ``layerwise train`` runs (no validation set).
(b)  (a) with a no-op forward hook on each ReLU: Sequential then runs every ReLU before its max pooling, as
     written, instead of the pool first (what that reordering gains; two hook calls a step cost next to nothing).
(c)  PyTorch, ``torch.set_num_threads(2)``, the same network, the idiomatic loop (zero_grad, backward, step).
(d)  The 11 matrix products of each step alone, same shapes, NumPy: 4 forward, 4 dL/dW, 3 dL/dx (the first
     convolution's input is data: no dL/dx). The floor any im2col design stands on.
(a') (a) instrumented: every layer's forward and backward are timed by replacing the bound methods on the
     instances (Sequential calls them through the instance); the loss's forward and backward, and the model's
     update, likewise. During the pass the ``np`` of layerwise.modules.conv and layerwise.modules.linear is a
     copy of numpy whose ``matmul`` is timed, so each product is booked to the layer it runs in. Shares are
     taken within each pass, then the median over passes. (a') against (a) is the instrumentation's cost.

Run one benchmark at a time: two at once share the cores and both are wrong.
"""

import argparse
import math
import resource
import statistics
import time

import numpy as np
from _bench_common import Clock, blas_info, numpy_with_timed_matmul, ratio_text, torch_or_skip

import layerwise as lw
import layerwise.modules.conv as lw_conv
import layerwise.modules.linear as lw_linear

BATCH, LR, MOMENTUM, PER = 64, 0.01, 0.9, 10_000
PAUSE = 0.25  # seconds before each timed pass: idle BLAS/OpenMP threads of the previous variant stop spinning
TIMED_MODULES = (lw_conv, lw_linear)
# (rows, inner, cols) of every product of one training step (batch 64): forward, dL/dW, dL/dx
PRODUCTS = [(64 * 784, 9, 32), (64 * 196, 288, 64), (64, 3136, 128), (64, 128, 10),      # forward
            (9, 64 * 784, 32), (288, 64 * 196, 64), (3136, 64, 128), (128, 64, 10),      # dL/dW
            (64 * 196, 64, 288), (64, 128, 3136), (64, 10, 128)]                          # dL/dx (not conv1's)


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def make_model(seed=0):
    rng = np.random.default_rng(seed)
    model = lw.Sequential(
        lw.Conv2d(1, 32, 3, padding=1, init="he_uniform", rng=rng), lw.ReLU(), lw.MaxPool2d(2),
        lw.Conv2d(32, 64, 3, padding=1, init="he_uniform", rng=rng), lw.ReLU(), lw.MaxPool2d(2), lw.Flatten(),
        lw.Linear(3136, 128, init="he_uniform", rng=rng), lw.ReLU(), lw.Linear(128, 10, rng=rng))
    return model.set_optimizer(lw.SGD(LR, momentum=MOMENTUM))


# -- the variants: fn(X, y, state) runs one pass over X; state starts as {} ---------------------------
def trainer_pass(X, y, state):
    """(a)"""
    model = state["model"] if "model" in state else state.setdefault("model", make_model())
    lw.Trainer(model, "cross_entropy", epochs=1, batch_size=BATCH, progress="off", seed=0).fit(X, y)


def written_order_pass(X, y, state):
    """(b)"""
    if "model" not in state:
        state["model"] = make_model()
        for m in state["model"]:
            if isinstance(m, lw.ReLU):   # a hook keeps Sequential from running the pool first
                m.register_forward_hook(lambda module, x, y: None)
    lw.Trainer(state["model"], "cross_entropy", epochs=1, batch_size=BATCH, progress="off", seed=0).fit(X, y)


def torch_pass(X, y, state):
    """(c)"""
    import torch
    from torch import nn
    if "net" not in state:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
        state.update(net=net, loss=nn.CrossEntropyLoss(), rng=np.random.default_rng(0),
                     opt=torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM))
    net, loss_fn, opt = state["net"], state["loss"], state["opt"]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    order = torch.from_numpy(state["rng"].permutation(len(X)))
    net.train()
    for start in range(0, len(X), BATCH):
        idx = order[start:start + BATCH]
        opt.zero_grad()
        loss_fn(net(Xt[idx]), yt[idx]).backward()
        opt.step()


def products_pass(X, y, state):
    """(d) the products of each step alone, into kept buffers."""
    if "pairs" not in state:
        rng = np.random.default_rng(0)
        state["pairs"] = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32),
                           np.empty((m, n), np.float32)) for m, k, n in PRODUCTS]
    for _ in range(math.ceil(len(X) / BATCH)):
        for a, b, out in state["pairs"]:
            np.matmul(a, b, out=out)


# -- instrumentation ----------------------------------------------------------------------------------
CLOCK = Clock(lambda phase: ("products", phase))




def instrumented_pass(X, y, state):
    """(a'): appends (pass seconds, seconds by key, calls by key) to state["passes"]."""
    if "model" not in state:
        model = state["model"] = make_model()
        for i, m in enumerate(model):
            m.forward = CLOCK.wrap(m.forward, ("forward", i))
            m.backward = CLOCK.wrap(m.backward, ("backward", i))
        model.update = CLOCK.wrap(model.update, "update")
        loss = state["loss"] = lw.CrossEntropyLoss()
        loss.forward, loss.backward = CLOCK.wrap(loss.forward, "loss"), CLOCK.wrap(loss.backward, "loss")
        state.update(passes=[], numpy=numpy_with_timed_matmul(CLOCK))
    CLOCK.reset()
    for module in TIMED_MODULES:
        module.np = state["numpy"]
    try:
        t0 = time.perf_counter()
        lw.Trainer(state["model"], state["loss"], epochs=1, batch_size=BATCH, progress="off", seed=0).fit(X, y)
        total = time.perf_counter() - t0
    finally:
        for module in TIMED_MODULES:
            module.np = np
    state["passes"].append((total, dict(CLOCK.seconds), dict(CLOCK.calls)))




def _sum(seconds, direction):
    """Seconds of one pass spent in every layer's forward (or backward), or in products ("products")."""
    return sum(v for k, v in seconds.items() if isinstance(k, tuple) and k[0] == direction)


def layer_report(model, passes, scale):
    """Per layer: forward and backward seconds per 10,000 images, share of the pass's forward (backward)."""
    med = statistics.median
    whole = [t for t, _, _ in passes]
    totals = {d: [_sum(s, d) for _, s, _ in passes] for d in ("forward", "backward", "products")}
    print(f"\nPER LAYER in (a') (seconds per {PER:,} images, medians over {len(passes)} passes; share = of that "
          "pass's forward or backward;\n'in products' = the part of it spent in np.matmul):")
    print(f"  {'layer':<20} {'forward':>8} {'share':>6} {'in products':>12}   {'backward':>8} {'share':>6} "
          f"{'in products':>12}")
    for i, m in enumerate(model):
        cells = []
        for d in ("forward", "backward"):
            secs = [s.get((d, i), 0.0) for _, s, _ in passes]
            prod = [s.get(("products", (d, i)), 0.0) for _, s, _ in passes]
            share = [a / t for a, t in zip(secs, totals[d])]
            cells.append(f"{med(secs) * scale:8.3f} {med(share):6.1%} {med(prod) * scale:12.3f}")
        print(f"  {f'{i} {type(m).__name__}':<20} {cells[0]}   {cells[1]}")
    rows = {"all forward": totals["forward"], "all backward": totals["backward"],
            "loss": [s.get("loss", 0.0) for _, s, _ in passes], "update": [s.get("update", 0.0) for _, s, _ in passes],
            "other (batches, loop)": [t - _sum(s, "forward") - _sum(s, "backward") - s.get("loss", 0.0)
                                      - s.get("update", 0.0) for t, s, _ in passes],
            "matrix products (in the above)": totals["products"],
            "outside products": [t - p for t, p in zip(whole, totals["products"])]}
    for key, secs in rows.items():
        print(f"  {key + ':':<32} {med(secs) * scale:6.3f} s, {med(a / t for a, t in zip(secs, whole)):6.1%} of the pass")
    n_prod = med(sum(v for k, v in c.items() if isinstance(k, tuple) and k[0] == "products") for _, _, c in passes)
    steps = med(c.get(("forward", 0), 0) for _, _, c in passes)
    print(f"  {n_prod / steps:.1f} products per step timed (a step needs {len(PRODUCTS)}).")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of all variants (default 5)")
    ap.add_argument("--samples", type=int, default=PER, help=f"images per pass (default {PER})")
    ap.add_argument("--quick", action="store_true", help="smoke run: 640 images, 2 rounds")
    args = ap.parse_args(argv)
    args.samples, args.rounds = (640, 2) if args.quick else (args.samples, args.rounds)
    if args.samples < BATCH or args.rounds < 1:
        ap.error(f"need --samples >= {BATCH} and --rounds >= 1")

    variants = {"(a) layerwise Trainer.fit": trainer_pass, "(b) (a), ReLU before pool": written_order_pass,
                "(c) PyTorch": torch_pass,
                "(d) products alone": products_pass, "(a') Trainer.fit, instrumented": instrumented_pass}
    notes = [torch_or_skip(variants, "(c) PyTorch")]
    print(blas_info() + "\n" + "; ".join(notes))

    X, y = make_data(args.samples)
    names, states = list(variants), {k: {} for k in variants}
    for name in names:  # warm-up: models, optimizer state, buffers, thread pools
        variants[name](X[:4 * BATCH], y[:4 * BATCH], states[name])
    states["(a') Trainer.fit, instrumented"]["passes"].clear()
    times, faults = {k: [] for k in names}, {k: [] for k in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(PAUSE)
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            variants[name](X, y, states[name])
            times[name].append(time.perf_counter() - t0)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)

    scale = PER / args.samples
    print(f"\nCNN on {args.samples:,} x 1x28x28 float32, batch {BATCH}, SGD lr {LR} momentum {MOMENTUM}.\nSeconds per "
          f"{PER:,} training images, median (min-max) of {args.rounds} interleaved rounds; vs PyTorch: median of "
          "the per-round ratios;\npage faults per step (fresh memory the kernel maps in; a reused heap has none), "
          "median.")
    ref = times.get("(c) PyTorch")
    for name in names:
        t = times[name]
        ratio = ratio_text(t, ref)
        steps = math.ceil(args.samples / BATCH)
        print(f"  {name:<32} {statistics.median(t) * scale:7.3f} ({min(t) * scale:.3f}-{max(t) * scale:.3f}) s "
              f"{statistics.median(faults[name]) / steps:6.0f} faults/step {ratio}")
    rel = [t / a - 1 for t, a in zip(times["(a') Trainer.fit, instrumented"], times["(a) layerwise Trainer.fit"])]
    print(f"instrumentation overhead: (a') / (a) - 1 in the same round, median {statistics.median(rel):+.1%}")
    layer_report(states["(a') Trainer.fit, instrumented"]["model"], states["(a') Trainer.fit, instrumented"]["passes"],
                 scale)


if __name__ == "__main__":
    main()
