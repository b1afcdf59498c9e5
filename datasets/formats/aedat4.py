"""iniVation AEDAT 4.0, decoded by the maintained ``aedat`` package (flatbuffers, LZ4/Zstd packets).

The first event stream in the file's description is read; its ``sizeX``/``sizeY`` give the sensor
size. ``aedat`` reports packets, not byte offsets, so errors past the header name the packet.
"""
from __future__ import annotations

import itertools
import struct
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from ..events import EVENT_DTYPE
from .base import Source, checked_size, fail

MAGIC = b"#!AER-DAT4.0\r\n"


def _aedat():
    try:
        import aedat
    except ImportError as exc:
        raise ImportError("reading AEDAT 4 files needs the 'aedat' package: pip install aedat") from exc
    return aedat


@contextmanager
def _reported(path, where):
    """aedat's errors as FormatError: its exceptions, and Rust panics (pyo3's PanicException, which
    derives from BaseException)."""
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise fail(path, where, f"aedat cannot decode it: {exc}") from None


def _packets(path) -> Iterator[dict]:
    with _reported(path, 0):
        packets = iter(_aedat().Decoder(str(path)))
    for k in itertools.count():
        with _reported(path, f"packet {k}"):
            packet = next(packets, None)
        if packet is None:
            return
        yield packet


class Aedat4Source(Source):
    format = "aedat4"

    def __init__(self, path, sensor_size, meta, stream_id: int):
        super().__init__(path, sensor_size, meta)
        self.stream_id = stream_id

    def blocks(self, block_bytes: int) -> Iterator[np.ndarray]:
        """The event stream's packets, converted and checked in groups of about ``block_bytes``."""
        group, size, first, last = [], 0, 0, -1
        for k, packet in enumerate(_packets(self.path)):
            if packet.get("stream_id") == self.stream_id and len(packet.get("events", ())):
                if not group:
                    first = k
                group.append(packet["events"])
                size += packet["events"].nbytes
            if group and size >= block_bytes:
                events = self._converted(group, f"packets {first}..{k}", last)
                last = int(events["t"][-1])
                group, size = [], 0
                yield events
        if group:
            yield self._converted(group, f"packets {first}..end", last)

    def _converted(self, group, where, last) -> np.ndarray:
        # joined as bytes: numpy concatenates packed records field by field, several times slower
        raw = group[0] if len(group) == 1 else np.concatenate([g.view(np.uint8) for g in group]).view(group[0].dtype)
        width, height = self.sensor_size[:2]
        t = raw["t"]
        if raw["x"].max() >= width or raw["y"].max() >= height:
            raise fail(self.path, where, f"event outside the {width} x {height} sensor")
        if t.max() >= 1 << 62 or int(t[0]) < last or (t[1:] < t[:-1]).any():
            raise fail(self.path, where, "timestamps go backwards or exceed 2**62 us")
        events = np.empty(len(raw), EVENT_DTYPE)
        events["x"], events["y"], events["t"], events["p"] = raw["x"], raw["y"], t, raw["on"]
        return events


def _check_description(path, f) -> None:
    """Check that the IOHeader flatbuffer's ``description`` is in the file and valid UTF-8.

    aedat 2.3.0 aborts the interpreter (a Rust panic across the FFI boundary) on a description that
    is not UTF-8, so this is checked here first. Layout: magic, u32 size, IOHeader (root table offset,
    vtable, field 2 = description string: u32 length + bytes).
    """
    size_bytes = f.read(4)
    if len(size_bytes) < 4:
        raise fail(path, len(MAGIC), "file ends inside the IOHeader size: truncated")
    start = len(MAGIC) + 4
    header = f.read(struct.unpack("<I", size_bytes)[0])

    def u(fmt, at):
        if not 0 <= at <= len(header) - struct.calcsize(fmt):
            raise fail(path, start + max(at, 0), f"IOHeader reference to byte {start + at} is outside the header")
        return struct.unpack_from(fmt, header, at)[0]

    table = u("<I", 0)
    vtable = table - u("<i", table)
    field = u("<H", vtable + 8) if u("<H", vtable) > 8 else 0
    if field:
        text = table + field + u("<I", table + field)
        length = u("<I", text)
        if text + 4 + length > len(header):
            raise fail(path, start + text, "IOHeader description runs past the header")
        try:
            header[text + 4:text + 4 + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(path, start + text + 4 + exc.start, "IOHeader description is not UTF-8") from None


def open_aedat4(path, sensor_size=None) -> Aedat4Source:
    """Open an AEDAT 4.0 file at its first event stream."""
    with open(path, "rb") as f:
        magic = f.read(len(MAGIC))
        if magic != MAGIC:
            raise fail(path, 0, f"expected the AEDAT 4.0 magic {MAGIC!r}, found {magic!r}")
        _check_description(path, f)
    with _reported(path, 0):
        streams = _aedat().Decoder(str(path)).id_to_stream()
    ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
    if not ids:
        raise fail(path, 0, f"the AEDAT 4.0 description has no event stream (streams: {streams})")
    info = streams[ids[0]]
    size = checked_size(path, sensor_size, (info["width"], info["height"]) if "width" in info else None)
    return Aedat4Source(path, size, {"stream_id": ids[0], "streams": {int(i): dict(s) for i, s in streams.items()}},
                        ids[0])
