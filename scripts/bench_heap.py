"""What keeping the freed heap (layerwise._heap) saves on the path users run, in processes that never import PyTorch.

    python scripts/bench_heap.py [--rounds 5] [--epochs 3] [--samples 60000]

Each round starts two child processes, one after the other (never both at once): one with
``LAYERWISE_KEEP_HEAP=0`` (glibc's malloc as it comes) and one as layerwise runs by default (``M_TOP_PAD``
and M_MMAP_THRESHOLD set by set_optimizer); the order alternates every round. Each child runs ``--epochs`` epochs
of ``Trainer.fit`` on scripts/bench_mlp.py's model and data (784-256-128-10 ReLU MLP, batch 128, SGD
momentum 0.9, what ``layerwise train`` runs) and reports, for each epoch after the first, its seconds and
the minor page faults the kernel counted in it (``getrusage``). The parent prints the medians and the
ratio of the two within each round.

Why in child processes: malloc's settings cannot be put back inside one process, and importing PyTorch
changes them (its large frees raise glibc's thresholds), which is why scripts/bench_mlp.py, with PyTorch
loaded, does not show the faults. Run it alone on an idle machine.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(epochs, samples):
    """One process's epochs: prints a JSON list of [seconds, faults] per epoch after the first."""
    sys.path.insert(0, HERE)
    import bench_mlp

    from layerwise.trainer import Trainer
    assert "torch" not in sys.modules, "the child must not import PyTorch (it changes malloc's thresholds)"
    X, y = bench_mlp.make_data(samples)
    model = bench_mlp.make_model()
    rows = []
    for _ in range(epochs):
        faults, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        Trainer(model, "cross_entropy", epochs=1, batch_size=bench_mlp.BATCH, progress="off", seed=0).fit(X, y)
        rows.append([time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults])
    print(json.dumps(rows[1:]))


def run(keep, epochs, samples):
    env = dict(os.environ, LAYERWISE_KEEP_HEAP="1" if keep else "0")
    out = subprocess.run([sys.executable, __file__, "--child", "--epochs", str(epochs), "--samples", str(samples)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="pairs of child processes (default 5)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per child, the first not counted (default 3)")
    ap.add_argument("--samples", type=int, default=60000, help="samples per epoch (default 60000)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.epochs < 2 or args.rounds < 1:
        ap.error("need --epochs >= 2 and --rounds >= 1")
    if args.child:
        return child(args.epochs, args.samples)

    sides = {False: [], True: []}
    ratios = []
    for r in range(args.rounds):
        got = {}
        for keep in ((False, True) if r % 2 == 0 else (True, False)):
            got[keep] = run(keep, args.epochs, args.samples)
            sides[keep].extend(got[keep])
        ratios.append(statistics.median(s for s, _ in got[True]) / statistics.median(s for s, _ in got[False]))
        print(f"round {r + 1}: malloc as it comes {statistics.median(s for s, _ in got[False]):.3f} s, "
              f"heap kept {statistics.median(s for s, _ in got[True]):.3f} s", flush=True)
    print(f"\nTrainer.fit, one epoch of the 784-256-128-10 MLP ({args.samples} samples, batch 128), in child "
          f"processes without PyTorch;\nmedians over {args.rounds} rounds x {args.epochs - 1} epochs:")
    for keep, label in ((False, "LAYERWISE_KEEP_HEAP=0 (malloc as it comes)"), (True, "default (layerwise._heap: pages kept)")):
        rows = sides[keep]
        print(f"  {label:<44} {statistics.median(s for s, _ in rows):.3f} s/epoch, "
              f"{statistics.median(f for _, f in rows):>7.0f} page faults/epoch")
    print(f"  heap kept / as it comes, within each round: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
