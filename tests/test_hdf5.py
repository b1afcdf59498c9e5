"""HDF5: the own layout round-trips exactly (hand cases and hypothesis), DSEC reads, bad files are refused."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiking.datasets.events import EVENT_DTYPE, make_events
from spiking.datasets.formats.detect import read
from spiking.datasets.hdf5 import read_events, read_sample, write_events
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
