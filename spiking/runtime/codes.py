"""Lossless 8-bit storage of weight matrices whose values lie on a quantization grid.

A matrix ``w [n_pre, n_post]`` is stored as int8 codes ``c`` and one scale per column ``s`` when
every weight is exactly ``c * s`` in its own arithmetic (float32 or int64), with ``|c| <= 127``:
weights quantized to 8 bits or fewer (``spiking.compress.quantize``), integer weights up to 127
(FixedLIF networks), or any multiples of a power of two with a small enough range. The event
kernel then reads a quarter (float32) or an eighth (int64) of the bytes per synaptic event and
rebuilds each weight exactly, so its sums are unchanged to the last bit. Any other matrix is
stored as it is.
"""
from __future__ import annotations

import numpy as np

CODE_MAX = 127
_GRID_LEVELS = (127, 63, 31, 15, 7, 3, 1)
"""Largest code of a symmetric grid of 8 down to 2 bits: a grid scale is the largest weight over one of them."""
_SAMPLE_ROWS = 32
"""Rows a scale is tried on before the whole matrix: most scales that fail, fail there."""


def int8_codes(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """Codes ``[n_pre, n_post]`` int8 and scales ``[n_post]`` (the weights' dtype) that rebuild
    ``weights`` exactly as ``codes * scales``, and whether every such product is exact before
    rounding (integers, power-of-two scales), so that a fused multiply-add rounds as the add alone;
    or None where no such pair exists.

    Each column takes the first scale that rebuilds it from: the smallest power of two that keeps the
    column's codes within 127, then the grid scales of the whole matrix and of the column, each
    with its two float32 neighbours (a grid scale recovered from a rounded largest weight may be
    one unit off).
    """
    if weights.ndim != 2 or weights.size == 0:
        return None
    if weights.dtype == np.int64:
        if np.abs(weights).max() > CODE_MAX:
            return None
        return weights.astype(np.int8), np.ones(weights.shape[1], np.int64), True
    if weights.dtype != np.float32 or not np.isfinite(weights).all():
        return None
    peak = np.abs(weights).max(axis=0)
    scales = np.zeros(weights.shape[1], np.float32)
    found = peak == 0
    scales[found] = 1
    sample = weights[:_SAMPLE_ROWS]
    for candidate in _candidates(peak):
        if found.all():
            break
        cols = np.flatnonzero(~found & _rebuilds(sample, candidate))
        cols = cols[_rebuilds(weights[:, cols], candidate[cols])]
        scales[cols] = candidate[cols]
        found[cols] = True
    if not found.all():
        return None
    codes = np.rint(weights / scales).astype(np.int8)
    exact = bool((codes.astype(np.float64) * scales.astype(np.float64) == weights).all())
    return codes, scales, exact


def _candidates(peak: np.ndarray):
    """Per-column scales to try, each as an array over the columns (see ``int8_codes``)."""
    with np.errstate(divide="ignore"):
        exponent = np.ceil(np.log2(peak.astype(np.float64) / CODE_MAX))
    yield np.where(peak > 0, np.exp2(np.nan_to_num(exponent)), 1).astype(np.float32)
    whole = np.full_like(peak, peak.max())
    for level in _GRID_LEVELS:
        for top in (whole, peak):
            grid = (top / np.float32(level)).astype(np.float32)
            yield grid
            yield np.nextafter(grid, np.float32(np.inf))
            yield np.nextafter(grid, np.float32(0))


def _rebuilds(weights: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Per column: positive finite scale, every code within 127 and ``float32(code) * scale`` equal to the weight."""
    usable = np.isfinite(scales) & (scales > 0)
    safe = np.where(usable, scales, np.float32(1))
    with np.errstate(over="ignore", invalid="ignore"):
        codes = np.rint(weights / safe)
        inside = (np.abs(codes) <= CODE_MAX).all(axis=0)
        exact = (np.clip(codes, -CODE_MAX, CODE_MAX).astype(np.float32) * safe == weights).all(axis=0)
    return usable & inside & exact
