"""Pieces the benchmark scripts share: the BLAS line and numpy with a timed ``matmul``."""

import os
import types

import numpy as np


def blas_info():
    """One line: numpy's version, the CPU count, and each BLAS/OpenMP pool with its threads."""
    from threadpoolctl import threadpool_info
    pools = [f"{p['user_api']}: {' '.join(filter(None, (p['internal_api'], p.get('version'))))} "
             f"({', '.join(filter(None, (p.get('threading_layer') or p['prefix'], p.get('architecture'))))}), "
             f"{p['num_threads']} threads" for p in threadpool_info()]
    return f"numpy {np.__version__}, {os.cpu_count()} CPUs; " + "; ".join(pools)


def numpy_with_timed_matmul(clock):
    """numpy, but ``matmul`` is ``clock.wrap(np.matmul)``: given to a layer module as its ``np``."""
    proxy = types.ModuleType("numpy")
    proxy.__dict__.update(vars(np))        # numpy's module __getattr__ comes along for its lazy names
    proxy.matmul = clock.wrap(np.matmul)
    return proxy
