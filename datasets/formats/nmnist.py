"""N-MNIST / N-Caltech101 ``.bin``: headerless 5-byte records (Orchard et al. 2015).

The files carry no sensor size. Both datasets were recorded with an ATIS camera (304 x 240); N-MNIST
samples fit 34 x 34, so pass ``sensor_size=(34, 34)`` for them.
"""
from __future__ import annotations

import numpy as np

from ...kernels import decode as K
from .base import WordSource, checked_size

ATIS_SIZE = (304, 240)


class NmnistSource(WordSource):
    format = "nmnist-bin"
    word_dtype = np.dtype(("u1", (5,)))
    kernel = staticmethod(K.decode_bin)


def open_bin(path, sensor_size=None) -> NmnistSource:
    """Open a ``.bin`` file; without ``sensor_size`` the ATIS sensor (304, 240) is assumed."""
    size = checked_size(path, sensor_size, ATIS_SIZE)
    return NmnistSource(path, 0, size, {"sensor_size_from": "caller" if sensor_size is not None else "ATIS default"})
