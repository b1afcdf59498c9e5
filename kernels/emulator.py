"""DVS pixels driven by a video: log-intensity threshold crossings, interpolated in time.

Model and parameters: ``spiking.datasets.emulator``. The kernels draw no random numbers: the
caller passes the per-pixel thresholds and initial states, so a seed fixes everything. They release
the GIL, so samples can be emulated on several threads.
"""
import math

import numpy as np
from numba import njit


DONE, FULL, TOO_MANY = 0, 1, 2
"""How ``emulate_pixels`` ended: the whole video, out of room for events, past ``max_crossings``."""


@njit(cache=True, nogil=True)
def emulate_pixels(levels, times, theta_on, theta_off, drift, refractory, d_init, max_crossings, capacity):
    """Signal events of a video of log intensities ``levels [T, H, W]`` at ``times`` (µs, increasing).

    Per pixel, ``d = L - L_ref``. Between frames ``k`` and ``k + 1``, ``L`` is linear in time and
    ``L_ref`` falls by ``drift[y, x]`` per µs (leak), so ``d`` is linear with slope
    ``L[k+1] - L[k] + drift * dt``. Each time ``d`` reaches ``theta_on`` (ON) or ``-theta_off`` (OFF)
    an event is stamped at the interpolated instant (rounded to the µs) and ``L_ref`` moves by that
    threshold (``d`` returns to 0); several events per interval when the change spans several
    thresholds. An event less than ``refractory`` µs after the pixel's last emitted event is not
    emitted, but ``L_ref`` still moves. ``d`` starts at ``d_init``.
    Returns columns ``x, y, t, p`` in emission order (by interval, then pixel, then time) and how it
    ended: ``DONE``; ``FULL`` when ``capacity`` events did not hold them all (the caller runs it again
    with more: buffers that grow inside the loop make every step of it about twice as slow); or
    ``TOO_MANY`` at the first threshold crossing (emitted or not) past ``max_crossings``, which bounds
    its time whatever the levels and drift.
    """
    steps, height, width = levels.shape
    pixels = height * width
    frames = levels.reshape(steps, pixels)
    on_t, off_t, leak = theta_on.ravel(), theta_off.ravel(), drift.ravel()
    xs = np.empty(capacity, np.uint16)
    ys = np.empty(capacity, np.uint16)
    ts = np.empty(capacity, np.int64)
    ps = np.empty(capacity, np.uint8)
    n = 0
    left = max_crossings
    d = d_init.ravel().copy()
    last = np.zeros(pixels, np.int64)
    fired = np.zeros(pixels, np.bool_)
    for k in range(steps - 1):
        t0 = times[k]
        dt = times[k + 1] - t0
        before, after = frames[k], frames[k + 1]
        for j in range(pixels):
            slope = (after[j] - before[j]) + leak[j] * dt
            if slope == 0.0:
                continue
            dd = d[j]
            f = 0.0
            while True:
                gap = on_t[j] - dd if slope > 0.0 else -off_t[j] - dd
                if gap / slope > 1.0 - f:
                    break
                left -= 1
                if left < 0:
                    return xs[:n], ys[:n], ts[:n], ps[:n], TOO_MANY
                f += gap / slope
                dd = 0.0
                te = t0 + np.int64(math.floor(f * dt + 0.5))
                if refractory > 0 and fired[j] and te - last[j] < refractory:
                    continue
                if n == capacity:
                    return xs[:n], ys[:n], ts[:n], ps[:n], FULL
                xs[n], ys[n], ts[n], ps[n] = j % width, j // width, te, slope > 0.0
                n += 1
                last[j] = te
                fired[j] = True
            d[j] = dd + slope * (1.0 - f)
    return xs[:n], ys[:n], ts[:n], ps[:n], DONE


@njit(cache=True, nogil=True)
def render_shifted_log(image, shift_x, shift_y, eps, out):
    """``out[k] = log(eps + frame k)``: ``image`` translated by ``(shift_x[k], shift_y[k])`` pixels.

    Sensor pixel ``(x, y)`` of frame ``k`` sees the image bilinearly at ``(x - shift_x[k], y - shift_y[k])``,
    and 0 outside it.
    """
    rows, cols = image.shape
    steps, height, width = out.shape
    dark = math.log(eps)
    col0 = np.empty(width, np.int64)
    wx = np.empty(width)
    for k in range(steps):
        for xx in range(width):
            u = xx - shift_x[k]
            col0[xx] = np.int64(math.floor(u))
            wx[xx] = u - col0[xx]
        for yy in range(height):
            v = yy - shift_y[k]
            r = np.int64(math.floor(v))
            wy = v - r
            for xx in range(width):
                c = col0[xx]
                acc = 0.0
                if 0 <= r < rows:
                    if 0 <= c < cols:
                        acc += (1.0 - wy) * (1.0 - wx[xx]) * image[r, c]
                    if 0 <= c + 1 < cols:
                        acc += (1.0 - wy) * wx[xx] * image[r, c + 1]
                if 0 <= r + 1 < rows:
                    if 0 <= c < cols:
                        acc += wy * (1.0 - wx[xx]) * image[r + 1, c]
                    if 0 <= c + 1 < cols:
                        acc += wy * wx[xx] * image[r + 1, c + 1]
                out[k, yy, xx] = dark if acc == 0.0 else math.log(acc + eps)
