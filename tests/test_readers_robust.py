"""Malformed files: a FormatError naming the file and byte offset; fuzzed real files never do worse."""
from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spiking.datasets.events import validate_events
from spiking.datasets.formats.detect import read
from spiking.errors import FormatError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "events"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data/events (not in a fresh clone)")
EVT3_HEADER = b"% evt 3.0\n% geometry 64x32\n"


def _write(tmp_path, name, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _evt3(tmp_path, words) -> Path:
    return _write(tmp_path, "f.raw", EVT3_HEADER + np.asarray(words, "<u2").tobytes())


def test_truncated_word(tmp_path):
    path = _write(tmp_path, "f.raw", EVT3_HEADER + np.asarray([0x8001, 0x2001], "<u2").tobytes() + b"\x05")
    at = len(EVT3_HEADER) + 4
    with pytest.raises(FormatError, match=rf"f.raw: byte {at}: file ends inside a 2-byte evt3 word .*truncated"):
        read(path)
    with pytest.raises(FormatError, match=r"byte 5: file ends inside a 5-byte nmnist-bin word"):
        read(_write(tmp_path, "n.bin", bytes([1, 2, 0, 0, 9, 3, 4])))


def test_corrupt_word_type(tmp_path):
    at = len(EVT3_HEADER) + 2 * 2
    with pytest.raises(FormatError, match=rf"byte {at}: word 0x1234 has a type that evt3 does not define"):
        read(_evt3(tmp_path, [0x8001, 0x2001, 0x1234]))
    words = np.asarray([0x80000001, 0x30000000], "<u4").tobytes()
    with pytest.raises(FormatError, match=r"byte 29: word 0x30000000 has a type that evt2 does not define"):
        read(_write(tmp_path, "f2.raw", b"% evt 2.0\n% geometry 8x8\n" + words))


def test_out_of_range_coordinates(tmp_path):
    with pytest.raises(FormatError, match=rf"byte {len(EVT3_HEADER) + 4}: event x is outside the sensor width 64"):
        read(_evt3(tmp_path, [0x8001, 0x0001, 0x2040]))
    with pytest.raises(FormatError, match=r"event y is outside the sensor height 32"):
        read(_evt3(tmp_path, [0x8001, 0x0020, 0x2001]))
    with pytest.raises(FormatError, match=r"event x is outside the sensor width 64"):  # VECT_12 bit 11 at base 60
        read(_evt3(tmp_path, [0x8001, 0x0001, 0x303C, 0x4800]))
    with pytest.raises(FormatError, match=r"byte 5: event y is outside the sensor height 34"):
        read(_write(tmp_path, "n.bin", bytes([1, 2, 0, 0, 9, 3, 34, 0, 0, 10])), sensor_size=(34, 34))


def test_timestamps_going_backwards(tmp_path):
    header = b"% Version 2\n% Width 8\n% Height 8\n\x0c\x08"
    records = struct.pack("<II", 50, 1) + struct.pack("<II", 40, 2)
    with pytest.raises(FormatError, match=rf"d.dat: byte {len(header) + 8}: timestamp is earlier than the event "
                                          r"before it \(at 50"):
        read(_write(tmp_path, "d.dat", header + records))
    with pytest.raises(FormatError, match=r"byte 5: timestamp is earlier"):
        read(_write(tmp_path, "n.bin", bytes([1, 2, 0, 0, 9, 3, 4, 0, 0, 8])))
    # EVT 2.0 / 3.0 tolerate a step back of the time words, as Prophesee's decoders do: times are held
    back = [(0x8 << 28) | 9, (1 << 28) | (5 << 22), (0x8 << 28) | 8, (1 << 28) | (1 << 22)]
    rec = read(_write(tmp_path, "b.raw", b"% evt 2.0\n% geometry 8x8\n" + np.asarray(back, "<u4").tobytes()))
    assert rec.events["t"].tolist() == [9 * 64 + 5] * 2 and rec.meta["held_timestamps"] == 1


def test_headers(tmp_path):
    with pytest.raises(FormatError, match=r"byte 0: RAW header gives event format '4.0'"):
        read(_write(tmp_path, "f.raw", b"% evt 4.0\n% geometry 8x8\n\x00\x80"))
    with pytest.raises(FormatError, match=r"RAW header gives event format None"):
        read(_write(tmp_path, "nohdr.raw", b"\x01\x80\x02\x20"))
    with pytest.raises(FormatError, match=r"byte 0: the header gives no sensor size; pass sensor_size"):
        read(_write(tmp_path, "g.raw", b"% evt 3.0\n\x01\x80"))
    assert len(read(_write(tmp_path, "g.raw", b"% evt 3.0\n\x01\x80"), sensor_size=(8, 8)).events) == 0
    with pytest.raises(FormatError, match=r"DAT event type 0x0e of 8 bytes"):
        read(_write(tmp_path, "t.dat", b"% Version 2\n\x0e\x08"))
    with pytest.raises(FormatError, match=r"file ends before the DAT event type"):
        read(_write(tmp_path, "t.dat", b"% Version 2\n"))
    with pytest.raises(FormatError, match=r"expected the AEDAT 4.0 magic"):
        read(_write(tmp_path, "a.aedat4", b"#!AER-DAT3.1\r\n" + b"\x00" * 40))
    with pytest.raises(FormatError, match=r"missing.bin: byte 0: cannot open"):
        read(tmp_path / "missing.bin")


# --- fuzzing: mutated real files give a FormatError or a valid recording, nothing else ------------------

def _mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for op, where, value in ops:
        i = where % (len(buf) + 1)
        if op == "flip" and i < len(buf):
            buf[i] ^= 1 << (value % 8)
        elif op == "set" and i < len(buf):
            buf[i] = value
        elif op == "insert":
            buf[i:i] = bytes([value])
        elif op == "delete":
            del buf[i:i + 1 + value % 4]
        elif op == "truncate":
            del buf[i:]
    return bytes(buf)


OPS = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
                         st.integers(0, 2 ** 31), st.integers(0, 255)), min_size=1, max_size=6)
# (file, bytes kept: a prefix keeps each example fast; the header and the first words are always in it)
FUZZED = [("sample_nmnist.bin", 4000), ("evt2_sample.raw", 6000), ("evt3_sample.raw", 6000),
          ("sample_ncars.dat", 4000), ("sample.aedat4", None)]


def _fuzz_one(name, data, ops, focus):
    # half of the mutations land in the first 300 bytes, where the headers are
    ops = [(op, where % 300 if focus else where, value) for op, where, value in ops]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(_mutate(data, ops))
        try:
            rec = read(path)
        except FormatError as exc:
            assert str(path) in str(exc)
            return
        validate_events(rec.events, rec.sensor_size)


@needs_shared
@pytest.mark.parametrize("name, keep", FUZZED)
def test_fuzzed_files(name, keep):
    if name.endswith(".aedat4"):
        pytest.importorskip("aedat", reason="AEDAT 4 is decoded by the aedat package")
    data = (SHARED / name).read_bytes()[:keep]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(ops=OPS, focus=st.booleans())
    def run(ops, focus):
        _fuzz_one(name, data, ops, focus)

    run()


@needs_shared
def test_aedat4_description_not_utf8(tmp_path):
    """aedat 2.3.0 aborts the interpreter on this file; the reader refuses it first."""
    pytest.importorskip("aedat", reason="AEDAT 4 is decoded by the aedat package")
    data = bytearray((SHARED / "sample.aedat4").read_bytes())
    at = data.index(b"<node name=\"0\"") + 3
    data[at] = 0xDC
    with pytest.raises(FormatError, match=rf"bad.aedat4: byte {at}: IOHeader description is not UTF-8"):
        read(_write(tmp_path, "bad.aedat4", bytes(data)))
