"""Fetch dataset files from a list of mirrors with pooch, sha256-checked, written atomically.

Nothing here touches the network until :func:`download` or :func:`fetch_dataset_files` is called.
"""

import http.client
import os
import socket
import sys
from pathlib import Path

import pooch
import requests

from ..errors import DataError, DownloadError, MissingDownloadError

# sha256 of the published files, as listed (with the sizes 9912422, 28881, 1648877, 4542 for MNIST and
# 26421880, 29515, 4422102, 5148 for Fashion-MNIST) in TensorFlow Datasets'
# tensorflow_datasets/url_checksums/mnist.txt and fashion_mnist.txt; the same values are pinned by
# independent projects (torch.rb's MNIST mirrors list, Fashion-MNIST loaders that check sha256).
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
    """Where downloads go: ``$LAYERWISE_DATA`` if set, else ``~/.cache/layerwise``.

    Returns
    -------
    pathlib.Path
    """
    return Path(os.environ.get("LAYERWISE_DATA") or Path.home() / ".cache" / "layerwise").expanduser()


class _HashingDownloader:
    """pooch's HTTP downloader that also keeps the sha256 of the last file it fetched, so that a
    checksum mismatch can say what came."""

    def __init__(self, timeout, progressbar):
        self._http = pooch.HTTPDownloader(timeout=timeout, progressbar=progressbar)
        self.sha256 = None

    def __call__(self, url, output_file, pooch_instance):
        self.sha256 = None
        self._http(url, output_file, pooch_instance)
        self.sha256 = pooch.file_hash(output_file)


def _causes(e):
    """``e`` and the exceptions it was raised from, outermost first."""
    while e is not None:
        yield e
        e = e.__cause__ or e.__context__


def _reason(e, expected, got, timeout):
    """One short phrase for why a mirror failed, from the exception types in the chain."""
    if isinstance(e, requests.HTTPError):
        return f"HTTP {e.response.status_code} {e.response.reason}".rstrip()
    if isinstance(e, requests.Timeout):
        return f"timed out after {timeout} s"
    if isinstance(e, ValueError) and got is not None and got != expected:
        return f"sha256 mismatch (expected {expected[:12]}..., got {got[:12]}...)"
    for cause in _causes(e):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"unknown host ({cause.strerror})"
        if isinstance(cause, http.client.IncompleteRead):  # urllib3 keeps a byte count in ``partial``
            read = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            return f"connection closed after {read} of {read + cause.expected} bytes"
    if isinstance(e, requests.ConnectionError):
        return f"connection broken ({type(e).__name__})"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def download(filename, sha256, dest_dir, mirrors, *, timeout=30):
    """``dest_dir/filename`` with the right sha256, fetched from the first mirror that delivers it.

    Parameters
    ----------
    filename : str
        Appended to each mirror's base URL.
    sha256 : str
        Hex digest the file must have.
    dest_dir : str or path-like
        Created if missing.
    mirrors : list of str
        Base URLs, tried in order.
    timeout : float, default 30
        Seconds for connecting and for each read.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DownloadError
        When no mirror delivered the file, naming each URL and its reason (connection refused, HTTP
        error, timeout, connection closed early, sha256 mismatch).

    Notes
    -----
    Each mirror is one :func:`pooch.retrieve`: a file already there with the right checksum is kept
    without touching the network, one with a wrong checksum is fetched again. pooch streams into a
    temp file in ``dest_dir`` and moves it to the final name only once its sha256 matched, so a failed
    or interrupted download never leaves a partial file. The progress bar is shown only when stderr
    is a terminal.
    """
    if isinstance(mirrors, (str, bytes)):
        mirrors = [mirrors]
    sha256 = sha256.lower()
    dest_dir = Path(dest_dir)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{filename}: cannot use the folder {dest_dir}: {e.strerror or e}.") from None
    local = dest_dir / filename
    if local.is_file() and pooch.file_hash(str(local)) == sha256:
        return local            # intact: kept without a mirror (pooch.retrieve checks this too, once per mirror)
    fetch = _HashingDownloader(timeout, progressbar=sys.stderr.isatty())
    reasons = []
    logger = pooch.get_logger()       # its "Downloading/Updating ..." lines: the error below says it all
    level = logger.level
    logger.setLevel("WARNING")
    try:
        for base in mirrors:
            url = (base if base.endswith("/") else base + "/") + filename
            try:
                pooch.retrieve(url, f"sha256:{sha256}", fname=filename, path=dest_dir, downloader=fetch)
                return dest_dir / filename
            except (OSError, ValueError) as e:  # requests' errors are OSErrors
                reasons.append(f"{url}: {_reason(e, sha256, fetch.sha256, timeout)}")
    finally:
        logger.setLevel(level)
    kept = (f" The file already in {dest_dir} was kept, but its sha256 ({pooch.file_hash(str(local))[:12]}...) is not "
            f"the published one ({sha256[:12]}...): it is damaged, or another copy of the data." if local.is_file() else "")
    raise (DownloadError if kept else MissingDownloadError)(
        f"{filename}: no mirror delivered it: " + ("; ".join(reasons) or "no mirrors given") + "." + kept)


def fetch_dataset_files(name, dest_dir=None, mirrors=None, files=None, *, timeout=30):
    """Download the files of dataset ``name`` into ``dest_dir`` (those already there and intact are kept).

    Parameters
    ----------
    name : {"mnist", "fashion_mnist"}
    dest_dir : str or path-like, optional
        Default ``cache_dir() / name``.
    mirrors : list of str, optional
        Base URLs; default ``MIRRORS[name]``.
    files : dict of str to str, optional
        Filename to sha256; default ``MNIST_FILES`` or ``FASHION_MNIST_FILES``.
    timeout : float, default 30

    Returns
    -------
    pathlib.Path
        The folder.
    """
    if name not in FILES and (files is None or mirrors is None):
        raise DataError(f"No files or mirrors are known for dataset {name!r}; expected one of "
                        f"{', '.join(FILES)}, or pass both files and mirrors.")
    dest = Path(dest_dir) if dest_dir is not None else cache_dir() / name
    for filename, digest in (FILES[name] if files is None else files).items():
        download(filename, digest, dest, MIRRORS[name] if mirrors is None else mirrors, timeout=timeout)
    return dest
