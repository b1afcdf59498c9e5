"""Event arrays and their binning into a spike Stimulus, against dense numpy, Tonic and real recordings."""
from pathlib import Path

import numpy as np
import pytest

import spiking
from spiking import IF, Conv2d, Flatten, Linear, Network, ValidationError, events_to_stimulus
from spiking.datasets import EVENT_DTYPE, make_events, sensor_shape, validate_events

from helpers import assert_identical, dyadic, run_both

EVENTS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "events"
TONIC_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])


def random_events(rng, n, width, height, t0=0, span=1000):
    """``n`` events in time order; small sensors and spans give many same-pixel, same-step duplicates."""
    t = np.sort(rng.integers(t0, t0 + span, n))
    return make_events(rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n))


def dense_frames(samples, width, height, steps, dt, starts, merge=False):
    """Independent binning: np.add.at into dense [T, B, P, H, W] count frames."""
    frames = np.zeros((steps, len(samples), 1 if merge else 2, height, width), np.int64)
    for b, (ev, t0) in enumerate(zip(samples, starts)):
        step = (ev["t"].astype(np.int64) - t0) // dt
        keep = (ev["t"] >= t0) & (step < steps)
        channel = np.zeros(keep.sum(), int) if merge else ev["p"][keep].astype(int)
        np.add.at(frames, (step[keep], b, channel, ev["y"][keep].astype(int), ev["x"][keep].astype(int)), 1)
    return frames


def dense_reference(*args, **kwargs):
    return spiking.spikes(dense_frames(*args, **kwargs))


def assert_same(a, b):
    assert (a.steps, a.batch, a.shape, a.analog, a.constant) == (b.steps, b.batch, b.shape, b.analog, b.constant)
    np.testing.assert_array_equal(a.ptr, b.ptr)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.value, b.value)
    assert a.index.dtype == b.index.dtype and a.value.dtype == b.value.dtype


def test_small_case_by_hand():
    # sensor 3 x 2, window starts at the first event (t = 10), steps of 10 us
    ev = make_events(x=[0, 1, 1, 2, 2, 0], y=[0, 0, 0, 1, 1, 1], t=[10, 11, 19, 20, 39, 40], p=[1, 0, 0, 0, 1, 1])
    stim = events_to_stimulus(ev, (3, 2), steps=3, dt_us=10)
    assert stim.shape == (2, 2, 3) and stim.steps == 3 and stim.batch == 1 and not stim.analog
    # step 0: (x1,y0,OFF) twice -> neuron 1 count 2; (x0,y0,ON) -> 6. step 1: (x2,y1,OFF) -> 5.
    # step 2: (x2,y1,ON) at t=39 -> 6 + 5 = 11. t=40 is the window's end: dropped.
    np.testing.assert_array_equal(stim.ptr, [0, 2, 3, 4])
    np.testing.assert_array_equal(stim.index, [1, 6, 5, 11])
    np.testing.assert_array_equal(stim.value, [2, 1, 1, 1])
    merged = events_to_stimulus(ev, (3, 2), steps=3, dt_us=10, merge_polarities=True)
    assert merged.shape == (1, 2, 3)
    np.testing.assert_array_equal(merged.ptr, [0, 2, 3, 4])
    np.testing.assert_array_equal(merged.index, [0, 1, 5, 5])
    np.testing.assert_array_equal(merged.value, [1, 2, 1, 1])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("merge", [False, True])
def test_matches_dense_numpy(seed, merge):
    rng = np.random.default_rng(seed)
    width, height, steps, dt = 5, 3, 7, 40
    samples = [random_events(rng, n, width, height, t0=int(rng.integers(-500, 500)), span=320)
               for n in (300, 0, 1, 57)]
    stim = events_to_stimulus(samples, (width, height), steps, dt, merge_polarities=merge)
    starts = [int(ev["t"][0]) if len(ev) else 0 for ev in samples]
    assert_same(stim, dense_reference(samples, width, height, steps, dt, starts, merge))
    assert stim.value.max() > 1  # the streams do contain duplicates
    for row in range(steps * len(samples)):
        assert (np.diff(stim.index[stim.ptr[row]:stim.ptr[row + 1]]) > 0).all()


@pytest.mark.parametrize("t_start", [0, -100, 250, [0, 100, -37, -100]])
def test_explicit_window_start_and_boundaries(t_start):
    rng = np.random.default_rng(1)
    width, height, steps, dt = 4, 4, 5, 50
    samples = [random_events(rng, 400, width, height, t0=-150, span=600) for _ in range(3)]
    # events exactly on window and step edges
    edges = np.array([-101, -100, -99, -51, -50, 0, 49, 50, 149, 150, 199, 200, 249, 250, 299, 300])
    samples.append(make_events(np.arange(16) % 4, np.arange(16) // 4, edges, np.arange(16) % 2))
    stim = events_to_stimulus(samples, (width, height), steps, dt, t_start=t_start)
    starts = list(np.broadcast_to(t_start, 4))
    assert_same(stim, dense_reference(samples, width, height, steps, dt, starts))
    t0 = starts[3]
    for step in range(steps):
        row = step * 4 + 3
        in_step = ((edges >= t0 + step * dt) & (edges < t0 + (step + 1) * dt)).sum()
        assert stim.value[stim.ptr[row]:stim.ptr[row + 1]].sum() == in_step


def test_empty_batch_members_and_all_empty():
    empty = np.zeros(0, EVENT_DTYPE)
    stim = events_to_stimulus([empty, empty], (6, 4), steps=3, dt_us=10)
    np.testing.assert_array_equal(stim.ptr, np.zeros(7))
    assert stim.index.size == 0 and stim.value.size == 0 and stim.shape == (2, 4, 6)
    one = make_events([5], [3], [1000], [1])
    stim = events_to_stimulus([empty, one, empty], (6, 4), steps=2, dt_us=10)
    np.testing.assert_array_equal(stim.ptr, [0, 0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(stim.index, [24 + 3 * 6 + 5])


def test_polarity_conventions_and_tonic_dtypes_agree():
    rng = np.random.default_rng(3)
    ev = random_events(rng, 500, 7, 5)
    reference = events_to_stimulus(ev, (7, 5), 10, 100)
    signed = np.zeros(len(ev), [("p", "<i1"), ("t", "<f8"), ("y", "<i4"), ("x", "<u1")])
    for f in "xyt":
        signed[f] = ev[f]
    signed["p"] = np.where(ev["p"] == 1, 1, -1)
    tonic = np.zeros(len(ev), [("t", "<i8"), ("p", "?"), ("x", "<i2"), ("y", "<i2")])
    for f in "xytp":
        tonic[f] = ev[f]
    aedat = np.zeros(len(ev), [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    for f in "xyt":
        aedat[f] = ev[f]
    aedat["on"] = ev["p"]
    for other in (signed, tonic, aedat):
        assert_same(events_to_stimulus(other, (7, 5, 2), 10, 100), reference)
        np.testing.assert_array_equal(validate_events(other, (7, 5)), ev)


def test_counts_above_255_raise_or_clip():
    ev = make_events(np.full(300, 2), np.ones(300, int), np.arange(300), np.ones(300, int))
    with pytest.raises(ValidationError, match=r"events\[0\]: 300 events at pixel \(x=2, y=1\), channel 1, step 0"):
        events_to_stimulus(ev, (3, 2), steps=1, dt_us=1000)
    clipped = events_to_stimulus(ev, (3, 2), steps=2, dt_us=200, max_count=255)
    np.testing.assert_array_equal(clipped.value, [200, 100])
    binary = events_to_stimulus(ev, (3, 2), steps=2, dt_us=200, max_count=1)
    np.testing.assert_array_equal(binary.value, [1, 1])
    np.testing.assert_array_equal(binary.index, [6 + 3 + 2] * 2)
    assert events_to_stimulus(ev[:255], (3, 2), steps=1, dt_us=1000).value.tolist() == [255]


@pytest.mark.parametrize("events, message", [
    (np.zeros(3), "structured array"),
    (np.zeros((2, 2), EVENT_DTYPE), "1-D"),
    (np.zeros(2, [("x", "<i2"), ("y", "<i2"), ("p", "?")]), r"missing field\(s\) t; the array has x, y, p"),
    (np.zeros(2, [("x", "<i2"), ("y", "<i2"), ("t", "<i8")]), r"missing field\(s\) p"),
    (make_events([0, 4, 5, 9], [0, 0, 0, 0], [0, 1, 2, 3], [0, 0, 0, 0]), r"events\[0\]\[2\]: x = 5 is outside the "
     r"sensor width: expected 0 <= x < 5"),
    (make_events([0, 0], [0, 3], [0, 1], [0, 0]), r"events\[0\]\[1\]: y = 3 is outside the sensor height"),
    (np.array([(-1, 0, 0, True)], TONIC_DTYPE), r"events\[0\]\[0\]: x = -1 is outside"),
    (np.array([(0, 0, 5, 0), (0, 0, 7, 1), (0, 0, 6, 0)], EVENT_DTYPE),
     r"events\[0\]\[2\]: t = 6 is earlier than the event before it \(t = 7\)"),
    (np.array([(0, 0, 0, 2)], [("x", "u1"), ("y", "u1"), ("t", "i8"), ("p", "i1")]), r"\[0\]: p = 2 is not a "
     r"polarity: expected 0 or 1"),
    (np.array([(0, 0, 0, -1), (0, 0, 1, 0)], [("x", "u1"), ("y", "u1"), ("t", "i8"), ("p", "i1")]),
     r"\[1\]: p = 0 is not a polarity: expected -1 or 1"),
    (np.array([(0, 0, 0, 0), (np.nan, 0, 1, 0)], [("x", "f4"), ("y", "u1"), ("t", "i8"), ("p", "u1")]),
     r"events\[0\]\[1\]: x = nan is not a whole number"),
    (np.array([(0, 0, 0.5, 0)], [("x", "u1"), ("y", "u1"), ("t", "f8"), ("p", "u1")]), r"t = 0.5 is not a whole"),
    (np.array([(0, 0, 2 ** 63, 0)], [("x", "u1"), ("y", "u1"), ("t", "u8"), ("p", "u1")]), r"t = 922337.* is not"),
    (np.array([("a", 0, 0, 0)], [("x", "U1"), ("y", "u1"), ("t", "i8"), ("p", "u1")]), r"field 'x' has dtype <U1"),
])
def test_validation_errors(events, message):
    with pytest.raises(ValidationError, match=message):
        events_to_stimulus([events], (5, 3), steps=2, dt_us=10)


def test_validation_error_names_the_sample():
    good = make_events([0], [0], [0], [0])
    with pytest.raises(ValidationError, match=r"events\[1\]\[0\]: y = 7"):
        events_to_stimulus([good, make_events([0], [7], [0], [0])], (5, 3), steps=2, dt_us=10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sensor_size=(5,)), r"sensor_size must be \(W, H\)"),
    (dict(sensor_size=(5, 3, 4)), "P in"),
    (dict(sensor_size=(5, 0)), "sensor_size"),
    (dict(sensor_size=(5.5, 3)), "sensor_size"),
    (dict(sensor_size=(70000, 3)), "sensor_size"),
    (dict(steps=0), "steps must be a whole number"),
    (dict(steps=2.5), "steps"),
    (dict(dt_us=0), "dt_us"),
    (dict(dt_us=float("nan")), "dt_us"),
    (dict(dt_us=True), "dt_us"),
    (dict(steps=2 ** 40, dt_us=2 ** 40), r"exceeds 2\*\*62"),
    (dict(t_start=[0, 1]), "t_start has 2 values for 1 samples"),
    (dict(t_start=0.5), "t_start"),
    (dict(t_start=2 ** 63), "t_start"),
    (dict(max_count=0), "max_count"),
    (dict(max_count=256), "max_count"),
    (dict(events=[]), "no samples"),
])
def test_argument_errors(kwargs, message):
    args = dict(events=[make_events([0], [0], [0], [0])], sensor_size=(5, 3), steps=2, dt_us=10) | kwargs
    with pytest.raises(ValidationError, match=message):
        events_to_stimulus(**args)


def test_make_events_and_sensor_shape():
    ev = make_events([1, 2], [3, 4], [5, 5], [True, False])
    assert ev.dtype == EVENT_DTYPE
    assert ev.tolist() == [(1, 3, 5, 1), (2, 4, 5, 0)]
    with pytest.raises(ValidationError, match="equal length"):
        make_events([1, 2], [3], [5, 6], [0, 1])
    with pytest.raises(ValidationError, match=r"make_events\[0\]: x = 65536 is outside the event coordinate range"):
        make_events([65536], [0], [0], [0])
    assert sensor_shape((34, 34)) == (34, 34, 2) and sensor_shape(np.array([128, 64, 1])) == (128, 64, 1)
    single = events_to_stimulus(ev, (3, 5, 1), steps=1, dt_us=1)
    assert single.shape == (1, 5, 3)
    np.testing.assert_array_equal(single.index, [3 * 3 + 1, 4 * 3 + 2])  # polarities merged


def test_matches_tonic_to_frame():
    tonic_transforms = pytest.importorskip("tonic.transforms", reason="tonic is not installed")
    rng = np.random.default_rng(7)
    width, height, steps, dt = 9, 6, 12, 250
    samples = [random_events(rng, n, width, height, t0=t0, span=3500) for n, t0 in ((2000, 0), (50, 10 ** 6))]
    starts = [int(ev["t"][0]) for ev in samples]
    frames = []
    for ev, t0 in zip(samples, starts):
        as_tonic = np.zeros(len(ev), TONIC_DTYPE)
        for f in "xytp":
            as_tonic[f] = ev[f]
        to_frame = tonic_transforms.ToFrame(sensor_size=(width, height, 2), time_window=dt, start_time=t0,
                                            end_time=t0 + steps * dt)
        frames.append(to_frame(as_tonic))
    frames = np.stack(frames, axis=1)
    assert frames.shape == (steps, 2, 2, height, width)
    assert_same(events_to_stimulus(samples, (width, height, 2), steps, dt), spiking.spikes(frames))


def test_network_fed_by_events_event_matches_dense():
    rng = np.random.default_rng(11)
    width, height, steps = 8, 6, 16
    samples = [random_events(rng, n, width, height, span=1600) for n in (900, 0, 300)]
    stim = events_to_stimulus(samples, (width, height), steps, dt_us=100)
    net = Network()
    net.input("camera", (2, height, width))
    net.population("conv", IF(v_threshold=1.0), (4, height - 2, width - 2))
    net.population("out", IF(v_threshold=2.0), (3,))
    net.connect("camera", "conv", Conv2d(dyadic(rng, (4, 2, 3, 3), max_k=128)))
    net.connect("conv", "out", [Flatten(), Linear(dyadic(rng, (3, 4 * (height - 2) * (width - 2)), max_k=128))])
    event, dense = run_both(net, stim)
    assert_identical(event, dense)
    assert event.recorded["conv"].any() and event.output_spikes[1].sum() == 0  # sample 1 has no events
    # each input spike (a count of c is c spikes) reaches the non-zero taps of the outputs that see its pixel
    weight = net.projections["camera->conv"].weighted.weight
    fanout = np.zeros((2, height, width))
    for o, c, ky, kx in zip(*np.nonzero(weight)):
        fanout[c, ky:ky + height - 2, kx:kx + width - 2] += 1
    first = event.counts.projections.index("camera->conv")
    assert event.counts.synaptic_events[:, first].sum() == (stim.value * fanout.ravel()[stim.index]).sum()


def read_nmnist_bin(path):
    """N-MNIST .bin: 5 bytes per event, x = b0, y = b1, p = b2 >> 7, t = 23 low bits of b2 b3 b4 (µs)."""
    raw = np.frombuffer(path.read_bytes(), np.uint8).reshape(-1, 5).astype(np.int64)
    return make_events(raw[:, 0], raw[:, 1], ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4],
                       raw[:, 2] >> 7, sensor_size=(34, 34))


def test_real_nmnist_recording():
    path = EVENTS_DIR / "sample_nmnist.bin"
    if not path.exists():
        pytest.skip(f"needs the shared test recordings in {EVENTS_DIR} (../shared beside the repository)")
    ev = read_nmnist_bin(path)
    # figures from ../shared/reference/event-formats.md section 2.1
    assert len(ev) == 4325 and ev["t"][0] == 654 and ev["t"][-1] == 311175
    stim = events_to_stimulus(ev, (34, 34), steps=311, dt_us=1000)
    assert stim.shape == (2, 34, 34)
    assert stim.value.sum() == 4325  # the 310.5 ms recording fits the 311 ms window
    off = stim.index < 34 * 34
    assert stim.value[off].sum() == 2180 and stim.value[~off].sum() == 2145
    assert_same(stim, dense_reference([ev], 34, 34, 311, 1000, [654]))
    short = events_to_stimulus(ev, (34, 34), steps=100, dt_us=1000, t_start=0, max_count=1)
    assert_same(short, spiking.spikes(np.minimum(dense_frames([ev], 34, 34, 100, 1000, [0]), 1)))
    assert short.value.sum() < (ev["t"] < 100_000).sum()  # same-pixel events of a step were clipped to one


# ---- extreme inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [2 ** 64, 10 ** 30, -10 ** 30, 2 ** 63, np.uint64(2 ** 64 - 1), float("inf")])
def test_whole_number_range_errors_for_any_size(value):
    from spiking.checks import whole_number

    with pytest.raises(ValidationError, match="n must be a whole number in \\[1, 2\\*\\*62\\]"):
        whole_number(value, "n", 1)


@pytest.mark.parametrize("size", [(float("inf"), 4), (4, float("-inf")), (4, 4, float("inf")), (2 ** 64, 4),
                                  (np.float64("inf"), 4)])
def test_sensor_shape_errors_for_any_size(size):
    with pytest.raises(ValidationError, match="sensor_size must be"):
        sensor_shape(size)
    with pytest.raises(ValidationError, match="sensor_size must be"):
        events_to_stimulus(make_events([0], [0], [0], [0]), size, 2, 10)


@pytest.mark.parametrize("t, first_bad", [([-2 ** 63 + 1, 2 ** 63 - 1], 0), ([0, 2 ** 62 + 1], 1),
                                          ([-2 ** 62 - 1, 0, 1], 0), ([0, 1, 2 ** 63 - 1, 2 ** 63 - 1], 2)])
@pytest.mark.parametrize("dtype", ["<i8", ">i8"])
def test_times_are_bounded_to_2_62_for_every_dtype(t, first_bad, dtype):
    raw = np.zeros(len(t), [("x", "<u2"), ("y", "<u2"), ("t", dtype), ("p", "u1")])
    raw["t"] = t
    with pytest.raises(ValidationError, match=rf"events\[{first_bad}\]: t = {t[first_bad]} is outside \+-2\*\*62"):
        validate_events(raw)
    with pytest.raises(ValidationError, match=r"is outside \+-2\*\*62"):
        events_to_stimulus(raw, (4, 4), 2, 10)
    assert validate_events(np.array([(0, 0, -2 ** 62, 0), (0, 0, 2 ** 62, 1)], raw.dtype))["t"].tolist() == \
        [-2 ** 62, 2 ** 62]


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=10 ** 30), "steps must be a whole number"),
    (dict(steps=2 ** 64, dt_us=1), "steps must be a whole number"),
    (dict(dt_us=10 ** 20), "dt_us must be a whole number"),
    (dict(t_start=-10 ** 30), "t_start must be a whole number"),
    (dict(steps=10 ** 9, dt_us=1), r"1000000000 steps x 1 samples = 1000000000 rows .* at most 2\*\*26"),
    (dict(steps=2 ** 25, dt_us=1, events=[make_events([0], [0], [0], [0])] * 3), r"= 100663296 rows"),
    (dict(sensor_size=(65536, 65536)), r"2 x 65536 x 65536 = 8589934592 input neurons; each must be at most 2\*\*26"),
    (dict(sensor_size=(8192, 8193), merge_polarities=True), r"1 x 8193 x 8192 = 67117056 input neurons"),
])
def test_huge_arguments_are_refused_before_binning(kwargs, message):
    args = dict(events=[make_events([0], [0], [0], [0])], sensor_size=(5, 3), steps=2, dt_us=10) | kwargs
    with pytest.raises(ValidationError, match=message):
        events_to_stimulus(**args)

