"""Events in HDF5: the project's own layout (written and read), and DSEC's (read).

Own layout (``format = "spiking.events"``, ``version = 1``)::

    /                 attrs format, version, sensor_size = (W, H, P)
    /events/x, y      uint16 [n]   chunked, compressed
    /events/t         int64  [n]   microseconds
    /events/p         uint8  [n]   0 OFF, 1 ON
    /meta             attrs: the caller's metadata (str, numbers, arrays of them)
    /samples/offsets  int64 [N + 1], optional: sample i is events[offsets[i]:offsets[i + 1]]
    /samples/labels   int64 [N],     optional

DSEC layout (read only): ``/events/{x, y, t, p}`` with ``t`` relative to ``/t_offset`` and a
``/ms_to_idx`` index; its sensor is 640 x 480 unless the caller says otherwise.
HDF5 hides byte offsets, so errors name the file, the dataset and the element index.
"""
from __future__ import annotations

import os
from typing import Iterator

import h5py
import numpy as np

from ..errors import FormatError, ValidationError
from ..files import replacing
from .events import EVENT_DTYPE, sensor_shape, validate_events
from .formats.base import Recording, Source, checked_size, fail, join_events

FORMAT = "spiking.events"
VERSION = 1
DSEC_SIZE = (640, 480)
_CHUNK = 1 << 16
_FIELDS = ("x", "y", "t", "p")


def write_events(path, events, sensor_size, *, meta=None, offsets=None, labels=None,
                 compression: str | None = "gzip") -> None:
    """Write events (one recording, or N labelled samples split by ``offsets``) in the own layout.

    Events are checked as ``validate_events`` does (per sample when ``offsets`` is given: each
    sample's times must be ordered). ``meta`` values must be str, bool, int, float or arrays of
    numbers. ``compression`` is "gzip", "lzf" or None. The file appears under ``path`` only when
    complete (written to a temporary name, then ``os.replace``).
    """
    size = sensor_shape(sensor_size)
    n = len(events) if hasattr(events, "__len__") else 0
    if offsets is None:
        if labels is not None:
            raise ValidationError("write_events: labels need offsets (sample i is events[offsets[i]:offsets[i+1]])")
        events = validate_events(events, size, "write_events")
    else:
        offsets, labels = _checked_samples(np.asarray(offsets), None if labels is None else np.asarray(labels), n)
        parts = [validate_events(events[a:b], size, f"write_events sample {i}")
                 for i, (a, b) in enumerate(zip(offsets[:-1], offsets[1:]))]
        events = join_events(parts) if parts else validate_events(events, size, "write_events")
    if compression not in ("gzip", "lzf", None):
        raise ValidationError(f"write_events: compression must be 'gzip', 'lzf' or None, got {compression!r}")
    meta = _checked_meta(meta or {})
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["sensor_size"] = np.asarray(size, np.int64)
        group = f.create_group("events")
        chunk = (min(max(len(events), 1), _CHUNK),)
        for name in _FIELDS:
            group.create_dataset(name, data=events[name], chunks=chunk, maxshape=(None,), compression=compression,
                                 shuffle=compression is not None)
        attrs = f.create_group("meta").attrs
        for key, value in meta.items():
            attrs[key] = value
        if offsets is not None:
            samples = f.create_group("samples")
            samples.create_dataset("offsets", data=offsets)
            if labels is not None:
                samples.create_dataset("labels", data=labels)


def _checked_samples(offsets, labels, n):
    """``offsets`` as int64 from 0 to ``n``, non-decreasing, and ``labels`` as int64 of one per sample."""
    if (offsets.ndim != 1 or len(offsets) < 1 or offsets.dtype.kind not in "iu" or offsets[0] != 0
            or offsets[-1] != n or (np.diff(offsets.astype(np.int64)) < 0).any()):
        raise ValidationError(f"offsets must be 1-D integers rising from 0 to the {n} events, got {offsets!r}")
    if labels is not None and (labels.shape != (len(offsets) - 1,) or labels.dtype.kind not in "iu"):
        raise ValidationError(f"labels must be {len(offsets) - 1} integers (one per sample), got "
                              f"{labels.dtype} {labels.shape}")
    return offsets.astype(np.int64), None if labels is None else labels.astype(np.int64)


def _checked_meta(meta: dict) -> dict:
    for key, value in meta.items():
        arr = np.asarray(value)
        if not isinstance(key, str) or not key or "/" in key or not (
                isinstance(value, str) or arr.dtype.kind in "biuf" and arr.dtype != object):
            raise ValidationError(f"meta[{key!r}] = {value!r}: keys must be non-empty str without '/', values "
                                  "str, bool, int, float or arrays of numbers")
    return meta


def _plain(value):
    """An HDF5 attribute as a Python value (numpy scalars to int/float/bool, bytes to str)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Hdf5Source(Source):
    """Events of an HDF5 file in the own or the DSEC layout, read slice by slice."""

    format = "hdf5"

    def __init__(self, path, sensor_size, meta, t_offset=0, offsets=None, labels=None):
        super().__init__(path, sensor_size, meta)
        self.t_offset, self.offsets, self.labels = t_offset, offsets, labels

    def blocks(self, block_bytes: int) -> Iterator[np.ndarray]:
        step = max(1, min(block_bytes // EVENT_DTYPE.itemsize, 1 << 40))
        try:
            with h5py.File(self.path, "r") as f:
                columns = [f["events"][name] for name in _FIELDS]
                n = _length(self.path, columns)
                starts = np.zeros(0, np.int64) if self.offsets is None else self.offsets
                last = None
                for lo in range(0, n, step):
                    hi = min(n, lo + step)
                    events = self._checked(columns, lo, hi, starts, last)
                    last = int(events["t"][-1])
                    yield events
        except OSError as exc:
            raise fail(self.path, "events", f"HDF5 library cannot read it: {exc} (DSEC files compressed with "
                       "Blosc need `import hdf5plugin` first)") from None

    def _checked(self, columns, lo, hi, starts, last) -> np.ndarray:
        """Events ``lo:hi`` as ``EVENT_DTYPE``, checked against the sensor and each sample's time order."""
        events = np.empty(hi - lo, EVENT_DTYPE)
        width, height = self.sensor_size[:2]
        for name, column, stop in zip(_FIELDS, columns, (width, height, None, 2)):
            values = column[lo:hi]
            if values.dtype.kind not in "iu":
                raise fail(self.path, f"events/{name}", f"dtype {values.dtype}, expected integers")
            if name == "t":
                values = values.astype(np.int64) + self.t_offset
            bad = (values < 0) | (values >= stop) if stop is not None else None
            if bad is not None and bad.any():
                i = int(np.argmax(bad))
                raise fail(self.path, f"events/{name}[{lo + i}]", f"{name} = {values[i]} is outside 0..{stop - 1}")
            events[name] = values
        t = events["t"]
        late = np.empty(len(t), bool)
        late[0] = last is not None and t[0] < last
        late[1:] = t[1:] < t[:-1]
        late[starts[(starts >= lo) & (starts < hi)] - lo] = False
        if late.any():
            i = int(np.argmax(late))
            raise fail(self.path, f"events/t[{lo + i}]", f"t = {t[i]} is earlier than the event before it")
        return events

    def read(self) -> Recording:
        rec = super().read()
        return Recording(rec.events, rec.sensor_size, rec.meta, self.offsets, self.labels)


def _length(path, columns) -> int:
    lengths = {c.shape for c in columns}
    if len(lengths) != 1 or len(columns[0].shape) != 1:
        raise fail(path, "events", f"x, y, t, p must be 1-D of one length, got shapes {[c.shape for c in columns]}")
    return columns[0].shape[0]


def open_hdf5(path, sensor_size=None) -> Hdf5Source:
    """Open an HDF5 event file in the own layout or the DSEC layout."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") == FORMAT:
                return _open_own(path, f, sensor_size)
            if "events" in f and all(name in f["events"] for name in _FIELDS) and "t_offset" in f:
                return _open_dsec(path, f, sensor_size)
            raise fail(path, 0, f"HDF5 file is neither the '{FORMAT}' layout (root attr format) nor DSEC's "
                       "(/events/x, y, t, p and /t_offset)")
    except OSError as exc:
        raise fail(path, 0, f"not a readable HDF5 file: {exc}") from None


def _open_own(path, f, sensor_size) -> Hdf5Source:
    version = _plain(f.attrs.get("version"))
    if version != VERSION:
        raise fail(path, "attrs/version", f"layout version {version!r}, this reader knows {VERSION}")
    if "events" not in f or not all(name in f["events"] for name in _FIELDS):
        raise fail(path, "events", "missing one of the datasets events/x, events/y, events/t, events/p")
    try:
        size = sensor_shape(sensor_size if sensor_size is not None else tuple(f.attrs["sensor_size"]))
    except (KeyError, ValidationError) as exc:
        raise fail(path, "attrs/sensor_size", f"no valid (W, H, P): {exc}") from None
    meta = {key: _plain(value) for key, value in f["meta"].attrs.items()} if "meta" in f else {}
    offsets = labels = None
    if "samples" in f and "offsets" in f["samples"]:
        n = _length(path, [f["events"][name] for name in _FIELDS])
        raw_labels = f["samples"]["labels"][()] if "labels" in f["samples"] else None
        try:
            offsets, labels = _checked_samples(f["samples"]["offsets"][()], raw_labels, n)
        except ValidationError as exc:
            raise fail(path, "samples", str(exc)) from None
    return Hdf5Source(path, size, {"layout": FORMAT, "meta": meta}, 0, offsets, labels)


def _open_dsec(path, f, sensor_size) -> Hdf5Source:
    t_offset = np.asarray(f["t_offset"][()]).reshape(-1)
    if t_offset.shape != (1,) or t_offset.dtype.kind not in "iu" or not 0 <= int(t_offset[0]) < 1 << 61:
        raise fail(path, "t_offset", f"expected one non-negative integer, got {t_offset!r}")
    size = checked_size(path, sensor_size, DSEC_SIZE)
    return Hdf5Source(path, size, {"layout": "dsec", "t_offset": int(t_offset[0])}, int(t_offset[0]))


def read_events(path, sensor_size=None) -> Recording:
    """The whole file as a ``Recording`` (with ``offsets``/``labels`` for a labelled own-layout file).

    For the own layout, ``meta`` holds ``{"format": "hdf5", "layout": "spiking.events", "meta": {...}}``
    where the inner dict is what ``write_events`` was given.
    """
    return open_hdf5(path, sensor_size).read()


def read_sample(path, i: int) -> tuple[np.ndarray, int | None]:
    """Sample ``i`` of a labelled own-layout file, reading only its slice: (events, label or None)."""
    source = open_hdf5(path)
    if source.offsets is None:
        raise FormatError(f"{os.fspath(path)}: samples/offsets: the file holds no samples")
    n = len(source.offsets) - 1
    if not -n <= i < n:
        raise ValidationError(f"read_sample: sample {i} of {n} does not exist")
    i %= n
    lo, hi = int(source.offsets[i]), int(source.offsets[i + 1])
    with h5py.File(path, "r") as f:
        columns = [f["events"][name] for name in _FIELDS]
        events = source._checked(columns, lo, hi, np.array([lo]), None) if hi > lo else np.empty(0, EVENT_DTYPE)
    return events, None if source.labels is None else int(source.labels[i])
