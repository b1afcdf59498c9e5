"""Iterate an event file of any supported format in chunks, holding only about one chunk in memory.

The file is read ``block_bytes`` at a time and decoded with the same kernels and carried decoder state
as a whole-file read (EVT time-high words, wraps, the last timestamp), so the chunks, joined, are
exactly ``read(path).events``. A recording larger than RAM can be processed this way.
"""
from __future__ import annotations

from collections import deque
from typing import Iterator

import numpy as np

from ..errors import ValidationError
from .events import EVENT_DTYPE
from .formats.detect import open_source

BLOCK_BYTES = 1 << 20


class EventStream:
    """Chunks of ``chunk_events`` events (the last may be shorter), or one chunk per ``window_us`` window.

    Windows start at the first event's time: chunk k holds the events with
    ``t0 + k * window_us <= t < t0 + (k + 1) * window_us``, and windows with no events are yielded as
    empty arrays so that k is always the chunk's position. ``sensor_size`` and ``meta`` come from the
    header, known before the first chunk.
    """

    def __init__(self, path, *, chunk_events: int | None = None, window_us: int | None = None, sensor_size=None,
                 format: str | None = None, block_bytes: int = BLOCK_BYTES):
        if (chunk_events is None) == (window_us is None):
            raise ValidationError("stream: give exactly one of chunk_events=N or window_us=W")
        for name, value in (("chunk_events", chunk_events), ("window_us", window_us), ("block_bytes", block_bytes)):
            if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                                      or value < 1):
                raise ValidationError(f"stream: {name} must be a positive integer, got {value!r}")
        self.source = open_source(path, sensor_size, format)
        if window_us is not None and getattr(self.source, "offsets", None) is not None:
            raise ValidationError(f"stream: {path} holds labelled samples, each with its own time origin; "
                                  "stream it by chunk_events, or read samples with read_sample")
        self.sensor_size, self.meta = self.source.sensor_size, self.source.meta
        self.chunk_events, self.window_us, self.block_bytes = chunk_events, window_us, int(block_bytes)

    def __iter__(self) -> Iterator[np.ndarray]:
        blocks = self.source.blocks(self.block_bytes)
        if self.chunk_events is not None:
            return _by_count(blocks, int(self.chunk_events))
        return _by_window(blocks, int(self.window_us))


def stream(path, *, chunk_events: int | None = None, window_us: int | None = None, sensor_size=None,
           format: str | None = None, block_bytes: int = BLOCK_BYTES) -> EventStream:
    """An ``EventStream`` over ``path`` (format detected as ``read`` does)."""
    return EventStream(path, chunk_events=chunk_events, window_us=window_us, sensor_size=sensor_size,
                       format=format, block_bytes=block_bytes)


def _by_count(blocks, n: int) -> Iterator[np.ndarray]:
    parts, have = deque(), 0
    for block in blocks:
        parts.append(block)
        have += len(block)
        while have >= n:
            yield _take(parts, n)
            have -= n
    if have:
        yield _take(parts, have)


def _take(parts: deque, n: int) -> np.ndarray:
    """The first ``n`` events of the queued blocks, removed from the queue (copied once, as bytes)."""
    out = np.empty(n, EVENT_DTYPE)
    raw, size, filled = out.view(np.uint8), EVENT_DTYPE.itemsize, 0
    while filled < n:
        head = parts[0]
        k = min(len(head), n - filled)
        raw[filled * size:(filled + k) * size] = np.ascontiguousarray(head[:k]).view(np.uint8)
        filled += k
        if k == len(head):
            parts.popleft()
        else:
            parts[0] = head[k:]
    return out


def _by_window(blocks, width: int) -> Iterator[np.ndarray]:
    parts, have, t0, k = deque(), 0, None, 0
    for block in blocks:
        if not len(block):
            continue
        if t0 is None:
            t0 = int(block["t"][0])
        parts.append(block)
        have += len(block)
        last = (int(block["t"][-1]) - t0) // width
        for edge in t0 + width * np.arange(k + 1, last + 1, dtype=np.int64):
            # events before the edge: all of the earlier blocks' events, then a prefix of later ones
            count = sum(int(np.searchsorted(p["t"], edge)) for p in parts)
            yield _take(parts, count)
            have -= count
        k = last
    if have:
        yield _take(parts, have)
