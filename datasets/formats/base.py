"""What every reader returns, and the block-by-block decoding that readers and streaming share.

A reader opens a file as a ``Source``: the sensor size and metadata from its header, and ``blocks(n)``,
which yields the file's events in order while holding about ``n`` bytes of it at a time. Reading a
whole file is the same decoding in one block, so a stream's chunks join to exactly the whole-file read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ...errors import FormatError, ValidationError
from ...kernels import decode as K
from ..events import EVENT_DTYPE, sensor_shape

WHOLE_FILE = 1 << 62
"""``block_bytes`` that decodes a file's data in one block."""


@dataclass(frozen=True, eq=False)
class Recording:
    """Events (``EVENT_DTYPE``, time-ordered within each sample), sensor size ``(W, H, P)``, file metadata.

    ``offsets`` (int64, N + 1) and ``labels`` (int64, N) split a labelled file's events into samples;
    both are None for a single recording.
    """
    events: np.ndarray
    sensor_size: tuple[int, int, int]
    meta: dict = field(default_factory=dict)
    offsets: np.ndarray | None = None
    labels: np.ndarray | None = None


def join_events(parts) -> np.ndarray:
    """``EVENT_DTYPE`` arrays joined end to end (as bytes: numpy copies packed records field by field)."""
    raw = [np.ascontiguousarray(p).view(np.uint8) for p in parts]
    return np.concatenate(raw).view(EVENT_DTYPE) if raw else np.empty(0, EVENT_DTYPE)


def fail(path, offset, what: str) -> FormatError:
    """A ``FormatError`` naming the file and the byte offset (or other position) of the problem."""
    where = f"byte {offset}" if isinstance(offset, (int, np.integer)) else offset
    return FormatError(f"{os.fspath(path)}: {where}: {what}")


def checked_size(path, sensor_size, fallback=None, what: str = "") -> tuple[int, int, int]:
    """``(W, H, P)`` from the caller's ``sensor_size``, else the header's ``fallback``, else a FormatError."""
    if sensor_size is not None:
        return sensor_shape(sensor_size)
    if fallback is None:
        raise fail(path, 0, f"the header gives no sensor size{what}; pass sensor_size=(W, H)")
    try:
        return sensor_shape(fallback)
    except ValidationError as exc:
        raise fail(path, 0, f"the header's sensor size is not usable: {exc}") from None


class Source:
    """An opened event file: ``sensor_size``, ``meta`` and ``blocks(block_bytes)``."""

    format = ""

    def __init__(self, path, sensor_size: tuple[int, int, int], meta: dict):
        self.path = os.fspath(path)
        self.sensor_size = sensor_size
        self.meta = {"format": self.format, **meta}

    def blocks(self, block_bytes: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def read(self) -> Recording:
        """The whole file as one ``Recording``."""
        parts = list(self.blocks(WHOLE_FILE))
        return Recording(parts[0] if len(parts) == 1 else join_events(parts), self.sensor_size, dict(self.meta))


_KERNEL_ERRORS = {
    K.ERR_WORD: "word {word:#x} has a type that {fmt} does not define (corrupt data?)",
    K.ERR_X: "event x is outside the sensor width {width} (word {word:#x})",
    K.ERR_Y: "event y is outside the sensor height {height} (word {word:#x})",
    K.ERR_BACKWARDS: "timestamp is earlier than the event before it (at {last} us); {fmt} timestamps "
                     "never go back",
    K.ERR_POLARITY: "polarity field is neither 0 nor 1 (word {word:#x})",
}


class WordSource(Source):
    """A file whose data section is fixed-size words decoded by a ``kernels.decode`` loop.

    ``word_dtype`` gives one word (a sub-array dtype for multi-part records); ``capacity(words)``
    bounds the events that ``kernel`` may write for ``words`` (default: one per word).
    """

    word_dtype: np.dtype
    kernel: Callable
    capacity: Callable | None = None

    def __init__(self, path, data_offset: int, sensor_size, meta: dict):
        super().__init__(path, sensor_size, meta)
        self.data_offset = data_offset
        self.held = 0

    def blocks(self, block_bytes: int) -> Iterator[np.ndarray]:
        """Reads of ``block_bytes`` (any size: a word cut by a read is completed by the next one)."""
        size = self.word_dtype.itemsize
        state = K.new_state()
        width, height = self.sensor_size[:2]
        offset, carry = self.data_offset, b""
        with open(self.path, "rb") as f:
            block = max(1, min(block_bytes, os.fstat(f.fileno()).st_size - offset + 1))
            f.seek(offset)
            while raw := f.read(block):
                raw = carry + raw if carry else raw
                whole = len(raw) - len(raw) % size
                carry = raw[whole:]
                if not whole:
                    continue
                words = np.frombuffer(raw, self.word_dtype, whole // size)
                out = np.empty(self.capacity(words) if self.capacity is not None else len(words), EVENT_DTYPE)
                count, err, at = self.kernel(words, width, height, state, out["x"], out["y"], out["t"], out["p"])
                if err != K.ERR_NONE:
                    raise fail(self.path, offset + at * size, _KERNEL_ERRORS[err].format(
                        word=int(np.asarray(words[at]).reshape(-1)[-1]), fmt=self.format, width=width,
                        height=height, last=state[K.LAST_T]))
                self.held = int(state[K.HELD])
                offset += whole
                yield out[:count]
        if carry:
            raise fail(self.path, offset, f"file ends inside a {size}-byte {self.format} word "
                       f"({len(carry)} bytes left): truncated")

    def read(self) -> Recording:
        rec = super().read()
        if self.held:
            rec.meta["held_timestamps"] = self.held
        return rec


def header_lines(path, limit: int = 1 << 20) -> tuple[list[str], int]:
    """The ``%`` text lines at the start of a Prophesee file (without ``%``) and the data offset.

    The header ends at the first line that does not start with ``%`` or after a ``% end`` line; it is
    read in small pieces, since it is usually a few hundred bytes before megabytes of data.
    """
    lines, offset, head = [], 0, b""
    with open(path, "rb") as f:
        while True:
            if offset < len(head) and head[offset:offset + 1] != b"%":
                break
            end = head.find(b"\n", offset)
            if end < 0:
                more = f.read(4096)
                if more and len(head) < limit:
                    head += more
                    continue
                if len(head) >= limit:
                    raise fail(path, offset, f"header line longer than {limit} bytes: not a Prophesee file")
                if offset >= len(head):
                    break
                end = len(head)  # a last header line without a newline: the file has no data
            line = head[offset + 1:end].decode("latin-1").strip()
            offset = min(end + 1, len(head))
            if line == "end":
                break
            lines.append(line)
    return lines, offset
