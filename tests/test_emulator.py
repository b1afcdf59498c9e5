"""The DVS emulator: crossings by hand and by a second implementation, noise rates, determinism."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spiking import ValidationError
from spiking.datasets.emulator import DVS, emulate, emulate_log
from spiking.datasets.events import EVENT_DTYPE

EPS = 1e-20


def pixel_video(levels):
    """A one-pixel video whose log intensity ``log(I + EPS)`` takes the given values."""
    return (np.exp(np.asarray(levels, np.float64)) - EPS).reshape(-1, 1, 1)


def test_single_pixel_ramp_by_hand():
    # L: 0 -> 0.9 over [0, 1000] us, then 0.9 -> 0.1 over [1000, 3000] us; thresholds 0.25.
    # ON at L = 0.25, 0.5, 0.75: t = 1000 * L / 0.9 = 277.8, 555.6, 833.3 -> 278, 556, 833.
    # L_ref is then 0.75; OFF at L = 0.5 and 0.25: t = 1000 + 2000 * (0.9 - L) / 0.8 = 2000, 2625.
    camera = DVS(threshold_on=0.25, sigma=0.0, eps=EPS)
    ev = emulate(pixel_video([0.0, 0.9, 0.1]), [0, 1000, 3000], camera)
    assert ev.dtype == EVENT_DTYPE
    assert list(ev["t"]) == [278, 556, 833, 2000, 2625]
    assert list(ev["p"]) == [1, 1, 1, 0, 0]
    assert not ev["x"].any() and not ev["y"].any()
    # refractory 300 us: 556 comes 278 us after 278 and is not emitted; 833 is 555 us after 278
    ev = emulate(pixel_video([0.0, 0.9, 0.1]), [0, 1000, 3000], DVS(threshold_on=0.25, sigma=0.0, eps=EPS,
                                                                     refractory=300))
    assert list(ev["t"]) == [278, 833, 2000, 2625]


def test_off_threshold_differs_from_on():
    camera = DVS(threshold_on=0.2, threshold_off=0.5, sigma=0.0, eps=EPS)
    ev = emulate(pixel_video([0.0, -1.1]), [0, 1100], camera)
    assert list(ev["p"]) == [0, 0] and list(ev["t"]) == [500, 1000]


def test_more_events_than_the_first_buffer_holds():
    # One pixel: the emulator's first buffer holds 1,024 events; a rise of 3,000.5 thresholds over
    # 3,000,500 us crosses at L = k * theta, t = 1000 k us for k = 1..3000, so it must try again.
    theta = 0.01
    ev = emulate_log(np.array([0.0, 3000.5 * theta]).reshape(2, 1, 1), [0, 3_000_500],
                     DVS(threshold_on=theta, sigma=0.0))
    assert len(ev) == 3000 and (ev["p"] == 1).all()
    assert np.abs(ev["t"] - 1000 * np.arange(1, 3001)).max() <= 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=8), st.lists(st.integers(1, 5000), min_size=8, max_size=8),
       st.floats(0.05, 0.6))
def test_monotone_ramp_matches_interpolated_crossings(rises, gaps, threshold):
    # Second implementation: invert the piecewise-linear L(t) with np.interp at L0 + k * threshold.
    levels = np.concatenate([[0.0], np.cumsum(rises)])
    times = np.concatenate([[0], np.cumsum(gaps[:len(rises)])])
    keep = np.concatenate([[True], np.diff(levels) > 1e-9])
    levels, times = levels[keep], times[keep]
    levels = np.log(pixel_video(levels).ravel() + EPS)          # the levels the emulator will see
    assume(np.abs(levels / threshold - np.round(levels / threshold))[1:].min(initial=1) > 1e-9)   # none on a frame
    crossings = threshold * np.arange(1, int(levels[-1] / threshold + 1e-9) + 1)
    crossings = crossings[crossings <= levels[-1]]
    expected = np.floor(np.interp(crossings, levels, times) + 0.5).astype(np.int64)
    ev = emulate(pixel_video(levels), times, DVS(threshold_on=threshold, sigma=0.0, eps=EPS))
    assert len(ev) == len(expected) and (ev["p"] == 1).all()
    assert np.abs(ev["t"] - expected).max(initial=0) <= 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=30), st.floats(0.05, 0.5), st.floats(0.05, 0.5))
def test_events_account_for_the_change(steps, on, off):
    # Whatever the path: n_on * on - n_off * off = L_end - L_start - d with -off < d < on.
    levels = np.concatenate([[0.0], np.cumsum(steps)])
    times = np.arange(len(levels)) * 1000
    ev = emulate(pixel_video(levels), times, DVS(threshold_on=on, threshold_off=off, sigma=0.0, eps=EPS))
    rest = levels[-1] - (on * (ev["p"] == 1).sum() - off * (ev["p"] == 0).sum())
    assert -off - 1e-9 < rest < on + 1e-9
    assert (np.diff(ev["t"]) >= 0).all() and (ev["t"] <= times[-1]).all()


def test_static_scene_is_silent():
    rng = np.random.default_rng(0)
    video = np.repeat(rng.random((1, 16, 12)), 50, axis=0)
    assert len(emulate(video, np.arange(50) * 1000, DVS(sigma=0.05, refractory=100), seed=3)) == 0


def test_mismatch_follows_the_documented_draws():
    # every pixel's L goes 0 -> 3 -> 0: floor(3 / theta_on) ON events, which leave L_ref at
    # n_on * theta_on, then floor(n_on * theta_on / theta_off) OFF events on the way down
    seed, height, width = 7, 40, 50
    dark = np.zeros((height, width))
    video = np.stack([dark, np.full((height, width), math.exp(3.0) - 1), dark])
    ev = emulate(video, [0, 1000, 2000], DVS(threshold_on=0.3, threshold_off=0.4, sigma=0.05, eps=1.0), seed=seed)
    rng = np.random.default_rng(seed)
    theta_on = np.maximum(rng.normal(0.3, 0.05, (height, width)), 0.01)
    theta_off = np.maximum(rng.normal(0.4, 0.05, (height, width)), 0.01)
    n_on = np.floor(3.0 / theta_on)
    for pol, expected in ((1, n_on), (0, np.floor(n_on * theta_on / theta_off))):
        sel = ev[ev["p"] == pol]
        counts = np.zeros((height, width), int)
        np.add.at(counts, (sel["y"], sel["x"]), 1)
        np.testing.assert_array_equal(counts, expected.astype(int))
    assert np.unique(n_on).size > 3                             # the mismatch is visible


def test_leak_events_at_the_leak_rate():
    # a still scene, 0.5 Hz leak for 10 s: each pixel's reference falls one threshold every 2 s,
    # starting a random fraction into the cycle, so each pixel fires exactly 5 ON events 2 s apart
    video = np.ones((2, 20, 20))
    ev = emulate(video, [0, 10_000_000], DVS(leak_rate=0.5), seed=1)
    assert (ev["p"] == 1).all() and len(ev) == 5 * 400
    per_pixel = ev[np.lexsort((ev["t"], ev["x"], ev["y"]))]["t"].reshape(400, 5)
    assert np.abs(np.diff(per_pixel, axis=1) - 2_000_000).max() <= 1
    assert np.ptp(per_pixel[:, 0]) > 1_000_000                  # phases spread over the cycle


def test_shot_noise_rate_within_statistical_bounds():
    rate, height, width, seconds = 2.0, 32, 32, 5
    video = np.ones((2, height, width))
    ev = emulate(video, [1000, 1000 + seconds * 1_000_000], DVS(shot_noise_rate=rate), seed=5)
    mean = rate * height * width * seconds
    assert abs(len(ev) - mean) < 5 * math.sqrt(mean)
    assert abs(ev["p"].mean() - 0.5) < 5 * 0.5 / math.sqrt(len(ev))
    assert ev["t"].min() >= 1000 and ev["t"].max() < 1000 + seconds * 1_000_000
    counts = np.zeros((height, width))
    np.add.at(counts, (ev["y"], ev["x"]), 1)
    assert 0.8 < counts.var() / counts.mean() < 1.2          # Poisson per pixel: variance = mean


def test_same_seed_same_events():
    rng = np.random.default_rng(2)
    video = rng.random((30, 10, 10))
    camera = DVS(sigma=0.05, refractory=200, leak_rate=1.0, shot_noise_rate=20.0)
    a, b, c = (emulate(video, np.arange(30) * 2000, camera, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a, b)
    assert len(a) > 100 and (len(a) != len(c) or not np.array_equal(a, c))
    assert (np.diff(a["t"]) >= 0).all()


def test_log_video_gives_the_same_events():
    rng = np.random.default_rng(8)
    video = rng.random((20, 6, 7))
    camera = DVS(sigma=0.04, eps=0.2, refractory=50, leak_rate=2.0, shot_noise_rate=10.0)
    times = np.arange(20) * 700
    np.testing.assert_array_equal(emulate(video, times, camera, 9), emulate_log(np.log(video + 0.2), times, camera, 9))


def test_errors():
    video = np.ones((3, 2, 2))
    with pytest.raises(ValidationError, match=r"video\[1, 0, 1\] = -1.0: values must be finite and >= 0"):
        bad = video.copy()
        bad[1, 0, 1] = -1
        emulate(bad, [0, 1, 2])
    with pytest.raises(ValidationError, match=r"video\[0, 0, 0\] = nan"):
        emulate(np.full((3, 2, 2), np.nan), [0, 1, 2])
    with pytest.raises(ValidationError, match=r"timestamps\[2\] = 1 is not after timestamps\[1\] = 1"):
        emulate(video, [0, 1, 1])
    with pytest.raises(ValidationError, match="timestamps must be 3 integers"):
        emulate(video, [0.0, 1.0, 2.0])
    with pytest.raises(ValidationError, match="video must be a numeric \\[T, H, W\\] array"):
        emulate(np.ones((2, 2)), [0, 1])
    with pytest.raises(ValidationError, match=r"levels\[0, 1, 0\] = -inf: values must be finite$"):
        emulate_log(np.array([[[0.0], [-np.inf]]] * 2), [0, 1])
    with pytest.raises(ValidationError, match="threshold_on must be a finite number >= 0.01"):
        DVS(threshold_on=0.0)
    with pytest.raises(ValidationError, match="eps must be a finite number > 0"):
        DVS(eps=0)


# ---- bounded output --------------------------------------------------------------------------------

LIMIT = r"emulate: this video and camera make more than MAX_EVENTS = "
STILL = np.ones((2, 8, 8))
JUMP = np.array([[[0.0]], [[1e15]]])                                 # 1e17 thresholds of 0.01 in one frame
RUNAWAY = {"leak": lambda: emulate(STILL, [0, 10 ** 6], camera=DVS(leak_rate=1e12)),
           "shot noise": lambda: emulate(STILL, [0, 10 ** 6], camera=DVS(shot_noise_rate=1e12)),
           "shot noise past float": lambda: emulate(STILL, [0, 10 ** 6], camera=DVS(shot_noise_rate=1e300)),
           "jump": lambda: emulate_log(JUMP, [0, 1000], DVS(threshold_on=0.01)),
           "jump, refractory": lambda: emulate_log(JUMP, [0, 1000], DVS(threshold_on=0.01, refractory=10 ** 6))}


@pytest.mark.parametrize("case", RUNAWAY)
def test_runaway_cameras_are_refused(case, monkeypatch):
    # a smaller limit, for speed: events are stored at about 200 ns each here, so 2**26 of them take ~13 s
    import spiking.datasets.emulator as emulator

    monkeypatch.setattr(emulator, "MAX_EVENTS", 2 ** 16)
    with pytest.raises(ValidationError, match=LIMIT + "65,536"):
        RUNAWAY[case]()


@pytest.mark.parametrize("case", ["shot noise", "shot noise past float", "jump, refractory"])
def test_runaway_cameras_are_refused_at_the_real_limit(case):
    with pytest.raises(ValidationError, match=LIMIT + "67,108,864"):
        RUNAWAY[case]()


def test_the_limit_counts_crossings_and_events(monkeypatch):
    import spiking.datasets.emulator as emulator

    ramp, times = pixel_video([0.0, 0.9, 0.1]), [0, 1000, 3000]       # 5 crossings, as by hand above
    camera = DVS(threshold_on=0.25, sigma=0.0, eps=EPS)
    monkeypatch.setattr(emulator, "MAX_EVENTS", 5)
    assert len(emulate(ramp, times, camera)) == 5
    monkeypatch.setattr(emulator, "MAX_EVENTS", 4)
    with pytest.raises(ValidationError, match=LIMIT + "4 threshold crossings"):
        emulate(ramp, times, camera)
    with pytest.raises(ValidationError, match=LIMIT + "4 threshold crossings"):    # 4 events, but 5 crossings
        emulate(ramp, times, DVS(threshold_on=0.25, sigma=0.0, eps=EPS, refractory=300))
    # shot noise: 2.9 Hz on 32 x 32 pixels for 1 s, 2969.6 expected; seed 2 draws 3000, seed 5 draws 3001
    monkeypatch.setattr(emulator, "MAX_EVENTS", 3000)
    video, noisy = np.ones((2, 32, 32)), DVS(shot_noise_rate=2.9)
    assert len(emulate(video, [0, 10 ** 6], noisy, seed=2)) == 3000
    with pytest.raises(ValidationError, match=LIMIT + r"3,000 events \(0 from the video, 3,001 of shot noise\)"):
        emulate(video, [0, 10 ** 6], noisy, seed=5)
    with pytest.raises(ValidationError, match=LIMIT + r"3,000 events \(0 from the video, 3.07e\+03 of shot noise exp"):
        emulate(video, [0, 10 ** 6], DVS(shot_noise_rate=3.0))


def test_huge_integer_parameters():
    assert DVS(leak_rate=10 ** 30, threshold_on=2 ** 64).leak_rate == 10 ** 30
    with pytest.raises(ValidationError, match=LIMIT):                   # 10**305 * 64 * 64 * 1000 s overflows float
        emulate(np.ones((2, 64, 64)), [0, 10 ** 9], DVS(shot_noise_rate=10 ** 305))
    with pytest.raises(ValidationError, match="shot_noise_rate must be a finite number >= 0"):
        DVS(shot_noise_rate=10 ** 400)
    with pytest.raises(ValidationError, match="refractory \\(µs\\) must be a whole number"):
        DVS(refractory=2 ** 64)
