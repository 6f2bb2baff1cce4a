"""IDX files: round trip, the published header layout, and clear errors on damaged files."""

import gzip
import re
import struct

import numpy as np
import pytest

import layerwise.data.idx as idx_module
from layerwise.data import read_idx, write_idx
from layerwise.errors import DataError

DTYPES = ["uint8", "int8", ">i2", "<i2", "int32", "float32", "float64", ">f8"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 1, 3, 3), (0, 28, 28)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, shape, name, rng):
    array = rng.uniform(-100, 100, size=shape).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype.newbyteorder("=") and back.dtype.isnative
    assert back.shape == shape and np.array_equal(back, array)
    assert back.flags.writeable and back.flags.c_contiguous


def test_mnist_header_layout_is_the_published_one(tmp_path):
    write_idx(tmp_path / "x.gz", np.arange(2 * 28 * 28, dtype=np.int32).reshape(2, 28, 28))
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert raw[:4] == b"\x00\x00\x0c\x03" and struct.unpack(">3I", raw[4:16]) == (2, 28, 28)
    assert struct.unpack(">2i", raw[16:24]) == (0, 1)  # values are big-endian


def test_write_is_deterministic_and_leaves_no_temp_files(tmp_path):
    write_idx(tmp_path / "a.gz", np.ones((3, 3), np.uint8))
    first = (tmp_path / "a.gz").read_bytes()
    write_idx(tmp_path / "a.gz", np.ones((3, 3), np.uint8))
    assert (tmp_path / "a.gz").read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_idx(tmp_path / "a.gz", np.zeros(4, np.uint8))
    old = (tmp_path / "a.gz").read_bytes()

    def fail(f, header, payload):
        f.write(header)
        raise KeyboardInterrupt

    monkeypatch.setattr(idx_module, "_write", fail)
    with pytest.raises(KeyboardInterrupt):
        write_idx(tmp_path / "a.gz", np.ones(4, np.uint8))
    assert (tmp_path / "a.gz").read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["a.gz"]


@pytest.mark.parametrize("array", [np.zeros(3, np.int64), np.zeros(3, bool), np.float64(1.0)])
def test_write_rejects_what_idx_cannot_store(tmp_path, array):
    with pytest.raises(ValueError, match="IDX stores uint8, int8, int16, int32, float32 or float64"):
        write_idx(tmp_path / "a.idx", array)


def _header(code, *dims):
    return struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims)


@pytest.mark.parametrize("payload, message", [
    (_header(8, 3, 2, 2) + bytes(5), r"truncated IDX file: expected 12 bytes of data for shape \(3, 2, 2\), got 5\."),
    (_header(0x0B, 4) + bytes(9), r"1 unexpected trailing bytes after the 8 bytes of data for shape \(4,\)\."),
    (b"\x01\x02\x08\x01" + struct.pack(">I", 2) + bytes(2), "bad IDX magic number 0x01020801: the first two bytes"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + bytes(2), r"unknown type code 0x07 \(expected one of 0x08 uint8"),
    (b"\x00\x00\x08\x00", "it gives 0 dimensions"),
    (b"\x00\x00\x08\x03" + bytes(4), "truncated IDX header: 3 dimensions need 12 bytes after the magic number, got 4"),
    (b"\x00\x00", "too short to be an IDX file: 2 bytes"),
    (_header(8, 60000, 28, 28) + bytes(1000), r"expected 47040000 bytes of data for shape \(60000, 28, 28\), got 1000"),
    (_header(8, 2 ** 31, 2 ** 31, 2 ** 31), "truncated IDX file: expected 9903520314283042199192993792 bytes"),
    # no bytes are expected, yet no array has this shape: a zero beside sizes whose product overflows, and
    # more dimensions than NumPy's arrays have
    (_header(8, 0, 2 ** 32 - 1, 2 ** 32 - 1), r"bad IDX header: NumPy cannot make an array of shape \(0, 4294967295"),
    (_header(8, *[1] * 99, 0), r"bad IDX header: NumPy cannot make an array of shape \(1, 1, "),
])
@pytest.mark.parametrize("gz", [True, False])
def test_damaged_files_name_the_file_and_the_problem(tmp_path, payload, message, gz):
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    path = tmp_path / name
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert str(err.value).startswith(f"{path}: ")      # the whole path: which cache folder it was read from


def test_corrupt_gzip_streams_are_reported(tmp_path):
    good = gzip.compress(_header(8, 4) + bytes(4))
    cases = {
        "cut.gz": good[:-6],
        "crc.gz": good[:-8] + bytes([good[-8] ^ 1]) + good[-7:],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path / name))}: corrupt or truncated gzip stream"):
            read_idx(tmp_path / name)


def test_gzip_is_told_by_the_first_bytes_not_the_name(tmp_path):
    """A gzipped file without .gz got a hint to rename it, and an unpacked file that kept its .gz name (as a
    browser may save it) was a 'corrupt gzip stream'. Both are read."""
    (tmp_path / "labels.idx").write_bytes(gzip.compress(_header(8, 3) + bytes([1, 2, 3])))
    (tmp_path / "labels.gz").write_bytes(_header(8, 3) + bytes([4, 5, 6]))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.idx"), [1, 2, 3])
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), [4, 5, 6])


def test_a_file_that_cannot_be_read_is_not_called_corrupt(tmp_path, monkeypatch):
    """Any OSError of a .gz file, permission denied too, was reported as a corrupt or truncated gzip stream."""
    path = tmp_path / "x.gz"
    write_idx(path, np.arange(3, dtype=np.uint8))
    real_open = open

    def denied(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: cannot read the file \(Permission denied\)\.$"):
        read_idx(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="nope.gz: no such file"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(DataError, match="is a folder, not an IDX file"):
        read_idx(tmp_path)
