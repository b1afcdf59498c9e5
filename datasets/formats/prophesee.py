"""Prophesee RAW (EVT 2.0, EVT 3.0) and DAT files: a ``%`` text header, then little-endian words.

The sensor size comes from the header (``% geometry WxH``, ``% format EVT3;width=..;height=..``,
``% Width``/``% Height``), else from the sensor generation in ``% plugin_name`` (old RAW files),
else from the caller. Layouts and time rules: ``kernels.decode`` and
``../shared/reference/event-formats.md`` section 2.
"""
from __future__ import annotations

import re

import numpy as np

from ...kernels import decode as K
from .base import WordSource, checked_size, fail, header_lines
from .nmnist import ATIS_SIZE

# sensor generation named in old headers' plugin_name -> (W, H); most specific names first
_PLUGIN_SIZES = (("genx320", (320, 320)), ("gen41", (1280, 720)), ("imx636", (1280, 720)), ("gen4", (1280, 720)),
                 ("gen31", (640, 480)), ("gen3", (640, 480)))


def header_dict(lines: list[str]) -> dict[str, str]:
    """``key value`` header lines as a dict (later keys win; a line without a value maps to '')."""
    out = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if key:
            out[key] = value.strip()
    return out


def evt_version(header: dict[str, str]) -> str | None:
    """'2.0', '2.1', '3.0', ... from ``% evt`` or ``% format EVTn``; None when neither is there."""
    if "evt" in header:
        return header["evt"]
    match = re.match("EVT([0-9]{1,9})(?:\\.([0-9]{1,9}))?", header.get("format", ""), re.I)
    return f"{match[1]}.{match[2] or 0}" if match else None


def _geometry(header: dict[str, str]):
    """(W, H) from the header, or None."""
    match = re.fullmatch("([0-9]{1,9})x([0-9]{1,9})", header.get("geometry", ""))
    if match:
        return int(match[1]), int(match[2])
    fields = dict(f.split("=", 1) for f in header.get("format", "").split(";") if "=" in f)
    width = fields.get("width", header.get("Width", ""))
    height = fields.get("height", header.get("Height", ""))
    if re.fullmatch("[0-9]{1,9}", width) and re.fullmatch("[0-9]{1,9}", height):
        return int(width), int(height)
    plugin = header.get("plugin_name", "").lower()
    return next((size for name, size in _PLUGIN_SIZES if name in plugin), None)


class Evt2Source(WordSource):
    format = "evt2"
    word_dtype = np.dtype("<u4")
    kernel = staticmethod(K.decode_evt2)


class Evt3Source(WordSource):
    format = "evt3"
    word_dtype = np.dtype("<u2")
    kernel = staticmethod(K.decode_evt3)
    capacity = staticmethod(K.evt3_capacity)


class DatSource(WordSource):
    format = "dat"
    word_dtype = np.dtype(("<u4", (2,)))
    kernel = staticmethod(K.decode_dat)


_EVT = {"2.0": Evt2Source, "3.0": Evt3Source}
_DAT_CD_TYPES = {0x00: "Event2d", 0x0C: "EventCD"}


def open_raw(path, sensor_size=None) -> WordSource:
    """Open a Prophesee RAW file (EVT 2.0 or EVT 3.0)."""
    lines, offset = header_lines(path)
    header = header_dict(lines)
    version = evt_version(header)
    if version not in _EVT:
        raise fail(path, 0, f"RAW header gives event format {version!r}; supported: EVT 2.0, EVT 3.0")
    size = checked_size(path, sensor_size, _geometry(header))
    return _EVT[version](path, offset, size, {"header": header})


def open_dat(path, sensor_size=None) -> DatSource:
    """Open a Prophesee DAT file of CD (or ATIS 2D) events; a headerless-size Event2d file is ATIS 304 x 240."""
    lines, offset = header_lines(path)
    header = header_dict(lines)
    version = header.get("Version", "0")
    if not re.fullmatch("[0-9]{1,9}", version):
        raise fail(path, 0, f"DAT header '% Version {version}' is not a whole number")
    if int(version) > 0:
        with open(path, "rb") as f:
            f.seek(offset)
            kind = f.read(2)
        if len(kind) < 2:
            raise fail(path, offset, "file ends before the DAT event type and size bytes: truncated")
        if kind[0] not in _DAT_CD_TYPES or kind[1] != 8:
            raise fail(path, offset, f"DAT event type {kind[0]:#04x} of {kind[1]} bytes; supported: 8-byte "
                       "Event2d (0x00) and EventCD (0x0c)")
        header["event_type"] = _DAT_CD_TYPES[kind[0]]
        offset += 2
    geometry = _geometry(header)
    if geometry is None and header.get("event_type") == "Event2d":
        geometry = ATIS_SIZE  # Event2d is the ATIS camera's record type
    size = checked_size(path, sensor_size, geometry, " (no % Width / % Height lines)")
    return DatSource(path, offset, size, {"header": header})
