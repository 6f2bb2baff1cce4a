"""Fetch dataset files from a list of mirrors, sha256-checked, written atomically."""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DownloadError

# sha256 of the files as published (the same values appear in TensorFlow Datasets' checksums,
# torchvision's mirrors list and many projects that pin them)
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
FILES = {"mnist": MNIST_FILES, "fashion_mnist": FASHION_MNIST_FILES}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}


def cache_dir():
    """``$LAYERWISE_DATA`` if set, else ``~/.cache/layerwise``."""
    return Path(os.environ.get("LAYERWISE_DATA") or Path.home() / ".cache" / "layerwise").expanduser()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url, dest_dir, filename, sha256, timeout):
    """Stream ``url`` into a temp file, hashing as it goes; rename into place only if the hash matches."""
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 16), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != sha256:
            raise ValueError(f"sha256 mismatch (expected {sha256[:12]}..., got {h.hexdigest()[:12]}...)")
        os.replace(tmp, Path(dest_dir) / filename)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download(filename, sha256, dest_dir, mirrors, *, timeout=30):
    """``dest_dir/filename`` with the right sha256, fetched from the first mirror that delivers it.

    A file already there with the right checksum is kept; one with a wrong checksum is fetched again.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / filename
    if target.is_file() and sha256_of(target) == sha256:
        return target
    reasons = []
    for base in mirrors:
        url = base if base.endswith(filename) else base.rstrip("/") + "/" + filename
        try:
            _fetch(url, dest_dir, filename, sha256, timeout)
            return target
        except urllib.error.HTTPError as e:
            reasons.append(f"{url}: HTTP {e.code}")
        except urllib.error.URLError as e:
            reasons.append(f"{url}: {getattr(e.reason, 'strerror', None) or e.reason}")
        except (OSError, ValueError) as e:
            reasons.append(f"{url}: {e}")
    raise DownloadError(f"{filename}: no mirror delivered it: " + "; ".join(reasons or ["no mirrors given"]))


def fetch_dataset_files(name, dest_dir=None, mirrors=None, files=None, *, timeout=30):
    """Download the four files of ``name`` ("mnist" or "fashion_mnist") into ``dest_dir``; returns it."""
    dest = Path(dest_dir) if dest_dir else cache_dir() / name
    for filename, digest in (files or FILES[name]).items():
        download(filename, digest, dest, mirrors or MIRRORS[name], timeout=timeout)
    return dest
