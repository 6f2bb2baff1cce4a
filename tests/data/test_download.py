"""Downloads against a loopback HTTP server that the tests start: mirrors, checksums, atomic files."""

import hashlib
import http.server
import socket
import threading
from functools import partial

import numpy as np
import pytest

from layerwise.data import download, fetch_dataset_files, load_dataset, write_idx
from layerwise.errors import DataError, DownloadError


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/'served' on 127.0.0.1 at a free port; yields (base_url, folder, hits)."""
    folder = tmp_path / "served"
    folder.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", folder, hits
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_good_file_is_downloaded_and_verified(server, tmp_path):
    base, folder, _ = server
    (folder / "f.bin").write_bytes(b"payload")
    path = download("f.bin", sha(b"payload"), tmp_path / "cache", [base])
    assert path.read_bytes() == b"payload"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["f.bin"]


def test_wrong_checksum_falls_through_to_the_next_mirror(server, tmp_path):
    base, folder, _ = server
    (folder / "bad").mkdir()
    (folder / "bad" / "f.bin").write_bytes(b"tampered")
    (folder / "f.bin").write_bytes(b"payload")
    path = download("f.bin", sha(b"payload"), tmp_path / "cache", [base + "bad/", base])
    assert path.read_bytes() == b"payload"


def test_all_mirrors_failing_names_each_reason_and_leaves_no_file(server, closed_port, tmp_path):
    base, folder, _ = server
    (folder / "f.bin").write_bytes(b"tampered")
    with pytest.raises(DownloadError) as err:
        download("f.bin", sha(b"payload"), tmp_path / "cache", [closed_port, base, base + "missing/"])
    msg = str(err.value)
    assert msg.startswith("f.bin: no mirror delivered it")
    assert closed_port in msg and "sha256 mismatch" in msg and "HTTP 404" in msg
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_good_file_on_disk_is_not_fetched_again_but_a_bad_one_is(server, tmp_path):
    base, folder, hits = server
    (folder / "f.bin").write_bytes(b"payload")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "f.bin").write_bytes(b"payload")
    download("f.bin", sha(b"payload"), cache, [base])
    assert hits == []
    (cache / "f.bin").write_bytes(b"half")
    download("f.bin", sha(b"payload"), cache, [base])
    assert (cache / "f.bin").read_bytes() == b"payload" and len(hits) == 1


def _fake_mnist(folder, n_train=40, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    return {f.name: sha(f.read_bytes()) for f in folder.iterdir()}


def test_mnist_download_then_load_from_the_cache(server, tmp_path, monkeypatch):
    base, folder, _ = server
    files = _fake_mnist(folder)
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "cache"))
    import importlib
    monkeypatch.setitem(importlib.import_module("layerwise.data.download").FILES, "mnist", files)
    data = load_dataset("mnist", download=True, mirrors=[base], val_fraction=0.25)
    assert (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    assert data.X_train.shape == (30, 1, 28, 28) and data.X_val.shape == (10, 1, 28, 28)
    assert data.X_test.shape == (10, 1, 28, 28) and data.X_train.dtype == np.float32
    assert 0 <= data.X_train.min() and data.X_train.max() <= 1
    assert list(data.classes) == list(range(10))


def test_mnist_missing_files_without_download_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte.gz.*data.download: true"):
        load_dataset("mnist", path=str(tmp_path))


def test_fetch_dataset_files_uses_the_published_checksums_by_default(server, tmp_path):
    base, folder, _ = server
    _fake_mnist(folder)  # not the real files: their checksums cannot match the published ones
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch_dataset_files("mnist", tmp_path / "dest", mirrors=[base])
