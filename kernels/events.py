"""Binning camera events into per-step spike counts, straight from the event columns.

No dense ``[T, B, P, H, W]`` frame is ever made: a two-pass counting sort (by neuron, then stably
by row) orders the kept events by (row, neuron), and one pass merges equal neurons into counts.
Time and memory are O(events + neurons + rows).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def bin_events(x, y, t, p, offsets, t_lo, t_hi, dt, steps, width, plane, n_neurons):
    """Spike counts of events ``offsets[b]:offsets[b+1]`` (sample ``b``) per (step, input neuron).

    Sample ``b`` keeps events with ``t_lo[b] <= t < t_hi[b]``; an event's step is
    ``(t - t_lo[b]) // dt`` and its neuron ``p * plane + y * width + x`` (``plane`` is ``H * W``,
    or 0 to merge polarities). Row ``step * batch + b`` of the result holds ``index[ptr[row]:ptr[row+1]]``
    (ascending neurons) with their event counts in ``count``. Inputs must be validated: every neuron
    index below ``n_neurons`` and ``t_hi[b] - t_lo[b] <= steps * dt`` without overflow.
    Returns (ptr, index, count).
    """
    batch = offsets.shape[0] - 1
    n_rows = steps * batch
    n = x.shape[0]
    row = np.empty(n, np.int64)
    neuron = np.empty(n, np.int64)
    neuron_pos = np.zeros(n_neurons + 1, np.int64)
    row_start = np.zeros(n_rows + 1, np.int64)
    for b in range(batch):
        lo, hi = t_lo[b], t_hi[b]
        for i in range(offsets[b], offsets[b + 1]):
            if t[i] < lo or t[i] >= hi:
                row[i] = -1
                continue
            r = ((t[i] - lo) // dt) * batch + b
            k = np.int64(p[i]) * plane + np.int64(y[i]) * width + np.int64(x[i])
            row[i] = r
            neuron[i] = k
            neuron_pos[k + 1] += 1
            row_start[r + 1] += 1
    for k in range(n_neurons):
        neuron_pos[k + 1] += neuron_pos[k]
    for r in range(n_rows):
        row_start[r + 1] += row_start[r]
    kept = row_start[n_rows]
    row_by_neuron = np.empty(kept, np.int64)
    for i in range(n):
        if row[i] >= 0:
            row_by_neuron[neuron_pos[neuron[i]]] = row[i]
            neuron_pos[neuron[i]] += 1
    row_pos = row_start[:n_rows].copy()
    ordered = np.empty(kept, np.int64)
    j = 0
    for k in range(n_neurons):
        while j < neuron_pos[k]:
            r = row_by_neuron[j]
            ordered[row_pos[r]] = k
            row_pos[r] += 1
            j += 1
    ptr = np.zeros(n_rows + 1, np.int64)
    index = np.empty(kept, np.int64)
    count = np.empty(kept, np.int64)
    u = 0
    for r in range(n_rows):
        j, end = row_start[r], row_start[r + 1]
        while j < end:
            k = ordered[j]
            c = 0
            while j < end and ordered[j] == k:
                c += 1
                j += 1
            index[u] = k
            count[u] = c
            u += 1
        ptr[r + 1] = u
    return ptr, index[:u].copy(), count[:u].copy()
