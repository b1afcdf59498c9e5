"""Symmetric uniform quantization of a network's weights.

Weights ``w`` of a layer (or of one output channel) with largest magnitude ``m`` go to the grid
``k * s`` with ``s = m / (2^(bits-1) - 1)`` and ``k = round(w / s)``, an integer in
``[-(2^(bits-1) - 1), 2^(bits-1) - 1]`` (zero stays zero, so pruned weights stay pruned). The
stored weight is the float32 product ``float32(k) * float32(s)``, as an int8 deployment computes it,
so the event kernel can keep the integers and the scale instead (``spiking.runtime.codes``).
"""
from __future__ import annotations

import numpy as np

from ..checks import whole_number
from ..network import Network
from ..network.ops import Conv2d, Linear, Sparse
from .rebuild import rebuild


def levels(bits: int) -> int:
    """The largest integer magnitude of a signed symmetric ``bits``-bit grid."""
    return 2 ** (whole_number(bits, "bits", 2, 16) - 1) - 1


def grid(weights: np.ndarray, bits: int, channel_max: np.ndarray | float) -> np.ndarray:
    """``weights`` on the grid: ``float32(k) * float32(s)`` with ``s`` broadcast like ``channel_max``."""
    q = levels(bits)
    m = np.asarray(channel_max, np.float64)
    s = np.where(m > 0, m / q, 1.0)
    k = np.clip(np.round(np.asarray(weights, np.float64) / s), -q, q)
    return k.astype(np.float32) * s.astype(np.float32)


def channel_max(op, per_channel: bool):
    """The largest weight magnitude of ``op``, per output channel (or neuron) if ``per_channel``,
    shaped to broadcast against its weights (``values`` for Sparse)."""
    if isinstance(op, Sparse):
        if not per_channel:
            return np.abs(op.values).max(initial=0.0)
        m = np.zeros(op.n_post)
        np.maximum.at(m, op.post, np.abs(op.values))
        return m[op.post]
    w = np.abs(op.weight)
    if not per_channel:
        return w.max(initial=0.0)
    return w.max(axis=tuple(range(1, w.ndim)), keepdims=True, initial=0.0)


def quantize_op(op, bits: int, per_channel: bool = False):
    """``op`` with its weights on the grid, dequantized to float32; other ops unchanged."""
    if isinstance(op, Sparse):
        return Sparse(op.n_post, op.pre_ptr, op.post, grid(op.values, bits, channel_max(op, per_channel)))
    if isinstance(op, Linear):
        return Linear(grid(op.weight, bits, channel_max(op, per_channel)))
    if isinstance(op, Conv2d):
        return Conv2d(grid(op.weight, bits, channel_max(op, per_channel)), op.stride, op.padding, op.groups)
    return op


def quantize(net: Network, bits: int, *, per_channel: bool = False) -> Network:
    """A copy of ``net`` whose weights are quantized to ``bits`` bits (2..16), with one scale per
    weighted op or per output channel, and stored dequantized (grid integer times scale) as float32,
    so the network runs on any backend."""
    levels(bits)
    return rebuild(net, ops=lambda proj: tuple(quantize_op(op, bits, per_channel) for op in proj.ops))
