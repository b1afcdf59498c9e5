"""What a run is fed: spikes, analog currents, Poisson-encoded rates or binned camera events.

All of them become one sparse layout the kernels read without dense frames: for each (step, sample)
row, the indices of the active input neurons and their values.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..checks import whole_number
from ..errors import ValidationError
from ..kernels.stimulus import scatter_rows


@dataclass(frozen=True)
class Stimulus:
    """Sparse input: row ``t * batch + b`` holds ``index[ptr[row]:ptr[row+1]]`` and ``value`` alike.

    A ``constant`` stimulus has one row per sample (``steps == 1``), applied at every step.
    ``analog`` input counts as MACs where it enters weights; spike input counts as synaptic events.
    """

    steps: int
    batch: int
    shape: tuple
    ptr: np.ndarray
    index: np.ndarray
    value: np.ndarray
    analog: bool
    constant: bool = False

    def __post_init__(self):
        # The kernels index with these arrays unchecked: a bad row would write out of bounds. They are
        # private read-only copies, so nothing can change them once checked.
        shape = tuple(whole_number(d, "stimulus: shape", 1) for d in self.shape)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "steps", whole_number(self.steps, "stimulus: steps", 1))
        object.__setattr__(self, "batch", whole_number(self.batch, "stimulus: batch", 1))
        for name, dtype in (("ptr", np.int64), ("index", np.int64), ("value", np.float32)):
            array = np.array(getattr(self, name), dtype, order="C")
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        ptr, index, value = self.ptr, self.index, self.value
        rows = self.steps * self.batch
        if (self.constant and self.steps != 1) or not shape:
            raise ValidationError(f"stimulus: a constant stimulus has 1 step and every stimulus a shape, got steps "
                                  f"{self.steps}, shape {shape}")
        if ptr.shape != (rows + 1,) or ptr[0] != 0 or ptr[-1] != len(index) or (np.diff(ptr) < 0).any():
            raise ValidationError(f"stimulus: ptr must hold {rows + 1} non-decreasing offsets from 0 to {len(index)}")
        if value.shape != index.shape:
            raise ValidationError(f"stimulus: index {index.shape} and value {value.shape} differ in shape")
        if len(index) and (index.min() < 0 or index.max() >= self.size):
            raise ValidationError(f"stimulus: input neuron indices must lie in [0, {self.size})")
        row_start = np.zeros(len(index), bool)
        row_start[ptr[:-1][np.diff(ptr) > 0]] = True
        if (np.diff(index) <= 0)[~row_start[1:]].any():
            raise ValidationError("stimulus: indices must increase strictly within each row (one entry per neuron)")
        if not np.isfinite(value).all():
            raise ValidationError("stimulus: values contain NaN or infinite values")
        if not self.analog and ((value < 0) | (value > 255) | (value != np.floor(value))).any():
            raise ValidationError("stimulus: spike counts must be whole numbers in [0, 255]")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @cached_property
    def frames(self) -> np.ndarray:
        """All rows as dense ``[steps, batch, *shape]`` float32 frames, for the dense reference.

        Built on first use and kept with the stimulus, so repeated dense runs reuse them; not to be
        modified.
        """
        out = np.zeros((self.steps * self.batch, self.size), np.float32)
        scatter_rows(self.ptr, self.index, self.value, out)
        return out.reshape((self.steps, self.batch) + self.shape)


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _from_dense(frames: np.ndarray, analog: bool, constant: bool = False) -> Stimulus:
    if frames.size == 0:
        raise ValidationError(f"{'currents' if analog else 'spikes'} need at least one step, sample and neuron, "
                              f"got shape {frames.shape[1:] if constant else frames.shape}")
    steps, batch = frames.shape[:2]
    flat = frames.reshape(steps * batch, -1)
    rows, index = np.nonzero(flat)
    ptr = np.zeros(steps * batch + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=steps * batch), out=ptr[1:])
    return Stimulus(steps, batch, tuple(frames.shape[2:]), ptr, index.astype(np.int64),
                    flat[rows, index].astype(np.float32), analog, constant)


def spikes(x) -> Stimulus:
    """Spike tensor ``[T, B, ...]``: 0/1 or whole spike counts per step (a count of 2 is two spikes)."""
    a = _to_numpy(x)
    if a.ndim < 3:
        raise ValidationError(f"spikes must have shape [T, B, ...], got {a.shape}")
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    if a.dtype.kind not in "fiu":
        raise ValidationError(f"spikes must be numeric, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValidationError("spikes contain NaN or infinite values")
    if (a < 0).any() or (a != np.floor(a)).any() or (a > 255).any():
        raise ValidationError("spikes must be whole counts in [0, 255]; use currents() for analog input")
    return _from_dense(a, analog=False)


def currents(x, per_step: bool = False) -> Stimulus:
    """Analog input current: ``[B, ...]`` applied at every step, or ``[T, B, ...]`` with ``per_step=True``."""
    a = _to_numpy(x).astype(np.float32)
    if not np.isfinite(a).all():
        raise ValidationError("currents contain NaN or infinite values")
    if per_step:
        if a.ndim < 3:
            raise ValidationError(f"per-step currents must have shape [T, B, ...], got {a.shape}")
        return _from_dense(a, analog=True)
    if a.ndim < 2:
        raise ValidationError(f"currents must have shape [B, ...], got {a.shape}")
    return _from_dense(a[None], analog=True, constant=True)


def poisson(rates, steps: int, seed: int | None = 0) -> Stimulus:
    """Bernoulli spikes with probability ``rates`` (in [0, 1], shape ``[B, ...]``) at each of ``steps`` steps."""
    r = _to_numpy(rates).astype(np.float64)
    if r.ndim < 2 or not np.isfinite(r).all() or (r < 0).any() or (r > 1).any():
        raise ValidationError("rates must be a [B, ...] array of probabilities in [0, 1]")
    steps = whole_number(steps, "steps", 1)
    rng = np.random.default_rng(seed)
    return _from_dense((rng.random((steps,) + r.shape) < r).astype(np.uint8), analog=False)
