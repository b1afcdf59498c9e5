"""``read(path)``: the format from the file's first bytes (its extension where it has no header).

=========  ==========================================  =========
format     recognised by                               extension
=========  ==========================================  =========
aedat4     magic ``#!AER-DAT4.0\\r\\n``                  .aedat4
hdf5       HDF5 signature (own or DSEC layout)         .h5 .hdf5
evt2/evt3  ``%`` header with ``% evt`` / ``% format``  .raw
dat        ``%`` header without them                   .dat
bin        none (N-MNIST / N-Caltech101)               .bin
=========  ==========================================  =========
"""
from __future__ import annotations

import os

from .aedat4 import MAGIC as AEDAT4_MAGIC, open_aedat4
from .base import Recording, Source, fail, header_lines
from .nmnist import open_bin
from .prophesee import evt_version, header_dict, open_dat, open_raw
from ..hdf5 import open_hdf5

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
OPENERS = {"aedat4": open_aedat4, "hdf5": open_hdf5, "raw": open_raw, "dat": open_dat, "bin": open_bin}
EXTENSIONS = {".aedat4": "aedat4", ".h5": "hdf5", ".hdf5": "hdf5", ".raw": "raw", ".dat": "dat", ".bin": "bin"}
SUPPORTED = ("AEDAT 4.0 (.aedat4), HDF5 own/DSEC layout (.h5, .hdf5), Prophesee EVT 2.0/3.0 (.raw), "
             "Prophesee DAT (.dat), N-MNIST/N-Caltech101 (.bin)")


def detect(path) -> str:
    """The format key of ``OPENERS`` for ``path``, from its header, else from its extension."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(AEDAT4_MAGIC))
    except OSError as exc:
        raise fail(path, 0, f"cannot open: {exc.strerror}") from None
    extension = EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if head.startswith(AEDAT4_MAGIC[:8]):
        return "aedat4"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"%"):
        header = header_dict(header_lines(path)[0])
        if evt_version(header) is not None:
            return "raw"
        if "Version" in header or extension == "dat":
            return "dat"
    if extension is None:
        raise fail(path, 0, f"unknown event file format (no known header, extension not recognised); "
                   f"supported: {SUPPORTED}")
    return extension


def open_source(path, sensor_size=None, format: str | None = None) -> Source:
    """The opened file (format detected unless given as a key of ``OPENERS``)."""
    key = format if format is not None else detect(path)
    if key not in OPENERS:
        raise fail(path, 0, f"unknown format {key!r}; choose one of {', '.join(OPENERS)}")
    return OPENERS[key](path, sensor_size)


def read(path, sensor_size=None, format: str | None = None) -> Recording:
    """Decode a whole event file: ``Recording(events, sensor_size, meta)``.

    ``sensor_size`` (``(W, H)`` or ``(W, H, P)``) overrides the header's, and is needed where the file
    does not say (N-MNIST ``.bin`` defaults to the ATIS 304 x 240 sensor; pass (34, 34)). Malformed
    files raise ``FormatError`` naming the file and the byte offset.
    """
    return open_source(path, sensor_size, format).read()
