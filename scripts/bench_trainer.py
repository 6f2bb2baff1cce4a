"""Trainer figures: the README command's wall time, the trainer's overhead, peak memory on MNIST-sized data.

    python scripts/bench_trainer.py [--repeats 3] [--skip-memory]

1. Wall time of `layerwise train configs/digits_mlp.yaml` in a fresh process (median of repeats).
2. Seconds per epoch of the 784-256-128-10 MLP of bench_mlp.py through `Trainer.fit` (progress off,
   no validation) against the bare explicit loop, interleaved; overhead = trainer / bare - 1.
3. Peak resident memory above the interpreter's baseline while `layerwise train` reads fake MNIST IDX
   files of the real size (60000 x 1 x 28 x 28, 188 MB as float32) and trains one epoch, measured
   in a child process (ru_maxrss), against twice the data's size.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_mlp  # noqa: E402

from layerwise.trainer import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def readme_command(repeats):
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "layerwise.cli", "train", str(ROOT / "configs/digits_mlp.yaml"),
                            "--out", f"{tmp}/r{i}", "--progress", "off"], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    return times


def trainer_epoch(X, y, batch, state):
    if "trainer" not in state:
        state["trainer"] = Trainer(bench_mlp.make_model(), epochs=0, batch_size=batch, seed=1, progress="off")
    t = state["trainer"]
    t.epochs += 1
    t.fit(X, y)


MEMORY_CHILD = r"""
import sys
from layerwise.cli import main
import layerwise.run, layerwise.data, sklearn.metrics, matplotlib.pyplot


def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])


open("/proc/self/clear_refs", "w").write("5")   # reset the peak (an exec'd child inherits its parent's)
base = hwm()
code = main(["train", sys.argv[1], "--out", sys.argv[2], "--progress", "off", "--set", "data.path=" + sys.argv[3],
             "--set", "training.epochs=1", "--set", "training.early_stopping=null"])
print(base, hwm(), code)
"""


def peak_memory():
    from layerwise.data import write_idx
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mnist"
        rng = np.random.default_rng(0)
        for prefix, n in (("train", 60000), ("t10k", 10000)):
            write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(ROOT / "configs/mnist_mlp.yaml"),
                              f"{tmp}/run", str(folder)], check=True, capture_output=True, text=True)
        base, peak, code = map(int, out.stdout.split()[-3:])
        return base / 1024, peak / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args(argv)

    t = readme_command(args.repeats)
    print(f"README command (layerwise train configs/digits_mlp.yaml), wall time: median {statistics.median(t):.2f} s "
          f"over {len(t)} runs (min {min(t):.2f}, max {max(t):.2f})")

    X, y = bench_mlp.make_data(args.n)
    variants = {"bare loop": bench_mlp.layerwise_epoch, "Trainer.fit": trainer_epoch}
    states = {k: {} for k in variants}
    for name, fn in variants.items():
        fn(X[:512], y[:512], 128, states[name])
    times = {k: [] for k in variants}
    for _ in range(args.repeats + 2):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn(X, y, 128, states[name])
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"MLP 784-256-128-10, {args.n} samples, batch 128, median of {args.repeats + 2} interleaved epochs: "
          f"bare loop {med['bare loop']:.3f} s, Trainer.fit {med['Trainer.fit']:.3f} s, "
          f"overhead {med['Trainer.fit'] / med['bare loop'] - 1:+.1%}")

    if not args.skip_memory:
        base, peak = peak_memory()
        data_mb = 60000 * 784 * 4 / 2 ** 20
        print(f"peak memory training on MNIST-sized IDX data: {peak - base:.0f} MiB above the interpreter's "
              f"{base:.0f} MiB baseline; data {data_mb:.0f} MiB as float32, limit 2x = {2 * data_mb:.0f} MiB")


if __name__ == "__main__":
    main()
