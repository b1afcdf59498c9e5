"""HDF5: the own layout round-trips exactly (hand cases and hypothesis), DSEC reads, bad files are refused."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiking.datasets.events import EVENT_DTYPE, make_events, validate_events
from spiking.datasets.formats.base import join_events
from spiking.datasets.formats.detect import read
from spiking.datasets.hdf5 import open_hdf5, read_events, read_sample, write_events
from spiking.datasets.stream import stream
from spiking.errors import FormatError, ValidationError


def _events(n, width=8, height=5, seed=0):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, width, n), rng.integers(0, height, n), np.sort(rng.integers(0, 10 ** 9, n)),
                       rng.integers(0, 2, n), (width, height))


def test_layout_on_disk(tmp_path):
    path = tmp_path / "rec.h5"
    events = _events(1000)
    write_events(path, events, (8, 5), meta={"camera": "hand", "gain": 2.5, "n": 3, "roi": np.arange(4)},
                 compression="lzf")
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "spiking.events" and f.attrs["version"] == 1
        assert f.attrs["sensor_size"].tolist() == [8, 5, 2]
        dtypes = {name: f["events"][name].dtype.str for name in "xytp"}
        assert dtypes == {"x": "<u2", "y": "<u2", "t": "<i8", "p": "|u1"}
        assert f["events/t"].chunks is not None and f["events/t"].compression == "lzf"
        assert f["meta"].attrs["camera"] == "hand" and "samples" not in f
    rec = read_events(path)
    np.testing.assert_array_equal(rec.events, events)
    assert rec.sensor_size == (8, 5, 2) and rec.offsets is None and rec.labels is None
    meta = rec.meta["meta"]
    assert (meta["camera"], meta["gain"], meta["n"], meta["roi"].tolist()) == ("hand", 2.5, 3, [0, 1, 2, 3])
    assert [p.name for p in tmp_path.iterdir()] == ["rec.h5"]  # no temporary file left
    np.testing.assert_array_equal(read(path).events, events)  # detected by its signature


def test_labelled_samples_and_read_sample(tmp_path):
    a, b, c = _events(5, seed=1), _events(0), _events(7, seed=2)  # each sample's times start afresh
    path = tmp_path / "set.h5"
    write_events(path, np.concatenate([a, b, c]), (8, 5), offsets=[0, 5, 5, 12], labels=[3, 1, 4])
    rec = read_events(path)
    assert rec.offsets.tolist() == [0, 5, 5, 12] and rec.labels.tolist() == [3, 1, 4]
    for i, (sample, label) in enumerate([(a, 3), (b, 1), (c, 4)]):
        events, got = read_sample(path, i)
        np.testing.assert_array_equal(events, sample)
        assert got == label and events.dtype == EVENT_DTYPE
    assert read_sample(path, -1)[1] == 4
    with pytest.raises(ValidationError, match="sample 3 of 3"):
        read_sample(path, 3)
    for bad in (3, -4, 1.5, "0", True, None):
        with pytest.raises(ValidationError, match=r"does not exist: the index must be a whole number in \[-3, 2\]"):
            read_sample(path, bad)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), width=st.integers(1, 2000), height=st.integers(1, 300), seed=st.integers(0, 99),
       cuts=st.lists(st.integers(0, 300), max_size=5), label_seed=st.integers(-5, 5),
       meta=st.dictionaries(st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=8),
                            st.one_of(st.integers(-2 ** 62, 2 ** 62), st.floats(allow_nan=False),
                                      st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)),
                            max_size=4),
       compression=st.sampled_from(["gzip", "lzf", None]))
def test_round_trip_is_identical(tmp_path_factory, n, width, height, seed, cuts, label_seed, meta, compression):
    rng = np.random.default_rng(seed)
    offsets = np.unique(np.clip([0, *cuts, n], 0, n))
    t = np.concatenate([np.sort(rng.integers(-10 ** 12, 10 ** 12, hi - lo))
                        for lo, hi in zip(offsets[:-1], offsets[1:])] + [np.zeros(0, np.int64)])
    events = np.empty(n, EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = (rng.integers(0, width, n), rng.integers(0, height, n), t,
                                                          rng.integers(0, 2, n))
    labels = np.arange(len(offsets) - 1) * label_seed
    path = tmp_path_factory.mktemp("rt") / "r.h5"
    write_events(path, events, (width, height, 1 + seed % 2), meta=meta, offsets=offsets, labels=labels,
                 compression=compression)
    rec = read_events(path)
    np.testing.assert_array_equal(rec.events, events)
    assert rec.sensor_size == (width, height, 1 + seed % 2)
    assert rec.offsets.tolist() == offsets.tolist() and rec.labels.tolist() == labels.tolist()
    assert rec.meta["meta"] == meta


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "keep.h5"
    path.write_bytes(b"old")

    def broken(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_events(path, _events(10), (8, 5))
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.h5"]


def test_writer_refuses_bad_input(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(ValidationError, match="outside the sensor width"):
        write_events(path, _events(10, width=8), (4, 5))
    with pytest.raises(ValidationError, match="earlier than the event before it"):
        write_events(path, _events(10)[::-1], (8, 5))
    with pytest.raises(ValidationError, match="offsets must be"):
        write_events(path, _events(10), (8, 5), offsets=[0, 4])
    with pytest.raises(ValidationError, match="labels must be 2 integers"):
        write_events(path, _events(10), (8, 5), offsets=[0, 4, 10], labels=[1])
    with pytest.raises(ValidationError, match=r"meta\['a'\]"):
        write_events(path, _events(10), (8, 5), meta={"a": {"nested": 1}})
    assert not path.exists()


def _dsec(path, x, y, t, p, t_offset):
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for name, values, dtype in (("x", x, "<u2"), ("y", y, "<u2"), ("t", t, "<u4"), ("p", p, "u1")):
            g.create_dataset(name, data=np.asarray(values, dtype))
        f.create_dataset("ms_to_idx", data=np.searchsorted(np.asarray(t), 1000 * np.arange(3)).astype("<u8"))
        f.create_dataset("t_offset", data=np.array([t_offset], "<i8"))


def test_dsec_layout(tmp_path):
    path = tmp_path / "events.h5"
    _dsec(path, [0, 639, 5], [479, 0, 3], [10, 1500, 2100], [1, 0, 1], 49_000_000)
    rec = read(path)
    assert rec.sensor_size == (640, 480, 2) and rec.meta["layout"] == "dsec"
    assert rec.events.tolist() == [(0, 479, 49_000_010, 1), (639, 0, 49_001_500, 0), (5, 3, 49_002_100, 1)]


def test_hdf5_errors_name_the_dataset(tmp_path):
    path = tmp_path / "bad.h5"
    _dsec(path, [0, 640], [0, 0], [1, 2], [0, 1], 0)
    with pytest.raises(FormatError, match=r"bad.h5: events/x\[1\]: x = 640 is outside 0..639"):
        read(path)
    _dsec(path, [0, 1], [0, 0], [5, 2], [0, 1], 0)
    with pytest.raises(FormatError, match=r"events/t\[1\]: t = 2 is earlier"):
        read(path)
    write_events(path, _events(3), (8, 5))
    with h5py.File(path, "a") as f:
        f.attrs["version"] = 7
    with pytest.raises(FormatError, match="layout version 7"):
        read_events(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("spikes", data=[1])
    with pytest.raises(FormatError, match="neither the 'spiking.events' layout"):
        read_events(path)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(FormatError, match="not a readable HDF5 file"):
        read(path)


# --- malformed layouts: a FormatError naming the file and the object, from every way of reading --------------

def _set(name, value=None):
    """An edit that replaces object ``name`` by ``value`` (a group if None)."""
    def edit(f):
        if name in f:
            del f[name]
        if value is None:
            f.create_group(name)
        else:
            f[name] = value
    return edit


def _set_attr(name, value):
    return lambda f: f.attrs.__setitem__(name, value)


def _vlen_attr(name):
    """An attribute of variable-length sequences: read unchecked, a corrupt one can crash HDF5."""
    def edit(f):
        data = np.empty(1, object)
        data[0] = np.arange(2, dtype=np.uint8)
        f.attrs.create(name, data, dtype=h5py.vlen_dtype(np.uint8))
    return edit


def _delete(name):
    return lambda f: f.__delitem__(name)


OWN_CASES = [  # (id, edit, where the message says the problem is, what it says)
    ("x-group", _set("events/x"), "events/x", "expected an HDF5 Dataset, found Group"),
    ("x-missing", _delete("events/x"), "events/x", "expected an HDF5 Dataset, found nothing"),
    ("x-datatype", _set("events/x", np.dtype("<u2")), "events/x", "found Datatype"),
    ("x-empty", _set("events/x", h5py.Empty("<u2")), "events/x", "expected integers"),
    ("x-strings", _set("events/x", np.array([b"a"] * 20)), "events/x", "expected integers"),
    ("t-float", _set("events/t", np.arange(20.0)), "events/t", "expected integers"),
    ("t-uint64", _set("events/t", np.arange(20, dtype=np.uint64)), "events/t", "does not fit int64"),
    ("y-2d", _set("events/y", np.zeros((20, 1), np.uint16)), "events", "1-D of one length"),
    ("p-short", _set("events/p", np.zeros(19, np.uint8)), "events", "1-D of one length"),
    ("events-dataset", _set("events", np.arange(3)), "events/x", "found nothing"),
    ("size-scalar", _set_attr("sensor_size", 34), "attrs/sensor_size", "got 34"),
    ("size-inf", _set_attr("sensor_size", [np.inf, 5.0, 2.0]), "attrs/sensor_size", "got array"),
    ("size-empty", _set_attr("sensor_size", h5py.Empty("i8")), "attrs/sensor_size", "got Empty"),
    ("size-zero", _set_attr("sensor_size", [0, 5, 2]), "attrs/sensor_size", "1 <= W, H"),
    ("size-missing", lambda f: f.attrs.__delitem__("sensor_size"), "attrs/sensor_size", "got None"),
    ("version-array", _set_attr("version", [1, 1]), "attrs/version", "layout version array"),
    ("version-str", _set_attr("version", "1"), "attrs/version", "layout version '1'"),
    ("version-bool", _set_attr("version", True), "attrs/version", "layout version True"),
    ("format-array", _set_attr("format", ["spiking.events", "x"]), "byte 0", "neither the 'spiking.events' layout"),
    ("version-vlen", _vlen_attr("version"), "attrs/version", "neither a number nor a string"),
    ("meta-compound", lambda f: f["meta"].attrs.__setitem__("c", np.zeros(2, [("a", "<i4")])), "meta/attrs/c",
     "neither a number nor a string"),
    ("unstored", lambda f: [f[f"events/{name}"].resize((2 ** 40,)) for name in "xytp"], "events/x",
     "declares 1099511627776 values but the file does not store them all"),
    ("offsets-group", _set("samples/offsets"), "samples/offsets", "found Group"),
    ("offsets-float", _set("samples/offsets", np.array([0.0, 8.0, 20.0])), "samples/offsets", "expected integers"),
    ("offsets-2d", _set("samples/offsets", np.array([[0, 8, 20]])), "samples", "offsets must be 1-D"),
    ("offsets-past-end", _set("samples/offsets", np.array([0, 8, 21])), "samples", "offsets must be"),
    ("labels-group", _set("samples/labels"), "samples/labels", "found Group"),
    ("labels-strings", _set("samples/labels", np.array([b"a", b"b"])), "samples/labels", "expected integers"),
    ("samples-dataset", _set("samples", np.arange(3)), "samples/offsets", "found nothing"),
    ("meta-dataset", _set("meta", np.arange(3)), "meta", "expected an HDF5 Group, found Dataset"),
]

DSEC_CASES = [
    ("t_offset-group", _set("t_offset"), "t_offset", "found Group"),
    ("t_offset-float", _set("t_offset", np.array([1.5])), "t_offset", "expected integers"),
    ("t_offset-two", _set("t_offset", np.array([1, 2])), "t_offset", "one non-negative integer"),
    ("t_offset-negative", _set("t_offset", np.array([-1])), "t_offset", "one non-negative integer"),
    ("t_offset-empty", _set("t_offset", h5py.Empty("<i8")), "t_offset", "expected integers"),
    ("x-group", _set("events/x"), "events/x", "found Group"),
    ("x-missing", _delete("events/x"), "events/x", "found nothing"),
    ("t-float", _set("events/t", np.array([1.0, 2.0, 3.0])), "events/t", "expected integers"),
    ("t-uint64", _set("events/t", np.array([1, 2, 3], np.uint64)), "events/t", "does not fit int64"),
    ("p-long", _set("events/p", np.zeros(4, np.uint8)), "events", "1-D of one length"),
    ("y-2d", _set("events/y", np.zeros((3, 1), np.uint16)), "events", "1-D of one length"),
]


def _edited(tmp_path, layout, edit):
    path = tmp_path / "bad.h5"
    if layout == "own":
        write_events(path, _events(20), (8, 5), meta={"a": 1}, offsets=[0, 8, 20], labels=[1, 2])
    else:
        _dsec(path, [0, 639, 5], [479, 0, 3], [10, 1500, 2100], [1, 0, 1], 49_000_000)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def _refused(path, where, what, read_it):
    with pytest.raises(FormatError) as info:
        read_it(path)
    assert str(info.value).startswith(f"{path}: {where}: "), str(info.value)
    assert what in str(info.value), str(info.value)


READERS = {"read": read, "read_events": read_events, "stream": lambda p: list(stream(p, chunk_events=4)),
           "blocks": lambda p: list(open_hdf5(p).blocks(64))}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("layout, edit, where, what", [("own", *case[1:]) for case in OWN_CASES]
                         + [("dsec", *case[1:]) for case in DSEC_CASES],
                         ids=[f"own-{case[0]}" for case in OWN_CASES] + [f"dsec-{case[0]}" for case in DSEC_CASES])
def test_malformed_layout_is_a_format_error(tmp_path, layout, edit, where, what, reader):
    _refused(_edited(tmp_path, layout, edit), where, what, READERS[reader])


@pytest.mark.parametrize("edit, where, what", [case[1:] for case in OWN_CASES], ids=[case[0] for case in OWN_CASES])
def test_read_sample_refuses_malformed_layout(tmp_path, edit, where, what):
    _refused(_edited(tmp_path, "own", edit), where, what, lambda p: read_sample(p, 0))


def test_dsec_ms_to_idx_is_not_read(tmp_path):
    """The reader does not use DSEC's ms_to_idx, so a malformed one does not stop the events being read."""
    path = _edited(tmp_path, "dsec", _set("ms_to_idx"))
    assert read(path).events["t"].tolist() == [49_000_010, 49_001_500, 49_002_100]


def test_caller_sensor_size_is_a_validation_error(tmp_path):
    path = _edited(tmp_path, "own", lambda f: None)
    with pytest.raises(ValidationError, match="sensor_size must be"):
        read_events(path, sensor_size=(0, 5))


# --- fuzzing: mutated files written by write_events give a FormatError or valid events, nothing else --------

def _mutated(data: bytes, rng) -> bytes:
    """``data`` after 1 to 3 random bit flips, byte insertions or a truncation."""
    buf = bytearray(data)
    for _ in range(rng.integers(1, 4)):
        op, at = rng.integers(0, 10), int(rng.integers(0, len(buf) + 1))
        if op < 6 and at < len(buf):
            buf[at] ^= 1 << int(rng.integers(0, 8))
        elif op < 9:
            buf[at:at] = bytes(rng.integers(0, 256, rng.integers(1, 4)).astype(np.uint8))
        else:
            del buf[at:]
    return bytes(buf)


def _valid(events, sensor_size, offsets):
    """Each sample of ``events`` (the whole, without ``offsets``) passes ``validate_events``."""
    cuts = [0, len(events)] if offsets is None else offsets
    for a, b in zip(cuts[:-1], cuts[1:]):
        validate_events(events[a:b], sensor_size)


@pytest.mark.parametrize("compression", ["gzip", None])
def test_fuzzed_files(tmp_path, compression):
    """Read whole and streamed, each of 150 mutations gives valid events or a FormatError naming the file.

    Not covered: about 1 mutation in 1500 corrupts the global heap that holds the variable-length string
    attributes (format, str meta), and libhdf5 2.0 then loops forever inside H5Aread; none of these does.
    """
    source = tmp_path / "source.h5"
    write_events(source, _events(300), (8, 5), meta={"camera": "hand"}, offsets=[0, 100, 300], labels=[3, 4],
                 compression=compression)
    data = source.read_bytes()
    rng = np.random.default_rng(7)
    outcomes = {"valid": 0, "refused": 0}
    for k in range(150):
        path = tmp_path / f"m{k}.h5"
        path.write_bytes(_mutated(data, rng))
        for how in ("read", "stream"):
            try:
                if how == "read":
                    rec = read(path)
                    _valid(rec.events, rec.sensor_size, rec.offsets)
                else:
                    chunks = stream(path, chunk_events=64, block_bytes=512)
                    _valid(join_events(list(chunks)), chunks.sensor_size, chunks.source.offsets)
                outcomes["valid"] += 1
            except FormatError as exc:
                assert str(exc).startswith(f"{path}: "), str(exc)
                outcomes["refused"] += 1
    assert outcomes["valid"] and outcomes["refused"]  # the mutations reach both outcomes
