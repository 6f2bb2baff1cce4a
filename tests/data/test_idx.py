"""IDX files: round trip and clear errors on damaged files."""

import gzip
import struct

import numpy as np
import pytest

from layerwise.data import read_idx, write_idx
from layerwise.errors import DataError


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 1, 3, 3)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, shape, name, rng):
    array = (rng.uniform(-100, 100, size=shape)).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype and back.dtype.isnative and np.array_equal(back, array)


def test_mnist_header_layout_is_the_published_one(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((2, 28, 28), np.uint8))
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert raw[:4] == b"\x00\x00\x08\x03" and struct.unpack(">3I", raw[4:16]) == (2, 28, 28)


def _write_raw(path, payload):
    path.write_bytes(gzip.compress(payload))
    return path


@pytest.mark.parametrize("payload, message", [
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 2, 2) + bytes(5), "truncated IDX file: expected 8 bytes"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes(3), "1 unexpected trailing bytes"),
    (b"\x01\x02\x08\x01" + struct.pack(">I", 2) + bytes(2), "bad IDX magic number 0x01020801"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + bytes(2), "bad IDX magic number"),
    (b"\x00\x00\x08\x03" + bytes(4), "truncated IDX header"),
    (b"\x00\x00", "too short"),
])
def test_damaged_files_name_the_file_and_the_problem(tmp_path, payload, message):
    path = _write_raw(tmp_path / "train-images-idx3-ubyte.gz", payload)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_corrupt_gzip_is_reported(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 4) + bytes(4))[:-6])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        read_idx(path)
