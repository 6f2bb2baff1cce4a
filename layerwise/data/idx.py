"""The IDX format of the MNIST files: a magic number, big-endian dimensions, then raw values.

The magic number is four bytes: two zero bytes, a type code (table ``IDX_TYPES``) and the number of
dimensions. Each dimension follows as a big-endian uint32, then the values in C order, big-endian.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..checkpoint import atomic_open
from ..errors import DataError

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_TYPE_NAMES = "0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64"
_CODES = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}
# deflate cannot expand data more than about 1032:1, so a .gz file of n bytes holds at most
# 1032 * n bytes: a header asking for more is corrupt, and nothing that large is allocated
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def _read_into(f, view):
    """Fill the memoryview ``view`` from ``f``; return how many bytes came before end of file."""
    got = 0
    while got < len(view):
        # bounded reads: gzip's readinto decompresses into a temporary bytes object of the request's size
        n = f.readinto(view[got:got + _CHUNK])
        if not n:
            break
        got += n
    return got


def _count_rest(f):
    n = 0
    for block in iter(lambda: f.read(_CHUNK), b""):
        n += len(block)
    return n


def _parse(f, name, max_bytes):
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{name}: too short to be an IDX file: {len(head)} bytes, the magic number alone "
                        "needs 4.")
    zero, code, ndim = struct.unpack(">HBB", head)
    if zero != 0:
        raise DataError(f"{name}: bad IDX magic number 0x{head.hex()}: the first two bytes must be zero.")
    if code not in IDX_TYPES:
        raise DataError(f"{name}: bad IDX magic number 0x{head.hex()}: unknown type code 0x{code:02X} "
                        f"(expected one of {_TYPE_NAMES}).")
    if ndim == 0:
        raise DataError(f"{name}: bad IDX magic number 0x{head.hex()}: it gives 0 dimensions.")
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{name}: truncated IDX header: {ndim} dimensions need {4 * ndim} bytes after the "
                        f"magic number, got {len(raw_dims)}.")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = IDX_TYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a corrupt header cannot overflow
    what = f"bytes of data for shape {dims}"
    if expected > max_bytes:
        raise DataError(f"{name}: truncated IDX file: expected {expected} {what}, got {_count_rest(f)}.")
    try:        # a product within bounds can still be no array: a zero beside huge sizes, or over 64 dimensions
        array = np.empty(dims, dtype=dtype)
    except (ValueError, MemoryError) as err:
        raise DataError(f"{name}: bad IDX header: NumPy cannot make an array of shape {dims} ({err}).") from None
    got = _read_into(f, memoryview(array.reshape(-1).view(np.uint8)))
    if got < expected:
        raise DataError(f"{name}: truncated IDX file: expected {expected} {what}, got {got}.")
    extra = _count_rest(f)
    if extra:
        raise DataError(f"{name}: {extra} unexpected trailing bytes after the {expected} {what}.")
    if not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


def read_idx(path):
    """Read an IDX file, gzipped or not (told by its first bytes, not its name), into a native-endian array.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray
        Writable, C-contiguous, of the file's dtype and shape.

    Raises
    ------
    DataError
        Naming the file and what is wrong: no such file, a corrupt gzip stream, the magic number,
        a truncated header, or a payload shorter or longer than the dimensions say.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: " + ("is a folder, not an IDX file." if path.is_dir() else "no such file."))
    try:
        size = path.stat().st_size
        with open(path, "rb") as raw:
            # the gzip magic number, whatever the name: a browser may save the .gz files unpacked, names kept
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not gzipped:
                return _parse(raw, str(path), size)
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    return _parse(f, str(path), size * _MAX_DEFLATE_RATIO)
            except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                raise DataError(f"{path}: corrupt or truncated gzip stream ({e or type(e).__name__}).") from None
    except OSError as e:        # opening or reading the file itself: permission, I/O error
        raise DataError(f"{path}: cannot read the file ({e.strerror or e}).") from None


def _write(f, header, payload):
    f.write(header)
    f.write(memoryview(payload.reshape(-1).view(np.uint8)))


def write_idx(path, array):
    """Write ``array`` as an IDX file, gzipped if the name ends in .gz, atomically.

    The bytes go to a temp file in the same folder, which then replaces ``path``: a crash leaves
    either the old file or the new one, never a partial file.

    Parameters
    ----------
    path : str or path-like
    array : array_like of uint8, int8, int16, int32, float32 or float64, with >= 1 dimension

    Returns
    -------
    pathlib.Path
    """
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODES or array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX stores uint8, int8, int16, int32, float32 or float64 arrays with 1 to 255 "
                         f"dimensions. Got {array.dtype} with shape {array.shape} instead.")
    if max(array.shape) >= 2 ** 32:
        raise ValueError(f"IDX dimensions must be < 2**32. Got shape {array.shape} instead.")
    code = _CODES[key]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_TYPES[code])
    path = Path(path)
    with atomic_open(path) as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename=path.name, fileobj=raw, mode="wb", mtime=0) as f:
                _write(f, header, payload)
        else:
            _write(raw, header, payload)
    return path
