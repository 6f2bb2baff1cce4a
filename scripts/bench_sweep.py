"""Trials per minute of ``layerwise sweep``: one worker, ``--jobs 2``, and a Dask LocalCluster of 2 workers.

    python scripts/bench_sweep.py [--rounds 3] [--config configs/digits_mlp.yaml] [--epochs 40]

Each variant runs the same 8-trial grid (``optimizer.lr=0.01,0.02,0.05,0.1`` x ``seed=0,1``) as the
command a user types, in a fresh output folder, timed from start to exit (driver start-up, worker
start-up, the trials with their run directories and plots, the reports):

  jobs1  ``layerwise sweep CONFIG ... --jobs 1``  (one worker process, all cores' BLAS threads)
  jobs2  ``layerwise sweep CONFIG ... --jobs 2``  (two worker processes, cores // 2 BLAS threads each)
  dask   ``layerwise sweep CONFIG ... --dask ADDRESS`` against a ``LocalCluster(n_workers=2,
         threads_per_worker=1)`` that this script starts once (its start-up is printed apart)

Rounds run the variants in a rotating order; figures are medians over rounds. Run it on an otherwise
idle machine: anything else on the cores makes ``--jobs 2`` look worse than it is.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PARAMS = ["--param", "optimizer.lr=0.01,0.02,0.05,0.1", "--param", "seed=0,1"]
TRIALS = 8


def run(config, epochs, extra, out):
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["layerwise", "sweep", config, *PARAMS, "--set", f"training.epochs={epochs}", "--out", out,
           "--progress", "off", *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--config", default="configs/digits_mlp.yaml")
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args()
    from distributed import LocalCluster
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    print(f"LocalCluster(n_workers=2, threads_per_worker=1) start-up: {time.perf_counter() - start:.1f} s")
    variants = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "dask": ["--dask", cluster.scheduler_address]}
    seconds = {name: [] for name in variants}
    tmp = tempfile.mkdtemp(prefix="bench-sweep-")
    try:
        names = list(variants)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                seconds[name].append(run(args.config, args.epochs, variants[name], os.path.join(tmp, name)))
                print(f"round {r + 1} {name:>5}: {seconds[name][-1]:6.1f} s", flush=True)
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(f"\n{TRIALS} trials of {args.config} ({args.epochs} epochs), medians of {args.rounds} rounds, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}:")
    for name, s in median.items():
        print(f"  {name:>5}  {s:6.1f} s  {TRIALS * 60 / s:5.1f} trials/min  x{median['jobs1'] / s:.2f} vs jobs1")


if __name__ == "__main__":
    sys.exit(main())
