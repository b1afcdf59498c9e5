"""The numba EVT decoders against slow, obviously correct Python loops, on random word streams."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiking import FormatError
from spiking.datasets.formats.detect import read
from spiking.datasets.stream import stream

SIZE = 2048  # every 11-bit coordinate is on the sensor


def naive_evt2(words):
    high, loops, last, out = None, 0, -1, []
    for w in words:
        kind = w >> 28
        if kind in (0, 1) and high is not None:
            t = max((loops << 34) | (high << 6) | ((w >> 22) & 0x3F), last)
            out.append(((w >> 11) & 0x7FF, w & 0x7FF, t, kind))
            last = t
        elif kind == 0x8:
            new = w & 0xFFFFFFF
            if high is not None and high - new >= 1 << 27:
                loops += 1
            high = new
    return out


def naive_evt3(words):
    high, low, loops, y, base, pol, last, out = None, 0, 0, 0, 0, 0, -1, []
    for w in words:
        kind, v = w >> 12, w & 0xFFF
        if kind == 0x0:
            y = w & 0x7FF
        elif kind in (0x2, 0x4, 0x5) and high is not None:
            t = max((loops << 24) | (high << 12) | low, last)
            last = t
            if kind == 0x2:
                out.append((w & 0x7FF, y, t, (w >> 11) & 1))
            else:
                bits = 12 if kind == 0x4 else 8
                out += [(base + k, y, t, pol) for k in range(bits) if v >> k & 1]
                base += bits
        elif kind == 0x3:
            base, pol = w & 0x7FF, (w >> 11) & 1
        elif kind == 0x6:
            low = v
        elif kind == 0x8:
            if high is not None and high >= v + 2048:
                loops += 1
            if v != high:
                low = 0
            high = v
    return out


def _evt2_word(draw):
    kind = draw(st.sampled_from([0, 1, 0x8, 0xA, 0xE, 0xF]))
    if kind == 0x8:  # time high: small steps, with occasional jumps back (jitter or wrap)
        return (kind << 28) | draw(st.sampled_from([0, 1, 2, 3, 0xFFFFFFF, 0xFFFFFFE, 1 << 27]))
    return (kind << 28) | draw(st.integers(0, (1 << 28) - 1))


def _evt3_word(draw):
    kind = draw(st.sampled_from([0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]))
    if kind == 0x3:  # base x low enough that a VECT_12 + VECT_8 after it stays on the sensor (more may not)
        return (kind << 12) | (draw(st.integers(0, 1)) << 11) | draw(st.integers(0, SIZE - 41))
    if kind == 0x8:
        return (kind << 12) | draw(st.sampled_from([0, 1, 2, 2047, 2048, 4094, 4095]))
    return (kind << 12) | draw(st.integers(0, 0xFFF))


def _check(tmp_path_factory, version, words, dtype, naive, block_bytes):
    path = tmp_path_factory.mktemp("naive") / "w.raw"
    # "% end" closes the header, as openeb writes it: without it a first word whose low byte is "%" would
    # read as one more header line (the format's own ambiguity)
    header = f"% evt {version}\n% geometry {SIZE}x{SIZE}\n% end\n".encode()
    path.write_bytes(header + np.asarray(words, dtype).tobytes())
    expected = naive(words)
    if any(x >= SIZE for x, *_ in expected):  # vector words ran past the sensor's edge: refused, not decoded
        with pytest.raises(FormatError, match="outside the sensor width"):
            read(path)
        return
    assert read(path).events.tolist() == expected
    chunks = list(stream(path, chunk_events=3, block_bytes=block_bytes))
    assert (np.concatenate(chunks).tolist() if chunks else []) == expected


@settings(max_examples=60, deadline=None)
@given(data=st.data(), block_bytes=st.integers(1, 64))
def test_evt2_matches_naive(tmp_path_factory, data, block_bytes):
    words = data.draw(st.lists(st.composite(_evt2_word)(), max_size=80))
    _check(tmp_path_factory, "2.0", words, "<u4", naive_evt2, block_bytes)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), block_bytes=st.integers(1, 64))
def test_evt3_matches_naive(tmp_path_factory, data, block_bytes):
    words = data.draw(st.lists(st.composite(_evt3_word)(), max_size=120))
    _check(tmp_path_factory, "3.0", words, "<u2", naive_evt3, block_bytes)
