"""Event-stream transforms: frames, denoise, refractory filter, downsample, crop and flips.

Each function checks its events (``checked_events``; times within ``+-2**62`` µs) and parameters in
Python, then runs one numba kernel (``spiking.kernels.transforms``). ``denoise`` and
``refractory_filter`` keep a timestamp per pixel and take sensors of at most 2**26 pixels (8192 x
8192). Results match Tonic's transform of the same name, value for value, except where Tonic is
wrong; each such place is listed in the function's docstring and tested (``tests/test_transforms.py``):

- ``to_frames``: Tonic returns an empty recording's frame as ``(1, P, W, H)``; ours is ``(1, P, H, W)``.
  Tonic's ``n_time_bins`` floors the bin width to whole µs and ends the last bin before the last
  event, so that event is always lost and a one-event recording gives empty frames (tonic#313).
  Tonic's int16 counts wrap past 32,767 events per pixel; ours widen to int32.
- ``denoise``: Tonic treats a pixel that has never fired as having fired at ``t = 0``, so every event
  in the first ``filter_time`` µs is kept, isolated or not.
- ``refractory_filter``: Tonic treats a pixel that has never fired as having fired at
  ``t = -period``, so a pixel's first event is dropped when it comes at ``t = 0``.

Events come back as ``EVENT_DTYPE`` arrays, never as views of the input.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..checks import whole_number
from ..errors import ValidationError
from ..kernels.transforms import (accumulate_frames, denoise_mask, first_invalid, flip_events, positions,
                                 refractory_mask, remap_events, select_events)
from .events import EVENT_DTYPE, MAX_SPAN, sensor_shape, validate_events, within_span

_MAX_FRAME_CELLS = 2 ** 31
_MAX_FILTER_PIXELS = 2 ** 26
_INT16_MAX = int(np.iinfo(np.int16).max)


def _is_event_array(events) -> bool:
    """An ``EVENT_DTYPE`` array whose first and last ``t`` lie within ``+-2**62``: a kernel may check the rest."""
    return (isinstance(events, np.ndarray) and events.dtype == EVENT_DTYPE and events.ndim == 1
            and within_span(events["t"]))


def checked_events(events, sensor_size, name: str = "events") -> np.ndarray:
    """``events`` checked against ``sensor_size``; an ``EVENT_DTYPE`` array that passes comes back as is.

    Other arrays (Tonic's, say) are converted by ``validate_events``, which also words every error.
    """
    width, height, _ = sensor_shape(sensor_size)
    if _is_event_array(events):
        if first_invalid(events["x"], events["y"], events["t"], events["p"], width, height) < 0:
            return events
    return validate_events(events, sensor_size, name)


def _rejected(events, sensor_size) -> ValidationError:
    """The error for events that a kernel's checks (``_fails`` in ``spiking.kernels.transforms``) rejected."""
    validate_events(events, sensor_size)
    return ValidationError("events: a transform kernel rejected events that validate_events accepts")


# ---- frames -------------------------------------------------------------------------------------

def _too_many(frames: int, max_frames: int) -> None:
    if frames > max_frames:
        raise ValidationError(f"to_frames: {frames} frames would hold more than 2**31 counts (at most {max_frames} "
                              f"frames of this sensor); use fewer, longer frames or a smaller sensor")


def _slices_by_time(t, window, overlap, include_incomplete, start_time, end_time, max_frames):
    """Tonic's ``SliceByTime``: windows ``[start + k*stride, start + k*stride + window)``."""
    window = whole_number(window, "time_window", 1)
    overlap = whole_number(overlap, "overlap", 0, window - 1)
    stride = window - overlap
    start = t[0] if start_time is None and len(t) else start_time
    end = t[-1] if end_time is None and len(t) else end_time
    if start is None or end is None:
        _too_many(1, max_frames)
        return np.zeros(1, np.int64), np.zeros(1, np.int64)
    start = whole_number(start, "start_time", -MAX_SPAN)
    end = whole_number(end, "end_time", -MAX_SPAN)
    span = end - start - window
    count = max((-(-span // stride) if include_incomplete else span // stride) + 1, 1)
    _too_many(count, max_frames)
    opens = np.arange(count, dtype=np.int64) * stride + start
    # every t <= 2**62: a window that would end past 2**62 + 1 (or past int64) ends there instead
    return positions(t, opens), positions(t, np.minimum(opens, MAX_SPAN + 1 - window) + window)


def _slices_by_count(n, count, overlap, include_incomplete, max_frames):
    """Tonic's ``SliceByEventCount``: ``count`` events per slice, each ``count - overlap`` after the last."""
    count = whole_number(count, "event_count", 1)
    overlap = whole_number(overlap, "overlap", 0, count - 1)
    stride = count - overlap
    size = min(count, n)
    slices = (-(-(n - size) // stride) if include_incomplete else (n - size) // stride) + 1
    _too_many(slices, max_frames)
    starts = np.arange(slices, dtype=np.int64) * stride
    return starts, np.minimum(starts + size, n)


def _bin_overlap(overlap) -> float:
    if not (isinstance(overlap, (int, float, np.integer, np.floating)) and 0 <= overlap < 1):
        raise ValidationError(f"overlap must be a fraction of a bin in [0, 1) with n_time_bins or n_event_bins, "
                              f"got {overlap!r}")
    return float(overlap)


def _slices_by_time_bins(t, bins, overlap, max_frames):
    """``bins`` windows over the recording's ``t[-1] - t[0] + 1`` µs, each enlarged by ``overlap`` (Tonic's).

    Window ``k`` is ``[t0 + k*w*(1 - overlap), t0 + k*w*(1 - overlap) + w)`` with ``w = (t[-1] - t0 + 1) / bins
    * (1 + overlap)``, exactly: a whole ``t`` is inside when it is inside the edges rounded up, which are
    computed in Python ints, with ``overlap`` the decimal fraction ``num / den`` it prints as (0.3 is 3/10).
    """
    bins = whole_number(bins, "n_time_bins", 1)
    num, den = Fraction(repr(_bin_overlap(overlap))).as_integer_ratio()
    _too_many(bins, max_frames)
    if not len(t):
        return np.zeros(bins, np.int64), np.zeros(bins, np.int64)
    first, last = int(t[0]), int(t[-1])
    # window k is first + [a, a + den) * size / parts with a = k * (den - num); edges rounded up
    size, parts = (last - first + 1) * (den + num), bins * den * den
    starts = [k * (den - num) for k in range(bins)]
    opens = [first - (-a * size // parts) for a in starts]
    ends = [min(first - (-(a + den) * size // parts), last + 1) for a in starts]     # int64 even past t[-1]
    return positions(t, np.array(opens, np.int64)), positions(t, np.array(ends, np.int64))


def _slices_by_event_bins(n, bins, overlap, max_frames):
    """Tonic's ``SliceByEventBins``: ``n // bins`` events per bin, enlarged by ``overlap``."""
    bins = whole_number(bins, "n_event_bins", 1)
    overlap = _bin_overlap(overlap)
    _too_many(bins, max_frames)
    size = int(n // bins * (1 + overlap))
    starts = np.arange(bins, dtype=np.int64) * int(size * (1 - overlap))
    return np.minimum(starts, n), np.minimum(starts + size, n)


def to_frames(events, sensor_size, *, time_window=None, event_count=None, n_time_bins=None, n_event_bins=None,
              overlap=0, include_incomplete: bool = False, start_time=None, end_time=None,
              merge_polarities: bool = False) -> np.ndarray:
    """Event counts per frame, polarity and pixel: ``[T, P, H, W]``, as Tonic's ``ToFrame``.

    Exactly one way of slicing: ``time_window`` (µs; ``overlap`` in µs; windows from ``start_time``,
    default the first event, while they end by ``end_time``, default the last event, plus one
    incomplete window with ``include_incomplete``), ``event_count`` (``overlap`` in events),
    ``n_time_bins`` or ``n_event_bins`` (``overlap`` a fraction of a bin that enlarges each bin).
    ``P`` is 2 (OFF, ON) or 1 when ``merge_polarities`` or the sensor has one polarity.

    Differences from Tonic 1.7, where it is wrong: ``n_time_bins`` splits the recording's
    ``t[-1] - t[0] + 1`` µs into bins of exact (fractional) width, so every event falls in a bin;
    Tonic floors ``(t[-1] - t[0]) // n_time_bins`` and so always loses the last event, and all of a
    one-event recording (tonic#313). An empty recording gives zero frames ``(T, P, H, W)``, where
    Tonic gives ``(T, P, W, H)``. Counts are int16 as Tonic's, widened to int32 when a frame may
    exceed 32,767, where Tonic's wrap around. A one-polarity sensor merges polarities; Tonic raises.
    """
    width, height, polarities = sensor_shape(sensor_size)
    events = checked_events(events, sensor_size)
    chosen = [name for name, v in (("time_window", time_window), ("event_count", event_count),
                                   ("n_time_bins", n_time_bins), ("n_event_bins", n_event_bins)) if v is not None]
    if len(chosen) != 1:
        raise ValidationError(f"to_frames: give exactly one of time_window, event_count, n_time_bins, n_event_bins; "
                              f"got {', '.join(chosen) or 'none'}")
    t = events["t"]
    channels = 1 if merge_polarities or polarities == 1 else 2
    max_frames = _MAX_FRAME_CELLS // (channels * height * width)
    if time_window is not None:
        starts, ends = _slices_by_time(t, time_window, overlap, include_incomplete, start_time, end_time, max_frames)
    elif event_count is not None:
        starts, ends = _slices_by_count(len(t), event_count, overlap, include_incomplete, max_frames)
    elif n_time_bins is not None:
        starts, ends = _slices_by_time_bins(t, n_time_bins, overlap, max_frames)
    else:
        starts, ends = _slices_by_event_bins(len(t), n_event_bins, overlap, max_frames)
    longest = int((ends - starts).max()) if len(starts) else 0
    frames = np.zeros((len(starts), channels * height * width), np.int16 if longest <= _INT16_MAX else np.int32)
    accumulate_frames(events["x"], events["y"], events["p"], starts.astype(np.int64), ends.astype(np.int64), width,
                      height * width if channels == 2 else 0, frames)
    return frames.reshape(len(starts), channels, height, width)


# ---- filters ------------------------------------------------------------------------------------

def _filtered(events, sensor_size, mask, microseconds, name: str) -> np.ndarray:
    """The events that the kernel ``mask`` keeps, given a time parameter of whole microseconds.

    The kernels keep the last event time of every pixel (8 bytes or more each), so the sensor may have
    at most 2**26 pixels (8192 x 8192; 512 MiB of state).
    """
    width, height, _ = sensor_shape(sensor_size)
    if width * height > _MAX_FILTER_PIXELS:
        raise ValidationError(f"a sensor of {width} x {height} pixels is larger than the filters' 2**26 "
                              f"({_MAX_FILTER_PIXELS:,}): denoise and refractory_filter keep the last event time "
                              "of every pixel")
    events = checked_events(events, sensor_size)
    microseconds = whole_number(microseconds, name, 0)
    keep = np.empty(len(events), np.bool_)
    kept = mask(events["x"], events["y"], events["t"], width, height, microseconds, keep)
    out = np.empty(kept + 1, EVENT_DTYPE)
    select_events(events["x"], events["y"], events["t"], events["p"], keep, out["x"], out["y"], out["t"], out["p"])
    return out[:kept]


def denoise(events, sensor_size, filter_time) -> np.ndarray:
    """Events that have an event at one of their 4 neighbour pixels less than ``filter_time`` µs before.

    As Tonic's ``Denoise``, except that a pixel that has not fired supports nothing: Tonic treats it
    as having fired at ``t = 0``, which keeps every event of the first ``filter_time`` µs.
    """
    return _filtered(events, sensor_size, denoise_mask, filter_time, "filter_time")


def refractory_filter(events, sensor_size, period) -> np.ndarray:
    """Events more than ``period`` µs after their pixel's previous event, kept or not (Tonic's ``RefractoryPeriod``).

    A pixel's first event is always kept; Tonic drops it when it comes at ``t = 0`` (it starts every
    pixel as if it had fired at ``t = -period``).
    """
    return _filtered(events, sensor_size, refractory_mask, period, "period")


# ---- pixel maps ---------------------------------------------------------------------------------

def _event_array(events, sensor_size) -> np.ndarray:
    """An ``EVENT_DTYPE`` array as is (a kernel checks it), any other converted by ``validate_events``."""
    return events if _is_event_array(events) else validate_events(events, sensor_size)


def _remap(events, sensor_size, x_map, y_map) -> np.ndarray:
    """``events`` (checked inside the kernel) through the maps of ``remap_events``."""
    width, height, _ = sensor_shape(sensor_size)
    events = _event_array(events, sensor_size)
    out = np.empty(len(events) + 1, EVENT_DTYPE)
    kept = remap_events(events, width, height, x_map, y_map, out)
    if kept < 0:
        raise _rejected(events, sensor_size)
    return out[:kept]


def _flip(events, sensor_size, axis: int) -> np.ndarray:
    """``events`` (checked inside the kernel) mirrored along ``axis`` (``flip_events``)."""
    width, height, _ = sensor_shape(sensor_size)
    events = _event_array(events, sensor_size)
    out = np.empty(len(events), EVENT_DTYPE)
    if not flip_events(events, width, height, axis, out):
        raise _rejected(events, sensor_size)
    return out


def _window(origin: int, size: int, extent: int) -> np.ndarray:
    """Map of the coordinates ``0..extent-1``: ``v - origin`` inside ``[origin, origin + size)``, else -1."""
    v = np.arange(extent, dtype=np.int64)
    return np.where((v >= origin) & (v < origin + size), v - origin, -1)


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2:
        raise ValidationError(f"{name} must be an int or a (width, height) pair, got {value!r}")
    return tuple(whole_number(v, name, 1, 2 ** 16) for v in pair)


def crop(events, sensor_size, origin, size) -> np.ndarray:
    """Events inside the ``size = (w, h)`` box whose top-left pixel is ``origin = (x0, y0)``, moved to start at 0.

    The box may reach outside the sensor (``origin`` negative): coordinates still become ``x - x0``.
    Tonic's ``RandomCrop`` is this with a random ``origin``.
    """
    width, height, _ = sensor_shape(sensor_size)
    w, h = _pair(size, "size")
    x0, y0 = (whole_number(v, "origin", -2 ** 16, 2 ** 16) for v in origin)
    return _remap(events, sensor_size, _window(x0, w, width), _window(y0, h, height))


def center_crop(events, sensor_size, size) -> np.ndarray:
    """``crop`` to ``size = (w, h)`` (or ``w = h = size``) at the sensor's centre, as Tonic's ``CenterCrop``.

    The box starts at ``((W - w) // 2, (H - h) // 2)``; a box larger than the sensor pads it.
    """
    width, height, _ = sensor_shape(sensor_size)
    w, h = _pair(size, "size")
    return crop(events, sensor_size, ((width - w) // 2, (height - h) // 2), (w, h))


def downsample(events, sensor_size, target_size) -> np.ndarray:
    """Coordinates scaled to a ``target_size = (W', H')`` sensor: ``x' = floor(x * W' / W)``, as Tonic's ``Downsample``.

    No event is dropped or merged; several may now share a pixel and a timestamp.
    """
    width, height, _ = sensor_shape(sensor_size)
    tw, th = _pair(target_size, "target_size")
    factor = np.asarray((tw, th)) / np.asarray((width, height))
    x_map = (np.arange(width) * factor[0]).astype(np.int64)
    y_map = (np.arange(height) * factor[1]).astype(np.int64)
    return _remap(events, sensor_size, x_map, y_map)


def flip_lr(events, sensor_size) -> np.ndarray:
    """Mirror left-right: ``x' = W - 1 - x`` (Tonic's ``RandomFlipLR`` with ``p=1``)."""
    return _flip(events, sensor_size, 0)


def flip_ud(events, sensor_size) -> np.ndarray:
    """Mirror top-bottom: ``y' = H - 1 - y`` (Tonic's ``RandomFlipUD`` with ``p=1``)."""
    return _flip(events, sensor_size, 1)


def flip_polarity(events, sensor_size) -> np.ndarray:
    """ON becomes OFF and OFF becomes ON (Tonic's ``RandomFlipPolarity`` with ``p=1``)."""
    return _flip(events, sensor_size, 2)
