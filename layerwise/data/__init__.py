"""Datasets: real formats (IDX, npz, csv, scikit-learn's digits), downloads, splits."""

from .augment import Augment
from .datasets import DATASETS, KNOWN_SHAPES, Dataset, load_dataset
from .download import FASHION_MNIST_FILES, MIRRORS, MNIST_FILES, cache_dir, download, fetch_dataset_files
from .idx import read_idx, write_idx

__all__ = ["read_idx", "write_idx", "download", "fetch_dataset_files", "cache_dir", "MIRRORS", "MNIST_FILES",
           "FASHION_MNIST_FILES", "Dataset", "load_dataset", "DATASETS", "KNOWN_SHAPES", "Augment"]
