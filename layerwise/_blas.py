"""``y += a x`` and ``y = a x + b y`` in one pass, on NumPy's own BLAS when it can, in NumPy otherwise.

NumPy has no fused multiply-add of two arrays, so ``y += a * x`` costs it two passes (the product
into a scratch, then the sum) on one core. The OpenBLAS that NumPy's wheels bundle exports ``axpy``
(on its threads for more than 10,000 elements) and ``axpby`` (one thread), reached here through ctypes,
from the very library NumPy loaded (the same thread pool; ``threadpoolctl`` finds its file).
For the optimizers' updates of large weights this pays twice: one pass instead of two, and on
the two BLAS threads each core writes the part of the weight it read in the last product
(``python scripts/bench_mlp.py``, variant (f), and ``scripts/bench_update.py``). Results agree with
NumPy's to rounding: BLAS computes ``a * x + y`` with one rounding (a fused multiply-add).

The BLAS path is taken only when it is safe and pays: float32 or float64 in native byte order, both
arrays of one shape, both C-contiguous (or both Fortran-contiguous), aligned, ``y`` writeable, not
partly overlapping, coefficients not 0 (BLAS skips such a term, so an inf or NaN in it would not
spread as it does in NumPy), and at least :data:`MIN_BYTES` (below that the ctypes call costs more than the
second pass). Everything else, and any NumPy whose BLAS is not its bundled OpenBLAS, goes through
NumPy: the same results to rounding.
"""

import contextlib
import ctypes
import os
import threading

import numpy as np

#: smallest ``y`` (in bytes) sent to BLAS: a ctypes call costs about 3 us, NumPy's two passes over
#: 64 KiB of float32 about as much (``scripts/bench_update.py`` prints both)
MIN_BYTES = 64 * 1024

_FUNCTIONS = None           # resolved on first use: {dtype char: (axpy, axpby, largest n)} or {} (no BLAS)
_numpy_only = 0             # numpy_only() blocks open, in any thread
_lock = threading.Lock()
_PLAIN = (np.ndarray, np.memmap)


@contextlib.contextmanager
def numpy_only():
    """While any such block is open (in any thread) every call takes the NumPy path: benchmarks and
    tests compare the two."""
    global _numpy_only
    with _lock:
        _numpy_only += 1
    try:
        yield
    finally:
        with _lock:
            _numpy_only -= 1


def _address(a):
    """The address of ``a``'s data: ``a.ctypes.data`` builds a ctypes object (about 1 us, two per call: a
    third of a 64 KiB weight's ``axpy``); a ctypes view of the buffer costs about a third of that. Arrays that
    will not export a writable C-contiguous buffer (read-only, Fortran order) take ``ctypes.data``."""
    flags = a.flags
    if flags.writeable and flags.c_contiguous:
        try:
            return ctypes.addressof(ctypes.c_char.from_buffer(a))
        except (TypeError, ValueError, BufferError):
            pass
    return a.ctypes.data


def axpy(a, x, y, tmp):
    """``y += a * x`` in place, with the values ``x`` and ``y`` hold before the call (even when they overlap).

    ``tmp`` (like ``y``, sharing no memory with it) is scratch for the NumPy path; it may be ``x``
    itself when ``x`` may be overwritten.
    """
    fns = _blas_for(x, y) if a != 0 else None    # BLAS skips a zero term: 0 * inf would not be NaN
    if fns is not None:
        fns[0](y.size, float(a), _address(x), 1, _address(y), 1)
        return
    np.multiply(x, a, out=tmp)
    y += tmp


def axpby(a, x, b, y, tmp):
    """``y = a * x + b * y`` in place. ``tmp`` as in :func:`axpy`."""
    fns = _blas_for(x, y) if a != 0 and b != 0 else None
    if fns is not None:
        fns[1](y.size, float(a), _address(x), 1, float(b), _address(y), 1)
        return
    if a == 1 and not np.may_share_memory(x, y):
        y *= b
        y += x
    else:
        np.multiply(x, a, out=tmp)
        y *= b
        y += tmp


def _blas_for(x, y):
    """``(axpy, axpby, largest n)`` for ``x`` and ``y``'s dtype when the BLAS path is safe and pays, else None."""
    if _numpy_only or y.nbytes < MIN_BYTES or x.dtype != y.dtype or x.shape != y.shape:
        return None
    fns = (_FUNCTIONS if _FUNCTIONS is not None else _load()).get(y.dtype.char)
    if fns is None or y.size > fns[2] or type(x) not in _PLAIN or type(y) not in _PLAIN:
        return None             # (a masked array's mask, a matrix's rules: NumPy's path)
    fx, fy = x.flags, y.flags
    if not (fy.writeable and fx.aligned and fy.aligned and y.dtype.isnative
            and ((fx.c_contiguous and fy.c_contiguous) or (fx.f_contiguous and fy.f_contiguous))):
        return None
    if x is not y and np.may_share_memory(x, y):
        return None             # views of one buffer: BLAS could read values it has already written
    return fns


def _load():
    """Find NumPy's bundled OpenBLAS and its ``cblas_?axpy`` / ``cblas_?axpby``; ``{}`` when there is none."""
    global _FUNCTIONS
    _FUNCTIONS = {}
    try:
        from threadpoolctl import threadpool_info
        infos = threadpool_info()
    except Exception:           # noqa: BLE001 - no threadpoolctl, or it cannot inspect: NumPy path
        return _FUNCTIONS
    numpy_dirs = _numpy_dirs()
    for info in infos:
        path = os.path.realpath(info.get("filepath") or "")
        if info.get("internal_api") != "openblas" or not any(path.startswith(d) for d in numpy_dirs):
            continue
        try:
            _FUNCTIONS = _bind(ctypes.CDLL(path))
        except (OSError, AttributeError):
            _FUNCTIONS = {}
        break
    return _FUNCTIONS


def _numpy_dirs():
    """Where NumPy's wheels keep their bundled libraries (numpy.libs, numpy/.dylibs, numpy/.libs)."""
    here = os.path.realpath(os.path.dirname(np.__file__))
    return [here + ".libs" + os.sep, os.path.join(here, ".dylibs") + os.sep, os.path.join(here, ".libs") + os.sep]


def _bind(lib):
    """``{"f": (saxpy, saxpby, largest n), "d": (daxpy, daxpby, n)}`` from NumPy's OpenBLAS (scipy-openblas)."""
    for suffix, integer in (("64_", ctypes.c_int64), ("", ctypes.c_int32)):     # ILP64 (NumPy 2), LP64
        if hasattr(lib, f"scipy_cblas_saxpy{suffix}"):
            break
    else:
        return {}
    out = {}
    for char, letter, real in (("f", "s", ctypes.c_float), ("d", "d", ctypes.c_double)):
        axpy_fn = getattr(lib, f"scipy_cblas_{letter}axpy{suffix}")
        axpby_fn = getattr(lib, f"scipy_cblas_{letter}axpby{suffix}")
        axpy_fn.argtypes = [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
        axpby_fn.argtypes = [integer, real, ctypes.c_void_p, integer, real, ctypes.c_void_p, integer]
        axpy_fn.restype = axpby_fn.restype = None
        out[char] = (axpy_fn, axpby_fn, 2 ** (8 * ctypes.sizeof(integer) - 1) - 1)
    return out
