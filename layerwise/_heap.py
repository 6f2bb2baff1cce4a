"""Keep the memory a training step frees for the next step, instead of handing it back to the kernel.

Every training step allocates and frees the same arrays: the batch, each layer's output and each
gradient (about 2 MiB a step for a 784-256-128-10 MLP at batch 128). glibc's malloc serves them from
the top of its heap and, once the free memory there passes its trim threshold (256 KiB to begin with),
gives the pages back to the kernel; the next step takes them again, and the kernel zeroes every 4 KiB
page on its first touch. On that MLP this came to 15,000 to 32,000 page faults an epoch in a process
that had only imported layerwise, and the epoch took 12% to 16% longer than with the pages kept
(``python scripts/bench_mlp.py`` prints the faults of each variant; a process that has imported
PyTorch does not show it, since PyTorch's own large frees raise glibc's thresholds).

:func:`keep_freed_memory` sets glibc's ``M_TOP_PAD`` (:data:`TOP_PAD`), once per process: the heap
grows by that much at a time and keeps that much when it trims, so a step finds the pages the last
one freed. It costs at most :data:`TOP_PAD` of memory that stays with the process after training.
Nothing is changed when the C library is not glibc, when ``MALLOC_TOP_PAD_`` or a
``glibc.malloc`` tunable in ``GLIBC_TUNABLES`` says how the user wants malloc set, or when
``LAYERWISE_KEEP_HEAP=0``.
"""

import ctypes
import os
import platform
import threading

#: bytes the heap keeps at its top (glibc's ``M_TOP_PAD``)
TOP_PAD = 64 << 20
M_TOP_PAD = -2          # glibc's <malloc.h>

_lock = threading.Lock()
_done = False


def keep_freed_memory():
    """Set ``M_TOP_PAD`` on glibc, once per process; True when this call set it. See the module's text."""
    global _done
    if _done:
        return False
    with _lock:
        if _done:
            return False
        _done = True
        if not _allowed():
            return False
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        return mallopt(M_TOP_PAD, TOP_PAD) == 1


def _allowed():
    """False when the C library is not glibc or the environment says to leave malloc alone."""
    env = os.environ
    if env.get("LAYERWISE_KEEP_HEAP", "1").strip() == "0":
        return False
    if "MALLOC_TOP_PAD_" in env or "glibc.malloc" in env.get("GLIBC_TUNABLES", ""):
        return False
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
