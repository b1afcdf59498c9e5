"""A DVS emulator: a video (frames with timestamps) in, camera events out.

Each pixel compares its log intensity ``L = log(I + eps)`` with a reference ``L_ref`` set at its
last event (ESIM, Rebecq et al. 2018; v2e, Hu et al. 2021)::

    ON  event when  L - L_ref >= theta_on[y, x],   then L_ref += theta_on[y, x]
    OFF event when  L_ref - L >= theta_off[y, x],  then L_ref -= theta_off[y, x]

- ``L`` is linear in time between frames, so every crossing gets its own interpolated timestamp
  (rounded to the µs), and a change of several thresholds gives several events in one interval.
- Thresholds differ per pixel (fixed-pattern mismatch): ``N(threshold, sigma)`` drawn once,
  clipped at 0.01 as v2e does.
- Refractory period: an event less than ``refractory`` µs after the pixel's last emitted event is
  not emitted, but ``L_ref`` still moves (ESIM).
- Leak: ``L_ref`` falls by ``leak_rate * theta_on`` per second, so a still pixel emits ON events at
  ``leak_rate`` Hz; each pixel starts a uniform random fraction of ``theta_on`` into that cycle,
  so leak events are not synchronous.
- Shot noise: a Poisson process of ``shot_noise_rate`` events per pixel per second, uniform over
  the video's duration and the pixels, polarity ON or OFF with probability 1/2; it does not move
  ``L_ref`` and is not subject to the refractory period.

Random draws come from ``np.random.default_rng(seed)`` in this order: ``theta_on`` ``[H, W]``,
``theta_off`` ``[H, W]``, leak phases ``[H, W]``, then the shot noise. Same seed, same events.

A video and camera that make more than ``MAX_EVENTS`` (2**26) threshold crossings (emitted or not),
or events with the shot noise, get a ``ValidationError``: the kernel stops there, and the noise is
checked before it is drawn, so neither time nor memory grows without bound (a huge leak rate or
shot-noise rate, or a jump of many thresholds in ``emulate_log``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..checks import whole_number
from ..errors import ValidationError
from ..kernels.emulator import FULL, TOO_MANY, emulate_pixels
from .events import EVENT_DTYPE

MIN_THRESHOLD = 0.01
MAX_EVENTS = 2 ** 26


def _positive(value, name: str, low: float = 0.0, strict: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    # exact for ints of any size; False for inf and NaN
    if not (ok and abs(value) <= sys.float_info.max and (value > low if strict else value >= low)):
        raise ValidationError(f"DVS: {name} must be a finite number {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DVS:
    """A DVS camera's pixel parameters (log-intensity thresholds, mismatch, refractory period, noise).

    ``threshold_on``/``threshold_off``: nominal contrast thresholds (log units); ``threshold_off``
    ``None`` means equal to ``threshold_on``. ``sigma``: standard deviation of the per-pixel mismatch.
    ``eps``: added to the intensity before the log (a black level; intensity 0 is then finite).
    ``refractory``: µs. ``leak_rate``, ``shot_noise_rate``: events per pixel per second.
    """

    threshold_on: float = 0.2
    threshold_off: float | None = None
    sigma: float = 0.03
    eps: float = 0.1
    refractory: int = 0
    leak_rate: float = 0.0
    shot_noise_rate: float = 0.0

    def __post_init__(self):
        _positive(self.threshold_on, "threshold_on", MIN_THRESHOLD)
        if self.threshold_off is not None:
            _positive(self.threshold_off, "threshold_off", MIN_THRESHOLD)
        _positive(self.sigma, "sigma")
        _positive(self.eps, "eps", strict=True)
        whole_number(self.refractory, "DVS: refractory (µs)", 0)
        _positive(self.leak_rate, "leak_rate")
        _positive(self.shot_noise_rate, "shot_noise_rate")


def _checked_video(video, timestamps, what: str, low=None):
    """``video`` as a float ``[T, H, W]`` array of finite values (>= ``low``), ``timestamps`` as int64."""
    video = np.asarray(video)
    if video.ndim != 3 or video.dtype.kind not in "uif" or not 1 <= video.shape[1] <= 65536 \
            or not 1 <= video.shape[2] <= 65536 or video.shape[0] < 1:
        raise ValidationError(f"emulate: {what} must be a numeric [T, H, W] array with T >= 1 and 1 <= H, W <= 65536, "
                              f"got {video.dtype} {video.shape}")
    if video.dtype not in (np.float32, np.float64):
        video = video.astype(np.float64)
    bad = ~np.isfinite(video) if low is None else ~np.isfinite(video) | (video < low)
    if bad.any():
        k, y, x = np.unravel_index(int(np.argmax(bad)), video.shape)
        raise ValidationError(f"emulate: {what}[{k}, {y}, {x}] = {video[k, y, x]}: values must be finite"
                              + ("" if low is None else f" and >= {low}"))
    times = np.asarray(timestamps)
    if times.shape != (video.shape[0],) or times.dtype.kind not in "iu":
        raise ValidationError(f"emulate: timestamps must be {video.shape[0]} integers (µs, one per frame), got "
                              f"{times.dtype} {times.shape}")
    times = times.astype(np.int64)
    late = np.flatnonzero(np.diff(times) <= 0)
    if late.size:
        k = int(late[0]) + 1
        raise ValidationError(f"emulate: timestamps[{k}] = {times[k]} is not after timestamps[{k - 1}] = "
                              f"{times[k - 1]}; frame times must increase")
    if times[0] < 0 or times[-1] >= 2 ** 62:
        raise ValidationError(f"emulate: timestamps must lie in [0, 2**62) µs, got {times[0]}..{times[-1]}")
    return video, times


def emulate(video, timestamps, camera: DVS = DVS(), seed: int = 0) -> np.ndarray:
    """Events (``EVENT_DTYPE``, sorted by ``t``; ties in emission order) of a DVS watching ``video``.

    ``video``: ``[T, H, W]`` linear intensities >= 0 (any scale; ``camera.eps`` is in the same
    unit). ``timestamps``: ``T`` increasing integers, µs. The sensor size is ``(W, H)``.
    """
    video, times = _checked_video(video, timestamps, "video", 0)
    return _events(np.log(np.add(video, camera.eps, dtype=np.float64)), times, camera, seed)


def emulate_log(levels, timestamps, camera: DVS = DVS(), seed: int = 0) -> np.ndarray:
    """``emulate`` for a video already in log intensity, ``levels = log(I + eps)`` (``camera.eps`` unused).

    For callers that render log frames themselves (``spiking.datasets.nmnist_synth``).
    """
    levels, times = _checked_video(levels, timestamps, "levels")
    return _events(levels, times, camera, seed)


def _too_many_events(what: str) -> ValidationError:
    return ValidationError(f"emulate: this video and camera make more than MAX_EVENTS = {MAX_EVENTS:,} {what}; "
                           "lower leak_rate or shot_noise_rate, raise the thresholds, or emulate a shorter or "
                           "smaller video")


def _events(levels, times, camera: DVS, seed) -> np.ndarray:
    steps, height, width = levels.shape
    rng = np.random.default_rng(whole_number(seed, "seed", 0, 2 ** 63 - 1))
    off = camera.threshold_on if camera.threshold_off is None else camera.threshold_off
    theta_on = np.maximum(rng.normal(camera.threshold_on, camera.sigma, (height, width)), MIN_THRESHOLD)
    theta_off = np.maximum(rng.normal(off, camera.sigma, (height, width)), MIN_THRESHOLD)
    phase = rng.random((height, width))
    d_init = phase * theta_on if camera.leak_rate > 0 else np.zeros((height, width))
    drift = camera.leak_rate * 1e-6 * theta_on
    capacity = min(max(1024, 8 * height * width), MAX_EVENTS)
    while True:     # until the events fit: each try at most doubles the work of the last
        x, y, t, p, ended = emulate_pixels(levels, times, theta_on, theta_off, drift, camera.refractory, d_init,
                                           MAX_EVENTS, capacity)
        if ended != FULL:
            break
        capacity = min(2 * capacity, MAX_EVENTS)
    if ended == TOO_MANY:
        raise _too_many_events("threshold crossings (emitted or not)")
    duration = int(times[-1] - times[0])
    expected = float(camera.shot_noise_rate) * height * width * duration * 1e-6     # inf, not an error, past float
    if len(x) + expected > MAX_EVENTS:
        raise _too_many_events(f"events ({len(x):,} from the video, {expected:.3g} of shot noise expected)")
    noise = rng.poisson(expected) if camera.shot_noise_rate else 0
    if len(x) + noise > MAX_EVENTS:
        raise _too_many_events(f"events ({len(x):,} from the video, {noise:,} of shot noise)")
    if noise:
        x = np.concatenate([x, rng.integers(0, width, noise).astype(np.uint16)])
        y = np.concatenate([y, rng.integers(0, height, noise).astype(np.uint16)])
        t = np.concatenate([t, times[0] + rng.integers(0, duration, noise)])
        p = np.concatenate([p, rng.integers(0, 2, noise).astype(np.uint8)])
    order = np.argsort(t, kind="stable")
    events = np.empty(len(order), EVENT_DTYPE)
    for name, column in zip("xytp", (x, y, t, p)):
        events[name] = column[order]
    return events
