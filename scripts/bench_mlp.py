"""One epoch of a 784-256-128-10 ReLU MLP: layerwise's training loops next to PyTorch, and where the time goes.

    python scripts/bench_mlp.py [--rounds 5] [--samples 60000] [--quick]

Data: ``samples`` x 784 uniform float32, int64 labels 0..9 (seeded); batch 128; SGD lr 0.01 momentum 0.9.
All variants run in one process: each round runs one epoch of each, in an order that rotates every
round, after a 0.25 s pause (so the thread pool of the variant before has gone idle). Figures are medians
over rounds; ratios to PyTorch are taken within each round, then the median over rounds.

(a)  ``Trainer(model, "cross_entropy", epochs=1, batch_size=128, progress="off", seed=0).fit(X, y)``,
     what ``layerwise train`` runs (no validation set).
(e)  (a) with a no-op forward and a no-op backward hook on every layer (what hooks cost; (a) has none;
     every batch is a fresh array, with or without hooks).
(f)  (a) with every optimizer pass in NumPy (``layerwise._blas.numpy_only()``): what the update's one-pass
     ``y += a x`` and ``y = a x + b y`` on NumPy's own BLAS (two threads for large weights) save.
(h)  (a) with SGD's momentum stepped by ``SGD.step`` (``y = a x + b y`` on one thread, then ``y += a x``) instead
     of ``SGD.step_recycling`` (two ``y += a x`` on both threads, the new buffer written into the gradient's array):
     what recycling the gradient's memory as the momentum buffer saves.
(b)  the README's explicit loop: shuffled ``X[idx]`` batches, forward, loss, backward(input_grad=False), update.
(c)  PyTorch, ``torch.set_num_threads(2)``, the idiomatic loop (nn.Sequential, nn.CrossEntropyLoss,
     optim.SGD momentum 0.9, zero_grad, backward, step), the same arrays as tensors, (b)'s batch order.
(g)  the same model, loss and SGD written by hand in NumPy: every array preallocated, every operation in
     place, (b)'s batch order (what a NumPy framework could reach with this design).
(d)  the 8 matrix products of each step alone (3 forward, 3 dL/dW, 2 dL/dx), same shapes, NumPy: a floor.
(d') the same 8 products in PyTorch, in nn.Linear's layout: (d') against (d) says whether the two
     libraries' products differ, so that (a) against (c) is read as what the rest of each step costs.
(a') (a) instrumented, for the phase breakdown; (a') against (a) is the instrumentation's own cost.
Last, (a) on a 2-4-4-10 MLP: what a step costs when the arrays are tiny (Python and per-call overhead).

Phase breakdown, timed inside (a')'s own epochs (never one program's time divided by another's), with the
library unchanged: the Trainer calls the model and the loss through the instance, so their bound methods
(forward, backward, update; the loss's forward and backward are "loss") are replaced on the instances by
timed wrappers. X and y reach the Trainer as an ndarray subclass timing its indexing and NumPy functions
(np.take): "gather". During the epoch layerwise.modules.linear's ``np`` is a copy of numpy whose ``matmul``
is timed; a product is booked to the phase it runs in. "other" = epoch - phases (shuffle, loop, accuracy).
Shares are taken within each epoch, then the median. Calls per step are printed: a missed phase shows 0,
and products that bypass ``np.matmul`` (the ``@`` operator cannot be timed from outside) fewer than 8.

Page faults: the minor faults the kernel counted in each epoch (``getrusage``). PyTorch, imported here, changes
glibc's malloc thresholds for the whole process, so this process does not show what malloc as it comes costs
a process that runs only layerwise: scripts/bench_heap.py measures that (layerwise._heap).

Run one benchmark at a time on an otherwise idle machine: two at once share the cores and both are wrong.
"""

import argparse
import math
import resource
import statistics
import time

import numpy as np
from _bench_common import Clock, blas_info, numpy_with_timed_matmul, ratio_text, step_only_sgd, torch_or_skip

import layerwise as lw
import layerwise.modules.linear as lw_linear
from layerwise import _blas
from layerwise.trainer import Trainer

SIZES = (784, 256, 128, 10)
LR, MOMENTUM, BATCH = 0.01, 0.9, 128
PHASES = ("gather", "forward", "loss", "backward", "update")
PAUSE = 0.25  # seconds before each timed epoch: idle BLAS/OpenMP threads of the previous variant stop spinning


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], n)


def make_model(seed=0):
    """The benchmark MLP with SGD lr 0.01 momentum 0.9."""
    rng = np.random.default_rng(seed)
    model = lw.Sequential(lw.Linear(784, 256, init="he_uniform", rng=rng), lw.ReLU(),
                          lw.Linear(256, 128, init="he_uniform", rng=rng), lw.ReLU(), lw.Linear(128, 10, rng=rng))
    model.set_optimizer(lw.SGD(LR, momentum=MOMENTUM))
    return model


# -- the variants: fn(X, y, batch, state) runs one epoch; state starts as {} -------------------------
def trainer_epoch(X, y, batch, state):
    """(a)"""
    model = state["model"] if "model" in state else state.setdefault("model", make_model())
    Trainer(model, "cross_entropy", epochs=1, batch_size=batch, progress="off", seed=0).fit(X, y)


def hooked_trainer_epoch(X, y, batch, state):
    """(e)"""
    if "model" not in state:
        state["model"] = make_model()
        state["handles"] = [h for m in state["model"] for h in (
            m.register_forward_hook(lambda mod, x, y: None), m.register_backward_hook(lambda mod, gy, gx: None))]
    trainer_epoch(X, y, batch, state)


def numpy_update_trainer_epoch(X, y, batch, state):
    """(f)"""
    with _blas.numpy_only():
        trainer_epoch(X, y, batch, state)


def unrecycled_trainer_epoch(X, y, batch, state):
    """(h)"""
    if "model" not in state:
        state["model"] = make_model()
        state["model"].set_optimizer(step_only_sgd(LR, momentum=MOMENTUM))
    trainer_epoch(X, y, batch, state)


def layerwise_epoch(X, y, batch, state):
    """(b) the README's explicit loop."""
    if "model" not in state:
        state.update(model=make_model(), loss=lw.CrossEntropyLoss(), rng=np.random.default_rng(0))
    model, loss = state["model"], state["loss"]
    order = state["rng"].permutation(len(X))
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        loss.forward(model.forward(X[idx]), y[idx])
        model.backward(loss.backward(), input_grad=False)
        model.update()


def torch_epoch(X, y, batch, state):
    """(c) PyTorch's idiomatic loop; the same batch order as (b)."""
    import torch
    from torch import nn
    if "net" not in state:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        state.update(net=net, loss=nn.CrossEntropyLoss(), rng=np.random.default_rng(0),
                     opt=torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM))
    net, loss_fn, opt = state["net"], state["loss"], state["opt"]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)       # no copy: the same memory as X and y
    order = torch.from_numpy(state["rng"].permutation(len(X)))
    net.train()
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        opt.zero_grad()
        loss = loss_fn(net(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()


def tuned_epoch(X, y, batch, state):
    """(g) the same model and SGD by hand: every array preallocated, every operation in place."""
    if "W" not in state:
        linear = [m for m in make_model() if m.params]      # (a)'s initial weights
        f32 = np.float32
        state.update(W=[m.params["W"].copy() for m in linear], b=[m.params["b"].copy() for m in linear],
                     rng=np.random.default_rng(0), ones=np.ones(batch, f32), rows=np.arange(batch),
                     a=[np.empty((batch, k), f32) for k in SIZES], d=[np.empty((batch, k), f32) for k in SIZES[1:-1]],
                     zeros=[np.zeros((batch, k), f32) for k in SIZES[1:-1]],
                     mask=[np.empty((batch, k), bool) for k in SIZES[1:-1]], lse=np.empty((batch, 1), f32))
        state.update(gW=[np.empty_like(w) for w in state["W"]], gb=[np.empty_like(b) for b in state["b"]],
                     vW=[np.zeros_like(w) for w in state["W"]], vb=[np.zeros_like(b) for b in state["b"]])
    W, b, gW, gb, a, d = state["W"], state["b"], state["gW"], state["gb"], state["a"], state["d"]
    params = list(zip(W + b, gW + gb, state["vW"] + state["vb"]))
    order = state["rng"].permutation(len(X))
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        m, yb = len(idx), y[idx]
        h = [x[:m] for x in a]
        np.take(X, idx, axis=0, out=h[0], mode="clip")
        for i in range(3):
            np.matmul(h[i], W[i], out=h[i + 1])
            h[i + 1] += b[i]
            if i < 2:
                np.maximum(h[i + 1], state["zeros"][i][:m], out=h[i + 1])
        z, lse = h[3], state["lse"][:m]                     # softmax cross-entropy, in place on the logits
        np.max(z, axis=1, keepdims=True, out=lse)
        z -= lse
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=lse)
        z /= lse
        float(-np.log(z[state["rows"][:m], yb]).mean())    # the batch loss, as every variant computes it
        z[state["rows"][:m], yb] -= 1
        z *= 1.0 / m
        g = z
        for i in (2, 1, 0):
            np.matmul(h[i].T, g, out=gW[i])
            np.dot(state["ones"][:m], g, out=gb[i])
            if i:
                dx, mask = d[i - 1][:m], state["mask"][i - 1][:m]
                np.matmul(g, W[i].T, out=dx)
                np.greater(h[i], 0, out=mask)
                np.multiply(dx, mask, out=dx)
                g = dx
        for p, grad, v in params:                           # v = mu v + g;  p -= lr v
            v *= MOMENTUM
            v += grad
            np.multiply(v, LR, out=grad)
            p -= grad


def floor_epoch(X, y, batch, state):
    """(d) the 8 products of each step into kept buffers."""
    if "W" not in state:
        rng = np.random.default_rng(0)
        state["W"] = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(SIZES, SIZES[1:])]
        state["dW"] = [np.empty_like(w) for w in state["W"]]
    W, dW = state["W"], state["dW"]
    for start in range(0, len(X), batch):
        h = [X[start:start + batch]]
        for w in W:
            h.append(np.matmul(h[-1], w))
        g = h[-1]
        for i in range(len(W) - 1, -1, -1):
            np.matmul(h[i].T, g, out=dW[i])
            if i:
                g = np.matmul(g, W[i].T)


def torch_floor_epoch(X, y, batch, state):
    """(d') the same 8 products in PyTorch (2 threads), into kept tensors: is PyTorch's BLAS faster?"""
    import torch
    if "W" not in state:
        gen = torch.Generator().manual_seed(0)
        # nn.Linear keeps its weight as (out, in) and computes x @ W.T: the layout its products run in
        state["W"] = [torch.randn((b, a), generator=gen) * 0.05 for a, b in zip(SIZES, SIZES[1:])]
        state["dW"] = [torch.empty_like(w) for w in state["W"]]
    W, dW, Xt = state["W"], state["dW"], torch.from_numpy(X)
    with torch.no_grad():
        for start in range(0, len(X), batch):
            h = [Xt[start:start + batch]]
            for w in W:
                h.append(torch.matmul(h[-1], w.T))
            g = h[-1]
            for i in range(len(W) - 1, -1, -1):
                torch.matmul(g.T, h[i], out=dW[i])
                if i:
                    g = torch.matmul(g, W[i])


# -- instrumentation ----------------------------------------------------------------------------------
CLOCK = Clock(lambda phase: f"products in {phase or 'other'}")


class Rows(np.ndarray):
    """X as (a') hands it to the Trainer: NumPy functions on it (np.take) count as gather. It keeps ndarray's
    own indexing, as the Trainer gathers with np.take only from arrays that do."""

    def _gathered(self, t0, out):
        if CLOCK.current is None:       # inside a timed phase the time is that phase's already
            CLOCK.add("gather", t0)
        return out.view(np.ndarray) if isinstance(out, Rows) else out

    def __array_function__(self, func, types_, args, kwargs):
        return self._gathered(time.perf_counter(), super().__array_function__(func, types_, args, kwargs))


class Labels(Rows):
    """y as (a') hands it to the Trainer: indexing it counts as gather too."""

    def __getitem__(self, key):
        return self._gathered(time.perf_counter(), np.ndarray.__getitem__(self, key))




def instrumented_epoch(X, y, batch, state):
    """(a'): (a) with every phase timed; appends (epoch seconds, seconds, calls) to state["epochs"]."""
    if "model" not in state:
        model = state["model"] = make_model()
        for name in ("forward", "backward", "update"):
            setattr(model, name, CLOCK.wrap(getattr(model, name), name))
        loss = state["loss"] = lw.CrossEntropyLoss()
        loss.forward, loss.backward = CLOCK.wrap(loss.forward, "loss"), CLOCK.wrap(loss.backward, "loss")
        state.update(epochs=[], numpy=numpy_with_timed_matmul(CLOCK))
    CLOCK.reset()
    lw_linear.np = state["numpy"]
    try:
        t0 = time.perf_counter()
        Trainer(state["model"], state["loss"], epochs=1, batch_size=batch, progress="off", seed=0).fit(
            X.view(Rows), y.view(Labels))
        total = time.perf_counter() - t0
    finally:
        lw_linear.np = np
    state["epochs"].append((total, dict(CLOCK.seconds), dict(CLOCK.calls)))




def product_flops(samples):
    """Floating-point operations of one epoch's 8 products: 2 m k n each (3 forward, 3 dL/dW, 2 dL/dx)."""
    pairs = list(zip(SIZES, SIZES[1:]))
    per_row = 2 * (2 * sum(a * b for a, b in pairs) + sum(a * b for a, b in pairs[1:]))
    return per_row * samples


def phase_report(epochs, steps):
    """(a')'s epochs: per phase seconds, share of that same epoch, calls per step (medians over epochs)."""
    keys = [k for p in PHASES for k in (p, f"products in {p}")] + ["products in other", "other"]

    def row(label, secs, calls):
        shares = [x / t for x, (t, _, _) in zip(secs, epochs)]
        print(f"  {label:<24} {statistics.median(secs):8.4f} s {statistics.median(shares):7.1%} {calls:>10}")

    print(f"\nPHASE BREAKDOWN of (a) Trainer.fit in its {len(epochs)} (a') epochs above (medians;\nshare = seconds "
          "/ the same epoch's seconds; products are part of the phase they run in):")
    print(f"  {'phase':<24} {'s/epoch':>10} {'share':>7} {'calls/step':>10}")
    for key in keys:
        if key == "other":
            row(key, [t - sum(s.get(p, 0.0) for p in PHASES) for t, s, _ in epochs], "-")
        elif any(key in c for _, _, c in epochs) or key in PHASES:
            calls = statistics.median(c.get(key, 0) for _, _, c in epochs) / steps
            row(("  " if key.startswith("products") else "") + key, [s.get(key, 0.0) for _, s, _ in epochs],
                f"{calls:.1f}")
    row("epoch (a')", [t for t, _, _ in epochs], "")
    prod = [sum(v for k, v in s.items() if k.startswith("products")) / t for t, s, _ in epochs]
    n_prod = statistics.median(sum(v for k, v in c.items() if k.startswith("products")) for _, _, c in epochs)
    print(f"{statistics.median(prod):.1%} of the epoch in matrix products (min {min(prod):.1%}, max {max(prod):.1%}), "
          f"{n_prod / steps:.1f} products per step timed; a step needs 8 (3 forward, 3 dL/dW, 2 dL/dx).")
    if n_prod != 8 * steps:
        print("  NOTE: " + ("some products bypass np.matmul in layerwise/modules/linear.py (the @ operator cannot be "
                            "timed from outside): the share is a lower bound." if n_prod < 8 * steps else
                            "more than 8 products per step: the first layer's dL/dx is computed, not needed."))
    missing = [p for p in PHASES if not any(c.get(p) for _, _, c in epochs)]
    if missing:
        print(f"  NOTE: no calls seen for {', '.join(missing)}: the Trainer reaches them another way ('other').")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of all variants (default 5)")
    ap.add_argument("--samples", type=int, default=60000, help="samples per epoch (default 60000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1024 samples, 3 rounds")
    args = ap.parse_args(argv)
    args.samples, args.rounds = (1024, 3) if args.quick else (args.samples, args.rounds)
    if args.samples < BATCH or args.rounds < 1:
        ap.error(f"need --samples >= {BATCH} and --rounds >= 1")

    variants = {"(a) Trainer.fit": trainer_epoch, "(e) Trainer.fit, no-op hooks": hooked_trainer_epoch,
                "(f) Trainer.fit, NumPy update": numpy_update_trainer_epoch,
                "(h) Trainer.fit, momentum by step": unrecycled_trainer_epoch,
                "(b) explicit loop": layerwise_epoch, "(g) hand-tuned NumPy loop": tuned_epoch,
                "(c) PyTorch": torch_epoch,
                "(d) 8 products alone": floor_epoch, "(d') PyTorch's 8 products alone": torch_floor_epoch,
                "(a') Trainer.fit, instrumented": instrumented_epoch}
    notes = [torch_or_skip(variants, "(c) PyTorch")]
    if "(c) PyTorch" not in variants:
        del variants["(d') PyTorch's 8 products alone"]
    if not hasattr(lw.Sequential(), "register_forward_hook"):
        del variants["(e) Trainer.fit, no-op hooks"]
        notes.append("(e) skipped: Module has no register_forward_hook yet")
    print(blas_info() + "\n" + "; ".join(notes))

    X, y, steps = *make_data(args.samples), math.ceil(args.samples / BATCH)
    names, states = list(variants), {k: {} for k in variants}
    for name in names:  # warm-up: models, optimizer state, thread pools
        variants[name](X[:4 * BATCH], y[:4 * BATCH], BATCH, states[name])
    states["(a') Trainer.fit, instrumented"]["epochs"].clear()
    times, faults = {k: [] for k in names}, {k: [] for k in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(PAUSE)
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            variants[name](X, y, BATCH, states[name])
            times[name].append(time.perf_counter() - t0)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)

    print(f"\nMLP 784-256-128-10 ReLU, {args.samples} x 784 float32, 10 classes, batch {BATCH} ({steps} steps), "
          f"SGD lr {LR} momentum {MOMENTUM}.\nSeconds per epoch, median (min-max) of {args.rounds} interleaved "
          "rounds; vs PyTorch: median of the per-round ratios; page faults per epoch (median).")
    ref = times.get("(c) PyTorch")
    for name in names:
        t = times[name]
        ratio = ratio_text(t, ref)
        print(f"  {name:<34} {statistics.median(t):.3f} ({min(t):.3f}-{max(t):.3f}) s "
              f"{statistics.median(faults[name]):>6.0f} faults {ratio}")
    for name, what in (("(e) Trainer.fit, no-op hooks", "no-op hooks on every layer"),
                       ("(f) Trainer.fit, NumPy update", "the update in NumPy's passes instead of BLAS axpy"),
                       ("(h) Trainer.fit, momentum by step", "SGD.step instead of step_recycling"),
                       ("(a') Trainer.fit, instrumented", "instrumentation overhead")):
        if name in times:
            rel = [t / a - 1 for t, a in zip(times[name], times["(a) Trainer.fit"])]
            print(f"{what}: {name.split()[0]} / (a) - 1 in the same round, median {statistics.median(rel):+.1%} "
                  f"(min {min(rel):+.1%}, max {max(rel):+.1%})")
    rates = ", ".join(f"{name.split()[0]} {product_flops(args.samples) / statistics.median(times[name]) / 1e9:.0f}"
                      for name in ("(d) 8 products alone", "(d') PyTorch's 8 products alone") if name in times)
    print(f"the products alone run at (GFLOP/s, from the median epoch): {rates}")
    phase_report(states["(a') Trainer.fit, instrumented"]["epochs"], steps)
    overhead_report(steps)


def overhead_report(steps, rounds=5):
    """Per-step cost of what is not array work: Trainer.fit on the same five layers 2-4-4-10 wide."""
    rng = np.random.default_rng(0)
    model = lw.Sequential(lw.Linear(2, 4, rng=rng), lw.ReLU(), lw.Linear(4, 4, rng=rng), lw.ReLU(),
                          lw.Linear(4, 10, rng=rng)).set_optimizer(lw.SGD(LR, momentum=MOMENTUM))
    X, y = rng.random((steps * BATCH, 2), dtype=np.float32), rng.integers(0, 10, steps * BATCH)
    seconds = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        Trainer(model, "cross_entropy", epochs=1, batch_size=BATCH, progress="off", seed=0).fit(X, y)
        seconds.append(time.perf_counter() - t0)
    print(f"Per-step overhead (Python and per-call costs): {statistics.median(seconds) / steps * 1e6:.0f} us, "
          f"Trainer.fit on a 2-4-4-10 MLP of the same five layers, batch {BATCH} (median of {rounds} epochs).")


if __name__ == "__main__":
    main()
