"""Synthetic N-MNIST: the saccade path, the rendering, event counts against the real recording, files."""
from pathlib import Path

import numpy as np
import pytest

from spiking import ValidationError
from spiking.datasets.hdf5 import read_sample
from spiking.datasets.mnist import mnist_subset
from spiking.datasets.nmnist_synth import (SACCADE_US, SENSOR_SIZE, sample_seed, load_synthetic_nmnist,
                                           make_synthetic_nmnist, saccade_path, synthesize)
from spiking.kernels.emulator import render_shifted_log

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "events" / "sample_nmnist.bin"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="needs ../shared/data/events (not in a fresh clone)")


@pytest.fixture(scope="module")
def digits():
    return mnist_subset()


def decode_nmnist_bin(path):
    """The N-MNIST .bin layout (Orchard 2015): 5 bytes per event, x, y, then p (bit 7) and 23 bits of t."""
    b = np.fromfile(path, np.uint8).reshape(-1, 5).astype(np.int64)
    return b[:, 0], b[:, 1], b[:, 2] >> 7, ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]


def test_saccade_path_is_the_closed_triangle():
    times, sx, sy = saccade_path()
    assert times[0] == 0 and times[-1] == 3 * SACCADE_US and np.all(np.diff(times) == 1000)
    corners = [(-1.0, 1.0), (2.5, 8.0), (6.0, 1.0), (-1.0, 1.0)]      # start (-1, 1) + the three moves
    for k, corner in enumerate(corners):
        i = int(np.searchsorted(times, k * SACCADE_US))
        np.testing.assert_allclose((sx[i], sy[i]), corner, atol=1e-12)
    step = np.hypot(np.diff(sx), np.diff(sy))
    assert step.max() < 0.12 and step[0] < 0.002              # still at the start of a saccade


def test_rendering_by_hand():
    image = np.zeros((28, 28))
    image[10, 12] = 1.0
    out = np.empty((3, 34, 34))
    render_shifted_log(image, np.array([0.0, 2.0, 0.5]), np.array([0.0, 3.0, 0.0]), 0.25, out)
    video = np.exp(out) - 0.25
    np.testing.assert_allclose(video[0, 10, 12], 1.0)
    np.testing.assert_allclose(video[1, 13, 14], 1.0)                  # moved by (2, 3)
    np.testing.assert_allclose(video[2, 10, 12:14], [0.5, 0.5])        # half a pixel right: split in two
    np.testing.assert_allclose(video.reshape(3, -1).sum(axis=1), 1.0, atol=1e-12)
    assert (out[out != out.max()] >= np.log(0.25)).all() and (out == np.log(0.25)).sum() == 3 * 34 * 34 - 4


@needs_real
def test_event_counts_like_the_real_recording(digits):
    x, y, p, t = decode_nmnist_bin(REAL)
    real = len(t)                                             # 4,325
    counts, on = [], []
    for i in range(0, 4000, 100):                             # 4 images of each digit
        ev = synthesize(digits.train_images[i], seed=i)
        counts.append(len(ev))
        on.append(ev["p"].mean())
        assert ev["x"].max() < 34 and ev["y"].max() < 34 and ev["t"].max() <= 3 * SACCADE_US
    counts = np.array(counts)
    assert 0.8 * real < counts.mean() < 1.25 * real
    assert counts.min() > real / 3 and counts.max() < 3 * real
    assert abs(np.mean(on) - p.mean()) < 0.05                 # about half ON, as the real one (0.496)
    # the event rate follows the saccades: low where a saccade turns, high midway, as in the real one
    ev = np.concatenate([synthesize(digits.train_images[i], seed=i) for i in range(0, 4000, 400)])
    for times in (t, ev["t"]):
        turns = sum(np.sum(np.abs(times - k * SACCADE_US) < 10_000) for k in (1, 2))
        middles = sum(np.sum(np.abs(times - (k + 0.5) * SACCADE_US) < 10_000) for k in (0, 1, 2))
        assert middles / 3 > 2 * (turns / 2)                  # per 20 ms window


def test_same_seed_same_events(digits):
    a, b = synthesize(digits.test_images[0], seed=3), synthesize(digits.test_images[0], seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(synthesize(digits.test_images[1], seed=3), a)


def test_file_round_trip(tmp_path, digits):
    path = tmp_path / "nmnist_test.h5"
    assert make_synthetic_nmnist(path, "test", limit=12, seed=1, digits=digits, workers=1,
                                 progress=False) == str(path)
    samples, labels = load_synthetic_nmnist(path)
    np.testing.assert_array_equal(labels, digits.test_labels[:12])
    assert len(samples) == 12
    again = tmp_path / "again.h5"
    make_synthetic_nmnist(again, "test", limit=12, seed=1, digits=digits, workers=3, progress=False)
    for i, (ours, theirs) in enumerate(zip(samples, load_synthetic_nmnist(again)[0])):
        np.testing.assert_array_equal(ours, theirs)          # same events whatever the threads
        np.testing.assert_array_equal(ours, synthesize(digits.test_images[i], sample_seed(1, "test", i)))
    ev, label = read_sample(path, 5)
    np.testing.assert_array_equal(ev, samples[5])
    assert label == digits.test_labels[5]
    with pytest.raises(ValidationError, match="split must be one of"):
        make_synthetic_nmnist(path, "validation", digits=digits)
    assert SENSOR_SIZE == (34, 34, 2)
