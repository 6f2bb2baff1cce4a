"""Keep the memory a training step frees for the next step, instead of handing it back to the kernel.

Every training step allocates and frees the same arrays: the batch, each layer's output and each
gradient (about 2 MiB a step for a 784-256-128-10 MLP at batch 128). glibc's malloc serves them from
the top of its heap and, once the free memory there passes its trim threshold (128 KiB to begin with),
gives the pages back to the kernel; the next step takes them again, and the kernel zeroes every 4 KiB
page on its first touch. Arrays above the mmap threshold (128 KiB to begin with) get pages of their own,
returned when freed. glibc raises both thresholds once a large array has been freed, so how often a step
faults depends on what the process did before (importing PyTorch, for one, raises them).
``python scripts/bench_heap.py`` measures it in child processes that never import PyTorch.

:func:`keep_freed_memory` sets, once per process, glibc's ``M_TOP_PAD`` (:data:`TOP_PAD`: the heap grows
by that much at a time and keeps that much when it trims) and ``M_MMAP_THRESHOLD`` (:data:`MMAP_THRESHOLD`,
the largest value glibc's own adjustment reaches; setting either one ends that adjustment), so that a step
finds the pages the last one freed whatever ran before. The price: up to :data:`TOP_PAD` of freed memory
per malloc arena (the main one, and one per thread that allocates) stays with the process, and arrays
below :data:`MMAP_THRESHOLD` come from the heap, whose free memory glibc can give back only from its top:
a dataset built from shards of that size after ``set_optimizer`` would leave all its freed shards with
the process. So ``Trainer.fit`` starts with :func:`release_free_memory`, which gives back the heap's
free memory when it grew by more than :data:`RELEASE_ABOVE` (a loop written by hand does not).

Nothing is changed when the C library is not glibc, when the user set one of these thresholds
(``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_MAX_`` or the
same ``glibc.malloc`` tunables in ``GLIBC_TUNABLES``), or when ``LAYERWISE_KEEP_HEAP=0``.
"""

import ctypes
import os
import platform
import threading

#: bytes the heap keeps at its top (glibc's ``M_TOP_PAD``)
TOP_PAD = 64 << 20
#: arrays from this size on get pages of their own (glibc's ``M_MMAP_THRESHOLD``; 32 MiB is its dynamic maximum)
MMAP_THRESHOLD = 32 << 20
M_TOP_PAD, M_MMAP_THRESHOLD = -2, -3    # glibc's <malloc.h>
#: Trainer.fit gives back the heap's free memory when it grew by more than this (release_free_memory)
RELEASE_ABOVE = 2 * TOP_PAD

_OURS = ("top_pad", "mmap_threshold", "trim_threshold", "mmap_max")    # what these settings decide
_lock = threading.Lock()
_done = False
_kept = False           # keep_freed_memory set both thresholds
_free_after_release = 0     # the heap's free bytes (mallinfo2) right after the last release_free_memory


def keep_freed_memory():
    """Set ``M_TOP_PAD`` and ``M_MMAP_THRESHOLD`` on glibc, once per process; True when this call set both.
    See the module's text."""
    global _done
    if _done:
        return False
    with _lock:
        if _done:
            return False
        _done = True
        if not _allowed():
            return False
        mallopt = _mallopt()
        if mallopt is None:
            return False
        # the threshold first: where glibc refuses it (32-bit builds cap it at 512 KiB), the pad alone would
        # freeze the threshold at 128 KiB, and nothing is set
        global _kept
        _kept = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TOP_PAD, TOP_PAD) == 1
        return _kept


def release_free_memory():
    """Give the kernel back the free memory in malloc's heap (glibc's ``malloc_trim``) when it has grown by more
    than :data:`RELEASE_ABOVE` since the last time, once :func:`keep_freed_memory` has set the thresholds;
    True when it did.

    ``Trainer.fit`` calls it as it starts: arrays of less than :data:`MMAP_THRESHOLD` come from the heap,
    so a dataset assembled from shards after ``set_optimizer`` would otherwise leave its freed shards with
    the process. The measure is glibc's ``mallinfo2`` (2.33 and later; without it nothing is given back),
    whose free bytes include memory already given back and small fragments no trim can return: hence
    "grown since the last time", so that fit after fit does not trim for nothing and fault its working set
    in again."""
    global _free_after_release
    if not _kept:
        return False
    libc = _libc()
    free = _free_heap_bytes(libc)
    if free is None or free - _free_after_release <= RELEASE_ABOVE:
        return False
    libc.malloc_trim(0)
    _free_after_release = _free_heap_bytes(libc)
    return True


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _free_heap_bytes(libc):
    """The free bytes in malloc's arenas (glibc's ``mallinfo2``, 2.33 and later), or None."""
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return None
    fn.argtypes, fn.restype = (), _Mallinfo2
    return fn().fordblks


def _libc():
    return ctypes.CDLL(None)


def _mallopt():
    """The C library's ``mallopt``, or None."""
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def _allowed():
    """False when the C library is not glibc or the environment says to leave malloc alone."""
    env = os.environ
    if env.get("LAYERWISE_KEEP_HEAP", "1").strip() == "0":
        return False
    tunables = env.get("GLIBC_TUNABLES", "")
    if any(f"MALLOC_{name.upper()}_" in env or f"glibc.malloc.{name}" in tunables for name in _OURS):
        return False
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
