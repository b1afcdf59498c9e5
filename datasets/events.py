"""Camera events as a numpy structured array, and the checks every event array passes before a kernel.

An event is one brightness change at pixel ``(x, y)`` at time ``t`` (microseconds) with polarity
``p`` (1 = ON, brighter; 0 = OFF). Field names follow Tonic (``x, y, t, p``), so arrays from Tonic,
whatever their integer types and field order, are accepted as they are. Numba kernels do not check
bounds, so coordinates, polarity and time order are checked here, in Python, with messages that name
the first offending event.
"""
from __future__ import annotations

import numpy as np

from ..checks import MAX_WHOLE
from ..errors import ValidationError

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
"""x, y: pixel column and row; t: microseconds; p: polarity, 0 (OFF) or 1 (ON)."""

_MAX_COORD = int(np.iinfo(EVENT_DTYPE["x"]).max) + 1
MAX_SPAN = MAX_WHOLE
"""Times lie within +-MAX_SPAN µs, so the difference of two fits int64."""


def sensor_shape(sensor_size) -> tuple[int, int, int]:
    """``(W, H, P)`` from a sensor size given as ``(W, H)`` or as Tonic's ``(W, H, P)`` (P = 2 if absent)."""
    try:
        dims = tuple(int(d) for d in sensor_size)
        whole = all(d == s for d, s in zip(dims, sensor_size))
    except (TypeError, ValueError, OverflowError):
        dims, whole = (), False
    if (not whole or len(dims) not in (2, 3) or not 1 <= dims[0] <= _MAX_COORD or not 1 <= dims[1] <= _MAX_COORD
            or (len(dims) == 3 and dims[2] not in (1, 2))):
        raise ValidationError(f"sensor_size must be (W, H) or (W, H, P) with 1 <= W, H <= {_MAX_COORD} and "
                              f"P in (1, 2), got {sensor_size!r}")
    return dims if len(dims) == 3 else dims + (2,)


def within_span(t: np.ndarray) -> bool:
    """Whether times in non-decreasing order lie within ``+-MAX_SPAN``, as their first and last show.

    There ``t - d`` fits int64 for any duration ``0 <= d <= MAX_SPAN``, which the transform kernels rely on.
    """
    return not len(t) or (-MAX_SPAN <= t[0] and t[-1] <= MAX_SPAN)


def _whole(values: np.ndarray, field: str, where: str) -> np.ndarray:
    """``values`` as integers that fit int64; floats must be finite whole numbers."""
    kind = values.dtype.kind
    if kind == "i" or (kind == "u" and values.dtype.itemsize < 8):
        return values
    if kind not in "uf":
        raise ValidationError(f"{where}: field '{field}' has dtype {values.dtype}, expected integers")
    bad = values > MAX_SPAN if kind == "u" else (~np.isfinite(values) | (values != np.round(values))
                                                 | (np.abs(values) > MAX_SPAN))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValidationError(f"{where}[{i}]: {field} = {values[i]} is not a whole number within +-2**62")
    return values.astype(np.int64)


def _in_range(values: np.ndarray, stop: int, field: str, what: str, where: str) -> None:
    if values.size and (values.min() < 0 or values.max() >= stop):
        i = int(np.argmax((values < 0) | (values >= stop)))
        raise ValidationError(f"{where}[{i}]: {field} = {values[i]} is outside the {what}: "
                              f"expected 0 <= {field} < {stop}")


def _polarity(values: np.ndarray, where: str) -> np.ndarray:
    """Polarity as 0/1: bool, 0/1 or -1/1 (one convention per array) are accepted."""
    if values.dtype.kind == "b":
        return values.astype(np.uint8)
    p = _whole(values, "p", where)
    if not p.size or (p.min() >= 0 and p.max() <= 1):
        return p.astype(np.uint8)
    signed = p.min() == -1
    bad = ((p != -1) & (p != 1)) if signed else ((p != 0) & (p != 1))
    if bad.any():
        i = int(np.argmax(bad))
        expected = "-1 or 1 (this array uses -1 for OFF)" if signed else "0 or 1"
        raise ValidationError(f"{where}[{i}]: p = {p[i]} is not a polarity: expected {expected}")
    return (p > 0).astype(np.uint8)


def validate_events(events, sensor_size=None, name: str = "events") -> np.ndarray:
    """Check one sample's events and return them as an ``EVENT_DTYPE`` array (polarity 0/1).

    ``events`` is a structured array with fields ``x, y, t`` and ``p`` (or ``on``), any integer types,
    any field order. Checks: coordinates within ``sensor_size`` (``(W, H)`` or ``(W, H, P)``; without
    it, within the dtype's range), whole timestamps within ``+-2**62`` µs in non-decreasing order,
    polarity bool, 0/1 or -1/1, no NaN. ``name`` starts every error message. An ``EVENT_DTYPE`` input
    comes back as a copy.
    """
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not isinstance(events, np.ndarray) or names is None or events.ndim != 1:
        raise ValidationError(f"{name}: expected a 1-D numpy structured array with fields x, y, t, p, got "
                              f"{type(events).__name__} {getattr(events, 'shape', '')}".rstrip())
    pol = "on" if "p" not in names and "on" in names else "p"
    missing = [f for f in ("x", "y", "t", pol) if f not in names]
    if missing:
        raise ValidationError(f"{name}: missing field(s) {', '.join(missing)}; the array has {', '.join(names)}")
    width, height = sensor_shape(sensor_size)[:2] if sensor_size is not None else (_MAX_COORD, _MAX_COORD)
    out = np.empty(len(events), EVENT_DTYPE)
    for field, stop, what in (("x", width, "sensor width"), ("y", height, "sensor height")):
        values = _whole(events[field], field, name)
        _in_range(values, stop, field, what if sensor_size is not None else "event coordinate range", name)
        out[field] = values
    t = _whole(events["t"], "t", name)
    late = t[1:] < t[:-1]
    if late.any():
        i = int(np.argmax(late)) + 1
        raise ValidationError(f"{name}[{i}]: t = {t[i]} is earlier than the event before it (t = {t[i - 1]}); "
                              "a sample's events must be in time order (np.argsort(t, kind='stable'))")
    if not within_span(t):
        i = int(np.argmax((t < -MAX_SPAN) | (t > MAX_SPAN)))
        raise ValidationError(f"{name}[{i}]: t = {t[i]} is outside +-2**62 µs")
    out["t"] = t
    out["p"] = _polarity(events[pol], name)
    return out


def make_events(x, y, t, p, sensor_size=None) -> np.ndarray:
    """An ``EVENT_DTYPE`` array from equal-length columns, checked as ``validate_events`` does."""
    cols = [np.asarray(c) for c in (x, y, t, p)]
    if any(c.ndim != 1 for c in cols) or len({len(c) for c in cols}) != 1:
        raise ValidationError(f"make_events: x, y, t, p must be 1-D and of equal length, got shapes "
                              f"{[c.shape for c in cols]}")
    raw = np.empty(len(cols[0]), [(f, c.dtype) for f, c in zip("xytp", cols)])
    for f, c in zip("xytp", cols):
        raw[f] = c
    return validate_events(raw, sensor_size, "make_events")
