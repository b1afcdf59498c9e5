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
``/ms_to_idx`` index (not used here, so not checked); its sensor is 640 x 480 unless the caller says otherwise.

Opening a file checks its layout: each object exists and is a group or a dataset as above, datasets hold
integers of the shapes above, attributes have their types. h5py's own errors on corrupt bytes become
``FormatError``s too. HDF5 hides byte offsets, so errors name the file, the object and the element index.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import h5py
import numpy as np

from ..checks import whole_number
from ..errors import FormatError, ValidationError
from ..files import replacing
from .events import EVENT_DTYPE, sensor_shape, validate_events
from .formats.base import Recording, Source, checked_size, fail, join_events

FORMAT = "spiking.events"
VERSION = 1
DSEC_SIZE = (640, 480)
_CHUNK = 1 << 16
_FIELDS = ("x", "y", "t", "p")
# what h5py raises for HDF5's errors, by the kind of damage (its NotImplementedError is a RuntimeError)
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)


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
        with _open(self.path) as f:
            columns, n = _columns(self.path, f)
            starts = np.zeros(0, np.int64) if self.offsets is None else self.offsets
            last = None
            for lo in range(0, n, step):
                events = self._checked(columns, lo, min(n, lo + step), starts, last)
                last = int(events["t"][-1])
                yield events

    def _checked(self, columns, lo, hi, starts, last) -> np.ndarray:
        """Events ``lo:hi`` as ``EVENT_DTYPE``, checked against the sensor and each sample's time order."""
        events = np.empty(hi - lo, EVENT_DTYPE)
        width, height = self.sensor_size[:2]
        for name, column, stop in zip(_FIELDS, columns, (width, height, None, 2)):
            try:  # as _reading does, inline: a context manager here costs 10 us a block
                values = column[lo:hi]
            except _H5_ERRORS as exc:
                raise fail(self.path, f"events/{name}[{lo}:{hi}]", f"HDF5 library cannot read it: {exc} (files "
                           "compressed with Blosc, as DSEC's are, need `import hdf5plugin` first)") from None
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


@contextmanager
def _reading(path, where, what: str = "HDF5 library cannot read it"):
    """h5py's errors inside the block (their type depends on the damage) as a FormatError naming ``where``.

    Blocks hold h5py calls and the decoding of what they return, nothing else: the package's own errors
    are ValueErrors too.
    """
    try:
        yield
    except _H5_ERRORS as exc:
        raise fail(path, where, f"{what}: {exc}") from None


def _open(path) -> h5py.File:
    with _reading(path, 0, "not a readable HDF5 file"):
        return h5py.File(path, "r")


def _has(path, f, name: str) -> bool:
    with _reading(path, name):
        return name in f


def _get(path, f, name: str, kind):
    """Object ``name`` (a path from the root) if it is a ``kind`` (h5py.Group or h5py.Dataset)."""
    with _reading(path, name):
        obj = f.get(name)  # None where absent, and where h5py cannot open the object's header
    if not isinstance(obj, kind):
        found = "nothing readable" if obj is None else type(obj).__name__
        raise fail(path, name, f"expected an HDF5 {kind.__name__}, found {found}")
    return obj


def _dataset(path, f, name: str) -> h5py.Dataset:
    """Dataset ``name``: integers or bools, as every dataset of both layouts holds (shapes: the caller's).

    Its values must be stored: a declared length without the chunks behind it reads as zeros, and a
    corrupt length of 2**40 would be allocated whole by a read.
    """
    ds = _get(path, f, name, h5py.Dataset)
    with _reading(path, name):
        dtype, shape, size = ds.dtype, ds.shape, ds.size
        stored = size == 0 or ds.id.get_space_status() == h5py.h5d.SPACE_STATUS_ALLOCATED
    if dtype.kind not in "biu" or shape is None:
        raise fail(path, name, f"expected integers, found {dtype} of shape {shape}")
    if not stored:
        raise fail(path, name, f"declares {size} values but the file does not store them all")
    return ds


def _values(path, f, name: str) -> np.ndarray:
    """The whole of integer dataset ``name``."""
    ds = _dataset(path, f, name)
    with _reading(path, name):
        return np.asarray(ds[()])


def _attr(path, obj, name: str, where: str):
    """Attribute ``name`` of ``obj`` as a plain value (see ``_plain``), None where absent.

    Only numbers and strings are read, the types the layout writes: HDF5 itself can crash on a corrupt
    attribute of another type (a string whose type bits became a variable-length sequence, say).
    """
    with _reading(path, where):
        attrs = obj.attrs
        dtype = attrs.get_id(name).dtype if name in attrs else None
    if dtype is None:
        return None
    if dtype.kind not in "biufS" and h5py.check_string_dtype(dtype) is None:
        raise fail(path, where, f"HDF5 type {dtype} is neither a number nor a string")
    with _reading(path, where):
        return _plain(attrs[name])


def _columns(path, f) -> tuple[list, int]:
    """Datasets events/x, y, t, p (1-D integers of one length, t fitting int64) and their length."""
    columns = [_dataset(path, f, f"events/{name}") for name in _FIELDS]
    if not np.can_cast(columns[2].dtype, np.int64):
        raise fail(path, "events/t", f"dtype {columns[2].dtype} does not fit int64 microseconds")
    return columns, _length(path, columns)


def _length(path, columns) -> int:
    lengths = {c.shape for c in columns}
    if len(lengths) != 1 or len(columns[0].shape) != 1:
        raise fail(path, "events", f"x, y, t, p must be 1-D of one length, got shapes {[c.shape for c in columns]}")
    return columns[0].shape[0]


def open_hdf5(path, sensor_size=None) -> Hdf5Source:
    """Open an HDF5 event file in the own layout or the DSEC layout: its layout is checked here, its events as read."""
    with _open(path) as f:
        layout = _attr(path, f, "format", "attrs/format")
        if isinstance(layout, str) and layout == FORMAT:
            return _open_own(path, f, sensor_size)
        if _has(path, f, "events") and _has(path, f, "t_offset"):
            return _open_dsec(path, f, sensor_size)
    raise fail(path, 0, f"HDF5 file is neither the '{FORMAT}' layout (root attr format) nor DSEC's "
               "(/events/x, y, t, p and /t_offset)")


def _open_own(path, f, sensor_size) -> Hdf5Source:
    version = _attr(path, f, "version", "attrs/version")
    if type(version) is not int or version != VERSION:  # _plain gives int for integers; not for True, 1.0, [1]
        raise fail(path, "attrs/version", f"layout version {version!r}, this reader knows {VERSION}")
    size = sensor_shape(sensor_size) if sensor_size is not None else _sensor_size(path, f)
    n = _columns(path, f)[1]
    meta = {}
    if _has(path, f, "meta"):
        group = _get(path, f, "meta", h5py.Group)
        with _reading(path, "meta"):
            keys = list(group.attrs)
        meta = {key: _attr(path, group, key, f"meta/attrs/{key}") for key in keys}
    offsets = labels = None
    if _has(path, f, "samples"):
        raw_offsets = _values(path, f, "samples/offsets")
        raw_labels = _values(path, f, "samples/labels") if _has(path, f, "samples/labels") else None
        try:
            offsets, labels = _checked_samples(raw_offsets, raw_labels, n)
        except ValidationError as exc:
            raise fail(path, "samples", str(exc)) from None
    return Hdf5Source(path, size, {"layout": FORMAT, "meta": meta}, 0, offsets, labels)


def _sensor_size(path, f) -> tuple[int, int, int]:
    """``(W, H, P)`` from the root attribute ``sensor_size``: 2 or 3 integers."""
    value = _attr(path, f, "sensor_size", "attrs/sensor_size")
    if not (isinstance(value, np.ndarray) and value.dtype.kind in "iu"):  # floats are not a layout this writes
        raise fail(path, "attrs/sensor_size", f"expected integers (W, H) or (W, H, P), got {value!r}")
    try:
        return sensor_shape(value.tolist())
    except ValidationError as exc:
        raise fail(path, "attrs/sensor_size", f"no valid (W, H, P): {exc}") from None


def _open_dsec(path, f, sensor_size) -> Hdf5Source:
    _columns(path, f)
    t_offset = _values(path, f, "t_offset").reshape(-1)
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
    i = whole_number(i, f"read_sample: sample {i!r} of {n} does not exist: the index", -n, n - 1) % n
    lo, hi = int(source.offsets[i]), int(source.offsets[i + 1])
    with _open(path) as f:
        columns = _columns(path, f)[0]
        events = source._checked(columns, lo, hi, np.array([lo]), None) if hi > lo else np.empty(0, EVENT_DTYPE)
    return events, None if source.labels is None else int(source.labels[i])
