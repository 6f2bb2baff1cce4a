"""Pieces the benchmark scripts share: the BLAS line, PyTorch's setup, per-round ratios, a phase clock, and
numpy with a timed ``matmul``."""

import os
import statistics
import time
import types

import numpy as np


def blas_info():
    """One line: numpy's version, the CPU count, and each BLAS/OpenMP pool with its threads."""
    from threadpoolctl import threadpool_info
    pools = [f"{p['user_api']}: {' '.join(filter(None, (p['internal_api'], p.get('version'))))} "
             f"({', '.join(filter(None, (p.get('threading_layer') or p['prefix'], p.get('architecture'))))}), "
             f"{p['num_threads']} threads" for p in threadpool_info()]
    return f"numpy {np.__version__}, {os.cpu_count()} CPUs; " + "; ".join(pools)


def torch_or_skip(variants, name):
    """A note on PyTorch with 2 threads; without PyTorch, ``variants[name]`` is dropped and the note says so."""
    try:
        import torch
    except ImportError as err:
        del variants[name]
        return f"PyTorch is not importable ({err}): {name.split()[0]} and the ratios are skipped"
    torch.set_num_threads(2)
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def ratio_text(times, ref):
    """``" 0.77x  (rounds: 0.76 0.78 ...)"``: the median of ``times / ref`` taken round by round, and each round's."""
    if not ref:
        return ""
    per_round = [a / b for a, b in zip(times, ref)]
    return f"{statistics.median(per_round):6.2f}x  (rounds: {' '.join(f'{q:.2f}' for q in per_round)})"


def numpy_with_timed_matmul(clock):
    """numpy, but ``matmul`` is ``clock.wrap(np.matmul)``: given to a layer module as its ``np``."""
    proxy = types.ModuleType("numpy")
    proxy.__dict__.update(vars(np))        # numpy's module __getattr__ comes along for its lazy names
    proxy.matmul = clock.wrap(np.matmul)
    return proxy


class Clock:
    """Seconds and calls per key; ``current`` is the phase running now (products are booked to it).

    ``product_key(phase)`` names the key a product made during ``phase`` is booked under.
    """

    def __init__(self, product_key):
        self.product_key = product_key
        self.reset()

    def reset(self):
        self.seconds, self.calls, self.current = {}, {}, None

    def add(self, key, t0):
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0
        self.calls[key] = self.calls.get(key, 0) + 1

    def wrap(self, fn, phase=None):
        """``fn`` timed as ``phase`` (which becomes current), or without one as a product of the current phase."""
        def timed(*args, **kwargs):
            outer, t0 = self.current, time.perf_counter()
            self.current = phase or outer
            try:
                return fn(*args, **kwargs)
            finally:
                self.current = outer
                self.add(phase or self.product_key(outer), t0)
        return timed


def step_only_sgd(*args, **kwargs):
    """An SGD whose ``update()`` goes through ``step``, not ``step_recycling``: what recycling the gradient's
    memory as the momentum buffer saves (bench_mlp's variant (h), bench_update's "by step" rows)."""
    import layerwise as lw

    class StepOnlySGD(lw.SGD):
        def step_recycling(self, p, g, state, decay):
            self.step(p, g, state, decay)
            return g
    return StepOnlySGD(*args, **kwargs)
