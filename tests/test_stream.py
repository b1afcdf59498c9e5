"""Streaming: chunks joined equal the whole-file read, for every real file, chunk size and read size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spiking.datasets.formats.detect import read
from spiking.datasets.hdf5 import write_events
from spiking.datasets.stream import stream
from spiking.errors import ValidationError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "events"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data/events (not in a fresh clone)")
FILES = ["sample_nmnist.bin", "evt2_sample.raw", "evt3_sample.raw", "sample_ncars.dat", "sample.aedat4"]
# read sizes that cut 2-, 4-, 5- and 8-byte words (and EVT3 vector groups) at every kind of boundary
BLOCK_BYTES = [4093, 65537, 1 << 22]


def _needs_decoder(name):
    if name.endswith(".aedat4"):
        pytest.importorskip("aedat", reason="AEDAT 4 is decoded by the aedat package")


@needs_shared
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("block_bytes", BLOCK_BYTES)
@pytest.mark.parametrize("chunk_events", [997, 100_000, 10 ** 7])
def test_chunks_join_to_whole_read(name, block_bytes, chunk_events):
    _needs_decoder(name)
    whole = read(SHARED / name).events
    chunks = list(stream(SHARED / name, chunk_events=chunk_events, block_bytes=block_bytes))
    assert all(len(c) == chunk_events for c in chunks[:-1]) and 0 < len(chunks[-1]) <= chunk_events
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


@needs_shared
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("window_us", [1000, 30_000])
def test_windows_join_and_hold_their_times(name, window_us):
    _needs_decoder(name)
    whole = read(SHARED / name).events
    chunks = list(stream(SHARED / name, window_us=window_us, block_bytes=65537))
    t0 = int(whole["t"][0])
    assert len(chunks) == (int(whole["t"][-1]) - t0) // window_us + 1
    for k, chunk in enumerate(chunks):
        assert ((chunk["t"] >= t0 + k * window_us) & (chunk["t"] < t0 + (k + 1) * window_us)).all()
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_tiny_reads_carry_evt3_state(tmp_path):
    """One-byte reads: every word and every TIME_HIGH/VECT group is split across reads."""
    words = [0x0004, 0x8002, 0x6007, 0x2805, 0x300A, 0x4801, 0x5002, 0x8FFF, 0x8001, 0x2003]
    path = tmp_path / "t.raw"
    path.write_bytes(b"% evt 3.0\n% geometry 64x32\n" + np.asarray(words, "<u2").tobytes())
    for block_bytes in (1, 2, 3):
        joined = np.concatenate(list(stream(path, chunk_events=2, block_bytes=block_bytes)))
        np.testing.assert_array_equal(joined, read(path).events)
    assert len(read(path).events) == 5


def test_hdf5_stream_and_arguments(tmp_path):
    from spiking.datasets.events import make_events
    events = make_events(np.arange(10) % 4, np.arange(10) % 3, np.arange(10) * 7, np.arange(10) % 2, (4, 3))
    path = tmp_path / "e.h5"
    write_events(path, events, (4, 3))
    chunks = list(stream(path, chunk_events=3, block_bytes=20))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), events)
    assert [len(c) for c in stream(path, window_us=20)] == [3, 3, 3, 1]
    with pytest.raises(ValidationError, match="exactly one of"):
        stream(path)
    with pytest.raises(ValidationError, match="window_us must be a positive integer"):
        stream(path, window_us=0)
    labelled = tmp_path / "l.h5"
    write_events(labelled, events, (4, 3), offsets=[0, 5, 10], labels=[1, 2])
    with pytest.raises(ValidationError, match="labelled samples"):
        stream(labelled, window_us=10)


@needs_shared
def test_big_evt3_generator_writes_valid_rising_words(tmp_path):
    """The input of the 1 GB streaming benchmark: copies of the sample whose time keeps rising."""
    from spiking.bench.decoders import write_big_evt3
    sample = read(SHARED / "evt3_sample.raw").events
    path = tmp_path / "big.raw"
    copies = write_big_evt3(SHARED / "evt3_sample.raw", path, 3 * 618_000)
    events = read(path).events
    assert copies == 3 and len(events) == 3 * len(sample)
    assert (np.diff(events["t"]) >= 0).all() and events["t"][-1] - events["t"][0] > 2 * 3 * 4096
    np.testing.assert_array_equal(events[2 * len(sample):][["x", "y", "p"]], sample[["x", "y", "p"]])
