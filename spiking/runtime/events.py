"""Camera events binned into a spike ``Stimulus`` for an input population of shape ``(P, H, W)``."""
from __future__ import annotations

import numpy as np

from ..checks import whole_number
from ..datasets.events import MAX_SPAN, sensor_shape, validate_events
from ..errors import ValidationError
from ..kernels.events import bin_events
from .stimulus import Stimulus

_INT64_MAX = int(np.iinfo(np.int64).max)
_MAX_INDEX = 2 ** 26


def _window_starts(t_start, samples: list) -> list[int]:
    """First timestamp of each window: per sample (``None``: its first event, 0 when empty) or shared."""
    if t_start is None:
        return [int(ev["t"][0]) if len(ev) else 0 for ev in samples]
    starts = [t_start] * len(samples) if np.ndim(t_start) == 0 else list(t_start)
    if len(starts) != len(samples):
        raise ValidationError(f"t_start has {len(starts)} values for {len(samples)} samples")
    return [whole_number(s, "t_start", -MAX_SPAN) for s in starts]


def events_to_stimulus(events, sensor_size, steps: int, dt_us: int, *, t_start=None,
                       merge_polarities: bool = False, max_count: int | None = None) -> Stimulus:
    """Spike counts per step and pixel from camera events, without dense frames.

    ``events``: one structured event array (Tonic's fields ``x, y, t, p``, t in µs; see
    ``spiking.datasets.validate_events``) or a list of them, one per sample of the batch.
    ``sensor_size``: ``(W, H)`` or Tonic's ``(W, H, P)``. The stimulus has shape ``(2, H, W)``,
    channel = polarity (OFF 0, ON 1), input neuron ``p*H*W + y*W + x``; or ``(1, H, W)`` when
    ``merge_polarities`` or ``P == 1``.
    Step ``k`` of sample ``b`` holds its events with ``t_start[b] + k*dt_us <= t < t_start[b] + (k+1)*dt_us``,
    as Tonic's ``ToFrame(time_window=dt_us, start_time=..., end_time=t_start + steps*dt_us)``.
    ``t_start``: ``None`` (default) starts each sample at its own first event, as Tonic does;
    an integer (``0`` for absolute time) or one integer per sample fixes it. Events outside the
    ``steps * dt_us`` window are dropped. Events of one pixel, polarity and step add up to a spike
    count, which must stay <= 255 (a ``ValidationError`` otherwise), unless ``max_count`` (1..255)
    clips it (``max_count=1``: binary spikes).
    The binning keeps int64 offsets per row (``steps * batch``) and per input neuron (``P * H * W``):
    each may be at most 2**26 (512 MiB per array), or a ``ValidationError`` says which is too large.
    """
    samples = [events] if isinstance(events, np.ndarray) else list(events)
    if not samples:
        raise ValidationError("events: the batch has no samples")
    width, height, polarities = sensor_shape(sensor_size)
    steps = whole_number(steps, "steps", 1)
    dt_us = whole_number(dt_us, "dt_us", 1)
    if steps * dt_us > MAX_SPAN:
        raise ValidationError(f"steps * dt_us = {steps * dt_us} us exceeds 2**62")
    if max_count is not None:
        max_count = whole_number(max_count, "max_count", 1, 255)
    channels = 1 if merge_polarities or polarities == 1 else 2
    batch = len(samples)
    rows, neurons = steps * batch, channels * height * width
    if max(rows, neurons) > _MAX_INDEX:
        raise ValidationError(f"events_to_stimulus: {steps} steps x {batch} samples = {rows} rows and {channels} x "
                              f"{height} x {width} = {neurons} input neurons; each must be at most 2**26 "
                              f"({_MAX_INDEX:,}): the binning keeps an int64 offset per row and per neuron")
    samples = [validate_events(ev, sensor_size, f"events[{b}]") for b, ev in enumerate(samples)]
    starts = _window_starts(t_start, samples)
    offsets = np.zeros(batch + 1, np.int64)
    np.cumsum([len(ev) for ev in samples], out=offsets[1:])
    x, y, t, p = (np.concatenate([ev[f] for ev in samples]) for f in "xytp")
    t_lo = np.array(starts, np.int64)
    t_hi = np.array([min(s + steps * dt_us, _INT64_MAX) for s in starts], np.int64)
    ptr, index, count = bin_events(x, y, t, p, offsets, t_lo, t_hi, dt_us, steps, width,
                                   height * width if channels == 2 else 0, channels * height * width)
    if max_count is None:
        over = np.flatnonzero(count > 255)
        if over.size:
            j = int(over[0])
            r = int(np.searchsorted(ptr, j, side="right")) - 1
            c, rest = divmod(int(index[j]), height * width)
            raise ValidationError(f"events[{r % batch}]: {count[j]} events at pixel (x={rest % width}, "
                                  f"y={rest // width}), channel {c}, step {r // batch}; a spike count must be "
                                  f"<= 255: shorten dt_us or pass max_count to clip")
    else:
        np.minimum(count, max_count, out=count)
    return Stimulus(steps, batch, (channels, height, width), ptr, index, count.astype(np.float32), analog=False)
