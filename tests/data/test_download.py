"""Downloads against a loopback HTTP server that the tests start: mirrors, checksums, atomic files."""

import hashlib
import io
import logging
import re
import subprocess
import sys
from pathlib import Path

import pooch
import pytest

from layerwise.data import FASHION_MNIST_FILES, MIRRORS, MNIST_FILES, cache_dir, download, fetch_dataset_files
from layerwise.errors import DataError, DownloadError

GOOD = b"payload" * 1000
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_good_file_is_downloaded_and_verified(server, tmp_path):
    (server.folder / "f.bin").write_bytes(GOOD)
    path = download("f.bin", sha(GOOD), tmp_path / "cache", [server.url])
    assert path == tmp_path / "cache" / "f.bin" and path.read_bytes() == GOOD
    assert files_in(tmp_path / "cache") == ["f.bin"] and server.hits == ["/f.bin"]


def test_a_base_url_without_a_trailing_slash_works(server, tmp_path):
    (server.folder / "f.bin").write_bytes(GOOD)
    assert download("f.bin", sha(GOOD), tmp_path, [server.url.rstrip("/")]).read_bytes() == GOOD


def test_wrong_checksum_falls_through_to_the_next_mirror(server, tmp_path):
    (server.folder / "bad").mkdir()
    (server.folder / "bad" / "f.bin").write_bytes(b"tampered")
    (server.folder / "f.bin").write_bytes(GOOD)
    path = download("f.bin", sha(GOOD), tmp_path / "cache", [server.url + "bad/", server.url])
    assert path.read_bytes() == GOOD and server.hits == ["/bad/f.bin", "/f.bin"]
    assert files_in(tmp_path / "cache") == ["f.bin"]


def test_all_mirrors_failing_names_each_reason_and_leaves_no_file(server, closed_port, tmp_path):
    (server.folder / "f.bin").write_bytes(b"tampered")
    mirrors = [closed_port, server.url, server.url + "missing/", server.url + "short/"]
    with pytest.raises(DownloadError) as err:
        download("f.bin", sha(GOOD), tmp_path / "cache", mirrors)
    reasons = str(err.value).removeprefix("f.bin: no mirror delivered it: ").rstrip(".").split("; ")
    assert reasons == [
        f"{closed_port}f.bin: connection refused",
        f"{server.url}f.bin: sha256 mismatch (expected {sha(GOOD)[:12]}..., got {sha(b'tampered')[:12]}...)",
        f"{server.url}missing/f.bin: HTTP 404 File not found",
        f"{server.url}short/f.bin: connection closed after 7 of 1000 bytes",
    ]
    assert files_in(tmp_path / "cache") == []


def test_a_mirror_that_never_answers_times_out(silent_port, server, tmp_path):
    (server.folder / "f.bin").write_bytes(GOOD)
    path = download("f.bin", sha(GOOD), tmp_path, [silent_port, server.url], timeout=0.2)
    assert path.read_bytes() == GOOD
    with pytest.raises(DownloadError, match=r"g.bin: timed out after 0.2 s\.$"):
        download("g.bin", sha(GOOD), tmp_path, [silent_port], timeout=0.2)


def test_no_mirrors_is_an_error(tmp_path):
    with pytest.raises(DownloadError, match="f.bin: no mirror delivered it: no mirrors given"):
        download("f.bin", sha(GOOD), tmp_path, [])


def test_a_good_file_on_disk_is_not_fetched_again_but_a_bad_one_is(server, tmp_path):
    (server.folder / "f.bin").write_bytes(GOOD)
    (tmp_path / "f.bin").write_bytes(GOOD)
    download("f.bin", sha(GOOD), tmp_path, [server.url])
    assert server.hits == []
    (tmp_path / "f.bin").write_bytes(GOOD[:100])  # a partial copy from some other tool
    download("f.bin", sha(GOOD), tmp_path, [server.url])
    assert (tmp_path / "f.bin").read_bytes() == GOOD and server.hits == ["/f.bin"]


def test_an_interrupted_download_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    def ctrl_c_mid_stream(self, url, output_file, pooch_instance):
        with open(output_file, "wb") as out:
            out.write(b"x" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", ctrl_c_mid_stream)
    with pytest.raises(KeyboardInterrupt):
        download("f.bin", sha(GOOD), tmp_path, ["http://127.0.0.1:9/"])
    assert files_in(tmp_path) == []


FAILURES = {  # a base URL that fails, and the reason the error gives for it
    "refused": (lambda request, server: request.getfixturevalue("closed_port"), "connection refused"),
    "http_404": (lambda request, server: server.url + "missing/", "HTTP 404 File not found"),
    "short_read": (lambda request, server: server.url + "short/", "connection closed after 7 of 1000 bytes"),
    "checksum": (lambda request, server: server.url + "bad/", "sha256 mismatch"),
}  # timeouts: test_a_mirror_that_never_answers_times_out


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_each_kind_of_failure_falls_through_to_the_next_mirror(failure, request, server, tmp_path):
    make_url, reason = FAILURES[failure]
    bad = make_url(request, server)
    (server.folder / "bad").mkdir()
    for name in ("f.bin", "g.bin"):
        (server.folder / "bad" / name).write_bytes(b"tampered")
    (server.folder / "f.bin").write_bytes(GOOD)
    path = download("f.bin", sha(GOOD), tmp_path / "cache", [bad, server.url])
    assert path.read_bytes() == GOOD and server.hits[-1] == "/f.bin"
    assert files_in(tmp_path / "cache") == ["f.bin"]
    with pytest.raises(DownloadError, match=rf"^g.bin: no mirror delivered it: {re.escape(bad)}g.bin: {reason}"):
        download("g.bin", sha(GOOD), tmp_path / "cache", [bad])
    assert files_in(tmp_path / "cache") == ["f.bin"]


def test_a_bad_file_on_disk_is_reported_when_no_mirror_has_the_right_one(server, tmp_path):
    (server.folder / "f.bin").write_bytes(b"tampered")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "f.bin").write_bytes(GOOD[:100])
    with pytest.raises(DownloadError, match="f.bin: no mirror delivered it: .*sha256 mismatch") as caught:
        download("f.bin", sha(GOOD), tmp_path / "cache", [server.url])
    assert files_in(tmp_path / "cache") == ["f.bin"] and (tmp_path / "cache" / "f.bin").read_bytes() == GOOD[:100]
    # offline with a copy of other bytes (recompressed files): the message says why that copy was not taken
    assert str(caught.value).endswith(f"The file already in {tmp_path / 'cache'} was kept, but its sha256 "
                                      f"({sha(GOOD[:100])[:12]}...) is not the published one ({sha(GOOD)[:12]}...): "
                                      "it is damaged, or another copy of the data.")


def test_an_intact_file_on_disk_is_kept_with_no_mirror_at_all(tmp_path):
    """The docstring's promise; with an empty mirror list the loop never ran, and the error said the file's sha256
    was not the published one while printing the same digits for both."""
    (tmp_path / "f.bin").write_bytes(GOOD)
    assert download("f.bin", sha(GOOD).upper(), tmp_path, []) == tmp_path / "f.bin"
    (tmp_path / "f.bin").write_bytes(GOOD[:10])
    with pytest.raises(DownloadError, match=r"no mirrors given\. The file already .* was kept, but its sha256"):
        download("f.bin", sha(GOOD), tmp_path, [])


def test_pooch_says_nothing_on_stderr_when_a_file_is_fetched_again(server, closed_port, tmp_path):
    """pooch logs "Updating file ... from ..." at INFO on stderr: the one-line error is all a user sees."""
    records, level = [], pooch.get_logger().level
    handler = logging.Handler()
    handler.emit = records.append
    pooch.get_logger().addHandler(handler)
    try:
        (tmp_path / "f.bin").write_bytes(b"old copy")
        with pytest.raises(DownloadError, match="connection refused"):
            download("f.bin", sha(GOOD), tmp_path, [closed_port])
        (server.folder / "g.bin").write_bytes(GOOD)
        download("g.bin", sha(GOOD), tmp_path, [server.url])
    finally:
        pooch.get_logger().removeHandler(handler)
    assert [r.getMessage() for r in records] == []
    assert pooch.get_logger().level == level                # put back


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stderr", [io.StringIO, Terminal])
def test_the_progress_bar_is_shown_only_on_a_terminal(stderr, server, tmp_path, monkeypatch):
    (server.folder / "f.bin").write_bytes(GOOD)
    monkeypatch.setattr(sys, "stderr", stderr())
    download("f.bin", sha(GOOD), tmp_path, [server.url])
    shown = sys.stderr.getvalue()
    assert ("100%" in shown and "7.00k/7.00k" in shown) if stderr is Terminal else shown == ""


def test_fetch_dataset_files_with_a_files_override(server, tmp_path, fake_mnist):
    files = fake_mnist(server.folder)
    dest = fetch_dataset_files("mnist", tmp_path / "dest", mirrors=[server.url], files=files)
    assert dest == tmp_path / "dest" and files_in(dest) == sorted(IDX_NAMES)
    assert all(sha((dest / name).read_bytes()) == digest for name, digest in files.items())


def test_fetch_dataset_files_defaults_to_the_cache_and_the_published_checksums(server, tmp_path, monkeypatch,
                                                                               fake_mnist):
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "cache"))
    fake_mnist(server.folder)  # not the real files: their checksums cannot match the published ones
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz: no mirror .* sha256 mismatch"):
        fetch_dataset_files("fashion_mnist", mirrors=[server.url])
    assert files_in(tmp_path / "cache" / "fashion_mnist") == []


def test_fetch_dataset_files_rejects_unknown_names(tmp_path):
    with pytest.raises(DataError, match="dataset 'cifar10'; expected one of mnist, fashion_mnist"):
        fetch_dataset_files("cifar10", tmp_path)


def test_published_tables():
    for table in (MNIST_FILES, FASHION_MNIST_FILES):
        assert sorted(table) == sorted(IDX_NAMES)
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in table.values())
    assert MNIST_FILES["train-images-idx3-ubyte.gz"].startswith("440fcabf")
    assert FASHION_MNIST_FILES["train-images-idx3-ubyte.gz"].startswith("3aede38d")
    assert set(MIRRORS) == {"mnist", "fashion_mnist"} and all(u.endswith("/") for m in MIRRORS.values() for u in m)


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("LAYERWISE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "layerwise"


def test_importing_the_package_touches_no_network():
    code = ("import socket\n"
            "def refuse(*a, **k): raise AssertionError('network used at import time')\n"
            "socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse\n"
            "import layerwise.data, layerwise.data.download, layerwise.data.datasets\n")
    subprocess.run([sys.executable, "-c", code], check=True)
