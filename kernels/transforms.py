"""Event-stream transforms on the columns of an event array: checks, frames, filters, pixel maps.

Every kernel reads the columns ``x, y, t, p`` of events that passed
``spiking.datasets.transforms.checked_events`` (coordinates inside the sensor, polarity 0/1, time
non-decreasing and within ``+-2**62`` µs) and writes into arrays it is given, so the Python side owns
all allocation. Times are compared as ``last > t - d`` for a duration ``0 <= d <= 2**62``, which
cannot overflow there, where ``t - last`` can (it reaches ``2**63``).
"""
import numpy as np
from numba import njit


@njit(inline="always")
def _fails(x, y, t, p, prev, width, height):
    """Whether an event lies outside ``width x height``, has ``p > 1`` or is earlier than ``prev``
    (the time of the event before it). Times in order lie within ``+-2**62`` when the first and the
    last do, which the Python side checks (``spiking.datasets.events.within_span``)."""
    return (x >= width) | (y >= height) | (p > 1) | (t < prev)


@njit(cache=True)
def first_invalid(x, y, t, p, width, height):
    """Index of the first event that ``_fails``, else -1."""
    prev = t[0] if len(t) else 0
    for i in range(x.shape[0]):
        if _fails(x[i], y[i], t[i], p[i], prev, width, height):
            return i
        prev = t[i]
    return -1


@njit(cache=True)
def positions(t, values):
    """``np.searchsorted(t, values)`` on the time column as it lies in the records, without numpy's
    contiguous copy of the whole column (a binary search reads about 20 of its entries per value)."""
    return np.searchsorted(t, values)


@njit(cache=True)
def accumulate_frames(x, y, p, starts, ends, width, plane, frames):
    """``frames[k, p*plane + y*width + x] += 1`` for the events ``starts[k]:ends[k]`` of every slice ``k``.

    ``frames`` is ``[slices, channels * H * W]``; ``plane`` is ``H * W``, or 0 to merge polarities.
    Overlapping slices count an event once in each.
    """
    for k in range(starts.shape[0]):
        frame = frames[k]
        for i in range(starts[k], ends[k]):
            frame[np.int64(p[i]) * plane + np.int64(y[i]) * width + np.int64(x[i])] += 1


@njit(cache=True)
def denoise_mask(x, y, t, width, height, filter_time, keep):
    """Keep an event when one of its 4 neighbour pixels had an event less than ``filter_time`` µs before.

    ``keep[i]`` is set for each event; returns how many are kept. A pixel without an earlier event
    holds the time ``-2**63``, which is never above ``t - filter_time``, so it supports nothing. The
    event's own pixel is stamped before its neighbours are read, as in Tonic, so an event never
    supports itself. The grid has a border of pixels that never fire, so the four tests need no
    bounds checks and no branches.
    """
    stride = width + 2
    last = np.full(stride * (height + 2), np.iinfo(np.int64).min, np.int64)
    kept = 0
    for i in range(x.shape[0]):
        k = (np.int64(y[i]) + 1) * stride + np.int64(x[i]) + 1
        ti = t[i]
        last[k] = ti
        since = ti - filter_time
        near = (last[k - 1] > since) | (last[k + 1] > since) | (last[k - stride] > since) | (last[k + stride] > since)
        keep[i] = near
        kept += near
    return kept


@njit(cache=True)
def refractory_mask(x, y, t, width, height, period, keep):
    """Keep an event when its pixel had no event in the ``period`` µs before it (``t - t_prev > period``).

    ``t_prev`` is the pixel's previous event, kept or dropped (Tonic's definition), and a pixel's first
    event is always kept. Returns how many are kept.
    """
    last = np.empty(width * height, np.int64)
    seen = np.zeros(width * height, np.bool_)
    kept = 0
    for i in range(x.shape[0]):
        k = np.int64(y[i]) * width + np.int64(x[i])
        ok = not seen[k] or last[k] < t[i] - period
        keep[i] = ok
        kept += ok
        last[k] = t[i]
        seen[k] = True
    return kept


@njit(cache=True)
def remap_events(events, width, height, x_map, y_map, out):
    """Copy an ``EVENT_DTYPE`` array through per-value maps, dropping events mapped to -1, and check
    it on the way (``_fails``); returns how many were kept, or -1 if an event fails a check (``out``
    then holds nothing useful).

    Event ``i`` becomes ``(x_map[x], y_map[y], t, p)``; crop and downsampling are such maps. One
    pass over the records both checks and copies, so the events are read once. An out-of-range
    value is clamped before it indexes a map, so unchecked input never reads outside one. As in
    ``select_events``, every event is written and only kept ones advance the slot, so ``out`` needs
    one slot more than there are events.
    """
    k = 0
    bad = False
    prev = events[0].t if len(events) else 0
    for i in range(len(events)):
        e = events[i]
        x, y, t, p = e.x, e.y, e.t, e.p
        bad |= _fails(x, y, t, p, prev, width, height)
        prev = t
        nx = x_map[min(x, width - 1)]
        ny = y_map[min(y, height - 1)]
        o = out[k]
        o.x = nx
        o.y = ny
        o.t = t
        o.p = p
        k += (nx >= 0) & (ny >= 0)
    return -1 if bad else k


@njit(cache=True)
def flip_events(events, width, height, axis, out):
    """Copy an ``EVENT_DTYPE`` array into ``out`` mirrored along ``axis`` (0: ``x' = W - 1 - x``,
    1: ``y' = H - 1 - y``, 2: ``p' = 1 - p``), checking it on the way (``_fails``); returns False if
    an event fails a check.

    No event is dropped, so event ``i`` goes to slot ``i``, and each axis has its own loop that
    copies the other fields unchanged, which the compiler merges into a few wide moves: about twice
    the speed of ``remap_events``.
    """
    bad = False
    prev = events[0].t if len(events) else 0
    if axis == 0:
        for i in range(len(events)):
            e, o = events[i], out[i]
            bad |= _fails(e.x, e.y, e.t, e.p, prev, width, height)
            prev = e.t
            o.x, o.y, o.t, o.p = width - 1 - e.x, e.y, e.t, e.p
    elif axis == 1:
        for i in range(len(events)):
            e, o = events[i], out[i]
            bad |= _fails(e.x, e.y, e.t, e.p, prev, width, height)
            prev = e.t
            o.x, o.y, o.t, o.p = e.x, height - 1 - e.y, e.t, e.p
    else:
        for i in range(len(events)):
            e, o = events[i], out[i]
            bad |= _fails(e.x, e.y, e.t, e.p, prev, width, height)
            prev = e.t
            o.x, o.y, o.t, o.p = e.x, e.y, e.t, 1 - e.p
    return not bad


@njit(cache=True)
def select_events(x, y, t, p, keep, out_x, out_y, out_t, out_p):
    """Copy the events with ``keep[i]`` set, in order; returns how many.

    Every event is written at the next free slot and the slot advances only when it is kept, which
    needs no branch, so the outputs need one slot more than the events kept.
    """
    k = 0
    for i in range(x.shape[0]):
        out_x[k] = x[i]
        out_y[k] = y[i]
        out_t[k] = t[i]
        out_p[k] = p[i]
        k += keep[i]
    return k
