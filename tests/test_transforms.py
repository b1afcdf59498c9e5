"""Event transforms against Tonic (value for value), against hand-computed cases, and where Tonic is wrong."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiking import ValidationError
from spiking.datasets.events import EVENT_DTYPE, make_events
from spiking.datasets.transforms import (center_crop, crop, denoise, downsample, flip_lr, flip_polarity, flip_ud,
                                         refractory_filter, to_frames)


PEER = "Tonic is the peer these transforms are checked against (pip install tonic)"
TONIC_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
FEW = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def T():
    """``tonic.transforms``, or the test is skipped."""
    return pytest.importorskip("tonic.transforms", reason=PEER)


def random_events(seed, n, width, height, t0=0, span=5000):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t0, t0 + span, n))
    return make_events(rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n),
                       (width, height))


def as_tonic(ev):
    out = np.empty(len(ev), TONIC_DTYPE)
    for f in "xytp":
        out[f] = ev[f]
    return out


def assert_same_events(ours, theirs):
    assert ours.dtype == EVENT_DTYPE and len(ours) == len(theirs)
    for f in "xytp":
        np.testing.assert_array_equal(ours[f].astype(np.int64), theirs[f].astype(np.int64), err_msg=f)


streams = st.tuples(st.integers(0, 2 ** 32), st.integers(1, 300), st.integers(1, 12), st.integers(1, 12),
                    st.integers(0, 3000), st.integers(1, 20000))


def events_of(stream):
    seed, n, w, h, t0, span = stream
    return random_events(seed, n, w, h, t0, span), (w, h, 2)


# ---- frames -------------------------------------------------------------------------------------

def test_frames_by_hand():
    ev = make_events(x=[0, 1, 1, 2, 0], y=[0, 0, 0, 1, 1], t=[10, 12, 19, 20, 31], p=[1, 0, 0, 1, 1])
    frames = to_frames(ev, (3, 2), time_window=10, include_incomplete=True)
    assert frames.shape == (3, 2, 2, 3) and frames.dtype == np.int16
    expected = np.zeros((3, 2, 2, 3), int)
    expected[0, 1, 0, 0] = 1      # t=10
    expected[0, 0, 0, 1] = 2      # t=12, 19
    expected[1, 1, 1, 2] = 1      # t=20
    expected[2, 1, 1, 0] = 1      # t=31, the incomplete window [30, 40)
    np.testing.assert_array_equal(frames, expected)
    merged = to_frames(ev, (3, 2), event_count=2, merge_polarities=True)
    np.testing.assert_array_equal(merged[:, 0], [[[1, 1, 0], [0, 0, 0]], [[0, 1, 0], [0, 0, 1]]])


@FEW
@given(streams, st.integers(1, 4000), st.integers(0, 100), st.booleans(), st.booleans(),
       st.sampled_from([None, -500, 0, 2000]), st.sampled_from([None, 1000, 9000, 30000]))
def test_time_window_matches_tonic(T, stream, window, overlap_pct, incomplete, merge, start, end):
    ev, size = events_of(stream)
    overlap = window * overlap_pct // 101
    kw = dict(time_window=window, overlap=overlap, include_incomplete=incomplete, start_time=start, end_time=end)
    ours = to_frames(ev, size, merge_polarities=merge, **kw)
    theirs = tonic_frames(T, ev, size, merge, **kw)
    np.testing.assert_array_equal(ours, theirs)


def tonic_frames(T, ev, size, merge, **kw):
    if merge:
        return T.Compose([T.MergePolarities(), T.ToFrame(size[:2] + (1,), **kw)])(as_tonic(ev))
    return T.ToFrame(size, **kw)(as_tonic(ev))


@FEW
@given(streams, st.integers(1, 400), st.integers(0, 100), st.booleans(), st.booleans())
def test_event_count_matches_tonic(T, stream, count, overlap_pct, incomplete, merge):
    ev, size = events_of(stream)
    kw = dict(event_count=count, overlap=count * overlap_pct // 101, include_incomplete=incomplete)
    ours = to_frames(ev, size, merge_polarities=merge, **kw)
    np.testing.assert_array_equal(ours, tonic_frames(T, ev, size, merge, **kw))


@FEW
@given(streams, st.integers(1, 30), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9]), st.booleans())
def test_event_bins_match_tonic(T, stream, bins, overlap, merge):
    ev, size = events_of(stream)
    kw = dict(n_event_bins=bins, overlap=overlap)
    ours = to_frames(ev, size, merge_polarities=merge, **kw)
    np.testing.assert_array_equal(ours, tonic_frames(T, ev, size, merge, **kw))


@FEW
@given(streams, st.integers(1, 20), st.integers(1, 500), st.sampled_from([0.0, 0.25, 0.5]))
def test_time_bins_are_tonics_over_the_whole_duration(stream, bins, width_us, overlap):
    # Our bins split t[-1] - t[0] + 1 us. Tonic splits (t[-1] - t[0]) // bins; give Tonic one more
    # event one microsecond after the last, so that both see the same duration, and leave that
    # sentinel out of Tonic's slices.
    seed, n, w, h, t0, _ = stream
    ev = random_events(seed, n, w, h, t0, bins * width_us)
    ev = np.concatenate([make_events([0], [0], [t0], [0]), ev, make_events([0], [0], [t0 + bins * width_us - 1], [1])])
    ours = to_frames(ev, (w, h, 2), n_time_bins=bins, overlap=overlap)
    with_sentinel = as_tonic(np.concatenate([ev, make_events([0], [0], [t0 + bins * width_us], [0])]))
    theirs = np.zeros_like(ours)
    slicers = pytest.importorskip("tonic.slicers", reason=PEER)
    for k, part in enumerate(slicers.slice_events_by_time_bins(with_sentinel, bins, overlap)):
        part = part[part["t"] < t0 + bins * width_us]
        np.add.at(theirs, (k, part["p"].astype(int), part["y"], part["x"]), 1)
    np.testing.assert_array_equal(ours, theirs)
    if overlap == 0:
        assert ours.sum() == len(ev)


ONE_EVENT = make_events([1], [2], [500], [1])
INT16_CASE = make_events(np.ones(40_000, int), np.zeros(40_000, int), np.arange(40_000), np.ones(40_000, int))


def test_time_bins_keep_every_event():
    ours = to_frames(ONE_EVENT, (4, 4, 2), n_time_bins=1)
    assert ours.shape == (1, 2, 4, 4) and ours[0, 1, 2, 1] == 1 and ours.sum() == 1
    ev = random_events(3, 200, 5, 5, 0, 1000)
    assert to_frames(ev, (5, 5, 2), n_time_bins=4).sum() == len(ev)


def test_tonic_time_bins_lose_the_last_event(T):
    # Tonic floors the bin width and ends the last bin before t[-1] (tonic#313): one event gives
    # empty frames, and the last event of any recording is in no bin
    assert T.ToFrame((4, 4, 2), n_time_bins=1)(as_tonic(ONE_EVENT)).sum() == 0
    ev = random_events(3, 200, 5, 5, 0, 1000)
    assert T.ToFrame((5, 5, 2), n_time_bins=4)(as_tonic(ev)).sum() < len(ev)


def test_empty_recording_frames_are_p_h_w():
    empty = np.empty(0, EVENT_DTYPE)
    assert to_frames(empty, (5, 3, 2), time_window=10).shape == (1, 2, 3, 5)
    assert to_frames(empty, (5, 3, 2), n_time_bins=4).shape == (4, 2, 3, 5)
    assert to_frames(empty, (5, 3, 2), time_window=10, start_time=0, end_time=40).shape == (4, 2, 3, 5)
    assert not to_frames(empty, (5, 3, 2), event_count=7).any()


def test_tonic_empty_frames_are_p_w_h(T):
    assert T.ToFrame((5, 3, 2), time_window=10)(as_tonic(np.empty(0, EVENT_DTYPE))).shape == (1, 2, 5, 3)


def test_counts_past_int16_widen():
    frames = to_frames(INT16_CASE, (2, 1, 2), n_event_bins=1)
    assert frames.dtype == np.int32 and frames[0, 1, 0, 1] == 40_000
    assert to_frames(INT16_CASE[:32_767], (2, 1, 2), n_event_bins=1).dtype == np.int16


def test_tonic_counts_wrap_past_int16(T):
    assert T.ToFrame((2, 1, 2), n_event_bins=1)(as_tonic(INT16_CASE))[0, 1, 0, 1] == 40_000 - 65_536


def test_frame_errors():
    ev = random_events(0, 10, 4, 4)
    with pytest.raises(ValidationError, match="exactly one of time_window, event_count, n_time_bins, n_event_bins"):
        to_frames(ev, (4, 4), time_window=10, event_count=3)
    with pytest.raises(ValidationError, match="overlap must be a whole number in \\[0, 9\\]"):
        to_frames(ev, (4, 4), time_window=10, overlap=10)
    with pytest.raises(ValidationError, match="overlap must be a fraction"):
        to_frames(ev, (4, 4), n_time_bins=3, overlap=1.0)
    with pytest.raises(ValidationError, match="more than 2\\*\\*31"):
        to_frames(ev, (4, 4), time_window=1, start_time=0, end_time=2 ** 40)
    with pytest.raises(ValidationError, match=r"events\[\d+\]: x = \d+ is outside the sensor width"):
        to_frames(ev, (2, 4), time_window=10)


# ---- filters ------------------------------------------------------------------------------------

@FEW
@given(streams, st.integers(0, 3000))
def test_denoise_matches_tonic(T, stream, filter_time):
    seed, n, w, h, t0, span = stream
    ev = random_events(seed, n, w, h, t0 + filter_time, span)     # Tonic is right from t = filter_time on
    assert_same_events(denoise(ev, (w, h), filter_time), T.Denoise(filter_time)(as_tonic(ev)))


DENOISE_CASE = make_events([0, 1, 3, 0], [0, 0, 3, 0], [0, 100, 120, 400], [1, 0, 1, 1])


def test_denoise_by_hand():
    # (0,0)@0 alone; (1,0)@100 has (0,0)@0 within 150 us; (3,3)@120 alone; (0,0)@400 has (1,0)@100 too late
    assert_same_events(denoise(DENOISE_CASE, (4, 4), 150), DENOISE_CASE[[1]])


def test_tonic_denoise_keeps_the_first_window(T):
    # Tonic starts every pixel as if it fired at t = 0, so the lone events before 150 us pass
    assert list(T.Denoise(150)(as_tonic(DENOISE_CASE))["t"]) == [0, 100, 120]


@FEW
@given(streams, st.integers(0, 3000))
def test_refractory_matches_tonic(T, stream, period):
    seed, n, w, h, t0, span = stream
    ev = random_events(seed, n, w, h, t0 + 1, span)               # Tonic is right from t = 1 on
    assert_same_events(refractory_filter(ev, (w, h), period), T.RefractoryPeriod(period)(as_tonic(ev)))


# pixel (0,0): 0 kept (first), 50 dropped, 90 dropped (50 was only 40 before), 200 kept
REFRACTORY_CASE = make_events([0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 50, 60, 90, 200], [1, 1, 0, 1, 0])


def test_refractory_by_hand():
    assert list(refractory_filter(REFRACTORY_CASE, (2, 1), 60)["t"]) == [0, 60, 200]


def test_tonic_refractory_drops_a_first_event_at_t0(T):
    assert list(T.RefractoryPeriod(60)(as_tonic(REFRACTORY_CASE))["t"]) == [60, 200]


# ---- pixel maps ---------------------------------------------------------------------------------

@FEW
@given(streams, st.integers(1, 40), st.integers(1, 40))
def test_downsample_matches_tonic(T, stream, tw, th):
    ev, size = events_of(stream)
    theirs = T.Downsample(sensor_size=size, target_size=(tw, th))(as_tonic(ev))
    assert_same_events(downsample(ev, size, (tw, th)), theirs)


@FEW
@given(streams, st.integers(1, 20), st.integers(1, 20))
def test_center_crop_matches_tonic(T, stream, cw, ch):
    ev, size = events_of(stream)
    assert_same_events(center_crop(ev, size, (cw, ch)), T.CenterCrop(size, (cw, ch))(as_tonic(ev)))


@FEW
@given(streams, st.integers(0, 2 ** 31), st.integers(1, 12), st.integers(1, 12))
def test_crop_is_tonics_random_crop_at_its_origin(T, stream, seed, cw, ch):
    ev, (w, h, _) = events_of(stream)
    cw, ch = min(cw, w), min(ch, h)
    np.random.seed(seed)
    origin = (int(np.random.rand() * (w - cw)), int(np.random.rand() * (h - ch)))
    np.random.seed(seed)
    assert_same_events(crop(ev, (w, h), origin, (cw, ch)), T.RandomCrop((w, h, 2), (cw, ch))(as_tonic(ev)))


@FEW
@given(streams)
def test_flips_match_tonic(T, stream):
    ev, size = events_of(stream)
    assert_same_events(flip_lr(ev, size), T.RandomFlipLR(size, p=1.0)(as_tonic(ev)))
    assert_same_events(flip_ud(ev, size), T.RandomFlipUD(size, p=1.0)(as_tonic(ev)))
    assert_same_events(flip_polarity(ev, size), T.RandomFlipPolarity(p=1.0)(as_tonic(ev)))


def test_crop_by_hand_and_inputs_untouched():
    ev = make_events([0, 2, 3, 4], [1, 1, 2, 0], [1, 2, 3, 4], [0, 1, 1, 0])
    before = ev.copy()
    out = crop(ev, (5, 3), (2, 1), (2, 2))                      # keeps x in 2..3, y in 1..2
    assert [tuple(int(v) for v in e) for e in out] == [(0, 0, 2, 1), (1, 1, 3, 1)]
    padded = crop(ev, (5, 3), (-1, 0), (7, 3))                  # a box past the edge shifts every event
    assert list(padded["x"]) == [1, 3, 4, 5]
    np.testing.assert_array_equal(ev, before)
    tonic_input = as_tonic(ev)
    assert_same_events(flip_lr(tonic_input, (5, 3)), flip_lr(ev, (5, 3)))
    assert flip_lr(ev, (5, 3)) is not ev


def test_pixel_map_errors():
    ev = make_events([0, 4], [0, 2], [1, 2], [0, 1])
    with pytest.raises(ValidationError, match=r"events\[1\]: y = 2 is outside the sensor height"):
        flip_ud(ev, (5, 2))
    with pytest.raises(ValidationError, match="size must be a whole number"):
        crop(ev, (5, 3), (0, 0), (0, 2))
    with pytest.raises(ValidationError, match="target_size must be an int or a \\(width, height\\) pair"):
        downsample(ev, (5, 3), (1, 2, 3))
    late = ev[::-1].copy()
    with pytest.raises(ValidationError, match=r"events\[1\]: t = 1 is earlier"):
        denoise(late, (5, 3), 10)


@pytest.mark.parametrize("transform", [flip_lr, flip_ud, flip_polarity, lambda e, s: crop(e, s, (0, 0), (1, 1)),
                                       lambda e, s: downsample(e, s, (2, 1))])
@pytest.mark.parametrize("field, value, message", [("x", 5, "x = 5 is outside the sensor width"),
                                                   ("y", 3, "y = 3 is outside the sensor height"),
                                                   ("p", 2, "p = 2 is not a polarity"),
                                                   ("t", 0, "t = 0 is earlier")])
def test_pixel_maps_check_every_event_even_one_they_drop(transform, field, value, message):
    ev = make_events([0, 4, 1, 2], [0, 2, 1, 0], [1, 2, 3, 4], [0, 1, 1, 0])
    ev[field][2] = value
    with pytest.raises(ValidationError, match=rf"events\[2\]: {message}"):
        transform(ev, (5, 3))


def test_benchmark_stream_and_rows(T):
    from spiking.bench.transforms import bench_transforms, gesture_stream

    ev = gesture_stream(3000, seed=1)
    assert len(ev) == 3000 and (np.diff(ev["t"]) >= 0).all() and ev["x"].max() < 128 and ev["y"].max() < 128
    np.testing.assert_array_equal(ev, gesture_stream(3000, seed=1))
    report = bench_transforms(3000, budget_s=0.0)
    differs = {r["transform"] for r in report["rows"] if not r["identical"]}
    assert differs == {"ToFrame n_time_bins=20"}           # Tonic loses the last event there, by design
    assert all(r["ours_s"] > 0 and r["tonic_s"] > 0 for r in report["rows"])
    names = {r["transform"] for r in report["rows"]}
    assert [f["transform"] for f in report["floors"]] == ["FlipLR", "ToFrame time_window=10 ms"]
    assert all(f["transform"] in names and f["most_speedup"] == f["tonic_s"] / f["floor_s"] for f in report["floors"])


# ---- extreme inputs: a ValidationError before any allocation, exact results at the limits -----------

TRANSFORMS = [lambda e, s: to_frames(e, s, time_window=10), lambda e, s: to_frames(e, s, event_count=2),
              lambda e, s: to_frames(e, s, n_time_bins=3), lambda e, s: to_frames(e, s, n_event_bins=3),
              lambda e, s: denoise(e, s, 10), lambda e, s: refractory_filter(e, s, 10), flip_lr, flip_ud,
              flip_polarity, lambda e, s: crop(e, s, (0, 0), (2, 2)), lambda e, s: downsample(e, s, (2, 2))]


@pytest.mark.parametrize("call, name", [
    (lambda ev: to_frames(ev, (4, 4), time_window=10 ** 20), "time_window"),
    (lambda ev: to_frames(ev, (4, 4), time_window=10, start_time=-2 ** 64), "start_time"),
    (lambda ev: to_frames(ev, (4, 4), event_count=2 ** 64), "event_count"),
    (lambda ev: to_frames(ev, (4, 4), n_time_bins=10 ** 30), "n_time_bins"),
    (lambda ev: denoise(ev, (4, 4), 10 ** 30), "filter_time"),
    (lambda ev: refractory_filter(ev, (4, 4), -10 ** 30), "period"),
    (lambda ev: crop(ev, (4, 4), (2 ** 70, 0), (1, 1)), "origin"),
])
def test_huge_integer_parameters_are_range_errors(call, name):
    with pytest.raises(ValidationError, match=f"{name} must be a whole number in"):
        call(random_events(0, 10, 4, 4))


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("size", [(float("inf"), 4), (4, -float("inf")), (4, 4, float("inf"))])
def test_infinite_sensor_size_is_a_validation_error(transform, size):
    with pytest.raises(ValidationError, match="sensor_size must be"):
        transform(random_events(0, 10, 4, 4), size)


def test_frames_past_the_cell_limit_are_refused_before_allocating():
    with pytest.raises(ValidationError, match="300000 frames would hold more than 2\\*\\*31"):
        to_frames(np.zeros(300_000, EVENT_DTYPE), (128, 128), event_count=1)
    # one frame of a 65536 x 65536 sensor already holds 2**33 counts, events or not
    empty, one = np.empty(0, EVENT_DTYPE), make_events([1], [1], [5], [1])
    for ev in (empty, one):
        for kw in (dict(time_window=10), dict(event_count=5), dict(n_time_bins=1), dict(n_event_bins=1)):
            with pytest.raises(ValidationError, match="1 frames would hold more than 2\\*\\*31"):
                to_frames(ev, (65536, 65536), **kw)


@pytest.mark.parametrize("transform", [denoise, refractory_filter])
def test_filters_refuse_sensors_past_their_pixel_limit(transform):
    for size in ((65536, 65536), (8193, 8192), (65536, 1025, 1)):
        with pytest.raises(ValidationError, match=rf"sensor of {size[0]} x {size[1]} pixels is larger than "
                                                  r"the filters' 2\*\*26"):
            transform(make_events([1], [1], [5], [1]), size, 10)


def test_filter_pixel_limit_is_inclusive():
    assert len(refractory_filter(make_events([65535], [1023], [5], [1]), (65536, 1024), 10)) == 1


OUT_OF_SPAN = [[-2 ** 63 + 1, 2 ** 63 - 1], [0, 2 ** 62 + 1], [-2 ** 62 - 1, 0], [2 ** 63 - 1] * 2]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("t", OUT_OF_SPAN)
def test_times_past_2_62_are_refused_by_every_transform(transform, t):
    ev = np.array([(0, 0, t[0], 1), (1, 0, t[1], 0)], EVENT_DTYPE)       # EVENT_DTYPE: the fast path
    with pytest.raises(ValidationError, match=r"events\[\d\]: t = -?\d+ is outside \+-2\*\*62"):
        transform(ev, (4, 4))
    with pytest.raises(ValidationError, match=r"events\[\d\]: t = -?\d+ is outside \+-2\*\*62"):
        transform(as_tonic(ev), (4, 4))


def test_filters_are_exact_across_the_whole_time_range():
    # t - t_prev = 2**63 at the ends of the range: more than any period, and too late to support a neighbour
    ev = make_events([0, 0, 1], [0, 0, 0], [-2 ** 62, 2 ** 62, 2 ** 62], [1, 1, 0])
    assert list(refractory_filter(ev, (2, 1), 2 ** 62)["t"]) == [-2 ** 62, 2 ** 62, 2 ** 62]
    assert list(denoise(ev, (2, 1), 2 ** 62)["t"]) == [2 ** 62]           # (1, 0) sees (0, 0) at the same t
    assert len(denoise(ev[[0, 2]], (2, 1), 2 ** 62)) == 0
    assert list(flip_lr(ev, (2, 1))["x"]) == [1, 1, 0]


@FEW
@given(streams, st.integers(1, 20), st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.9]),
       st.sampled_from([0, 2 ** 53 + 1, 2 ** 62 - 30_000, -2 ** 62]))
def test_time_bins_by_exact_fractions(stream, bins, overlap, shift):
    # a second implementation: each event against each bin's edges as exact fractions
    ev, size = events_of(stream)
    ev["t"] += shift
    t = [int(v) for v in ev["t"]]
    width = Fraction(t[-1] - t[0] + 1, bins) * (1 + Fraction(str(overlap)))
    expected = np.zeros((bins, 2, size[1], size[0]), int)
    for k in range(bins):
        start = t[0] + k * width * (1 - Fraction(str(overlap)))
        inside = np.array([start <= v < start + width for v in t])
        np.add.at(expected[k], (ev["p"][inside], ev["y"][inside], ev["x"][inside]), 1)
    np.testing.assert_array_equal(to_frames(ev, size, n_time_bins=bins, overlap=overlap), expected)


def test_time_bins_are_exact_far_from_zero():
    assert to_frames(make_events([1], [1], [2 ** 60 + 1], [1]), (4, 4), n_time_bins=7).sum() == 1
    ev = random_events(4, 300, 5, 5, 0, 997)
    for shift in (2 ** 53 + 1, 2 ** 60 + 3, 2 ** 62 - 997, -2 ** 62):
        moved = ev.copy()
        moved["t"] += shift
        for bins, overlap in ((1, 0), (7, 0), (13, 0.0), (6, 0.25), (9, 0.1), (20, 0.9)):
            np.testing.assert_array_equal(to_frames(moved, (5, 5), n_time_bins=bins, overlap=overlap),
                                          to_frames(ev, (5, 5), n_time_bins=bins, overlap=overlap))
    whole = make_events([0, 1], [0, 0], [-2 ** 62, 2 ** 62], [1, 1])      # t[-1] - t[0] + 1 > 2**63
    assert to_frames(whole, (2, 1), n_time_bins=3).sum() == 2
    assert to_frames(whole, (2, 1), n_time_bins=1, overlap=0.9).sum() == 2


def test_time_windows_reaching_past_2_62():
    ev = make_events([0, 1], [0, 0], [0, 2 ** 62], [1, 1])
    frames = to_frames(ev, (2, 1), time_window=2 ** 62, start_time=2 ** 62, end_time=2 ** 62, include_incomplete=True)
    assert frames.shape == (1, 2, 1, 2) and frames[0, 1, 0, 1] == 1 and frames.sum() == 1
