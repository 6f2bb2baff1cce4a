"""The IDX format of the MNIST files: a magic number, big-endian dimensions, then raw values."""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

# type code -> big-endian dtype
IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dt.newbyteorder("=").str.lstrip("<>|="): code for code, dt in IDX_TYPES.items()}


def _read_bytes(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path.name}: corrupt or truncated gzip file ({e}).") from None
    return raw


def read_idx(path):
    """Read an IDX file (gzipped if its name ends in .gz) into a native-endian array.

    Raises
    ------
    DataError
        Naming the file and what is wrong: magic number, type code, dimensions, or length.
    """
    name = Path(path).name
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(data)} bytes).")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_TYPES or ndim == 0:
        raise DataError(f"{name}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000, a type code "
                        "among 08 09 0B 0C 0D 0E, and the number of dimensions).")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header: {ndim} dimensions need {header} bytes, got {len(data)}.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise DataError(f"{name}: truncated IDX file: expected {expected} bytes of data for shape {dims}, got {got}.")
    if got > expected:
        raise DataError(f"{name}: {got - expected} unexpected trailing bytes after the data for shape {dims}.")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1) if dtype.itemsize > 1 else array


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzipped if the name ends in .gz), atomically."""
    from ..checkpoint import atomic_write
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str.lstrip("<>|=")
    if key not in _CODES or array.ndim == 0:
        raise ValueError(f"IDX stores uint8, int8, int16, int32, float32 or float64 arrays of >= 1 dimension; "
                         f"got {array.dtype} with shape {array.shape}.")
    code = _CODES[key]
    payload = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    return atomic_write(path, payload)
