"""A loopback HTTP server and small MNIST-like IDX folders for the data tests."""

import hashlib
import http.server
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from layerwise.data import write_idx

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def sha(data):
    return hashlib.sha256(data).hexdigest()


@dataclass
class Loopback:
    """A server on 127.0.0.1 serving ``folder``; ``hits`` lists the paths requested."""

    url: str
    folder: Path
    hits: list = field(default_factory=list)


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/'served'. Paths under /short/ answer with a Content-Length of 1000 and then
    hang up after 7 bytes, like a connection that drops mid-download."""
    folder = tmp_path / "served"
    folder.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path.startswith("/short/"):
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"partial")
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield Loopback(f"http://127.0.0.1:{httpd.server_address[1]}/", folder, hits)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port():
    """A base URL on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def silent_port():
    """A base URL whose socket accepts connections (kernel backlog) but never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()


@pytest.fixture
def fake_mnist():
    """``make(folder, n_train=40, n_test=10, side=28)`` writes four small IDX files in the MNIST layout
    (labels cycle through 0..9) and returns ``{filename: sha256}``."""

    def make(folder, n_train=40, n_test=10, side=28, seed=0):
        rng = np.random.default_rng(seed)
        folder = Path(folder)
        for prefix, n in (("train", n_train), ("t10k", n_test)):
            images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
            if n:
                images[0, 0, 0], images[-1, 0, 0] = 0, 255
            write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
            write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
        return {name: sha((folder / name).read_bytes()) for name in IDX_NAMES}

    return make
