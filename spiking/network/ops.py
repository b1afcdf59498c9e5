"""Projection operations: the linear maps a projection applies to presynaptic activity.

Shapes exclude the batch: a convolutional population has shape ``(C, H, W)``, a dense one ``(N,)``.
Weights are stored as float32, as the runtime computes in float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import whole_number
from ..errors import ValidationError
from ..value import ByValue


def _pair(v, name: str, low: int) -> tuple[int, int]:
    t = (v, v) if np.isscalar(v) else tuple(v)
    if len(t) != 2:
        raise ValidationError(f"{name} must be an int or a pair of ints, got {v!r}")
    return whole_number(t[0], name, low), whole_number(t[1], name, low)


def _weight(w, ndim: int, op: str) -> np.ndarray:
    """``w`` as a private read-only float32 copy, checked: the caller's array may change later."""
    arr = np.array(w, dtype=np.float32, order="C")
    if arr.ndim != ndim or arr.size == 0:
        raise ValidationError(f"{op}: weight must have {ndim} non-empty dimensions, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValidationError(f"{op}: weight contains NaN or infinite values")
    arr.flags.writeable = False
    return arr


def _indices(values, name: str) -> np.ndarray:
    """``values`` as a private read-only 1-D int64 copy, refusing anything but whole numbers."""
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"
                         and not (arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all())):
        raise ValidationError(f"Sparse: {name} must be a 1-D array of whole numbers, got {arr.dtype} {arr.shape}")
    arr = np.array(arr, np.int64)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Linear(ByValue):
    """Dense all-to-all weights, ``weight[post, pre]`` as in ``torch.nn.Linear``."""

    weight: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "weight", _weight(self.weight, 2, "Linear"))

    def output_shape(self, shape: tuple) -> tuple:
        if shape != (self.weight.shape[1],):
            raise ValidationError(f"Linear expects input shape ({self.weight.shape[1]},), got {shape}")
        return (self.weight.shape[0],)


@dataclass(frozen=True, eq=False)
class Sparse(ByValue):
    """Sparse weights stored by presynaptic neuron (CSR of ``weight.T``): only non-zero synapses.

    The synapses of presynaptic neuron ``j`` are ``post[pre_ptr[j]:pre_ptr[j+1]]`` with ``values``.
    """

    n_post: int
    pre_ptr: np.ndarray
    post: np.ndarray
    values: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "n_post", whole_number(self.n_post, "Sparse: n_post", 1))
        ptr, post = _indices(self.pre_ptr, "pre_ptr"), _indices(self.post, "post")
        vals = np.array(self.values, dtype=np.float32)
        vals.flags.writeable = False
        if len(ptr) < 1 or ptr[0] != 0 or (np.diff(ptr) < 0).any() or ptr[-1] != len(post):
            raise ValidationError("Sparse: pre_ptr must start at 0, never decrease and end at len(post)")
        if post.shape != vals.shape:
            raise ValidationError(f"Sparse: post {post.shape} and values {vals.shape} differ in shape")
        if len(post) and (post.min() < 0 or post.max() >= self.n_post):
            raise ValidationError(f"Sparse: post indices must lie in [0, {self.n_post})")
        if not np.isfinite(vals).all():
            raise ValidationError("Sparse: values contain NaN or infinite values")
        object.__setattr__(self, "pre_ptr", ptr)
        object.__setattr__(self, "post", post)
        object.__setattr__(self, "values", vals)

    @classmethod
    def from_dense(cls, weight) -> "Sparse":
        """Keep the non-zero entries of ``weight[post, pre]``."""
        w = _weight(weight, 2, "Sparse")
        pre, post = np.nonzero(w.T)
        ptr = np.zeros(w.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=w.shape[1]), out=ptr[1:])
        return cls(w.shape[0], ptr, post, w.T[pre, post])

    @property
    def n_pre(self) -> int:
        return len(self.pre_ptr) - 1

    def to_dense(self) -> np.ndarray:
        """The weight matrix ``[post, pre]``; duplicate synapses add up."""
        w = np.zeros((self.n_post, self.n_pre), dtype=np.float64)
        pre = np.repeat(np.arange(self.n_pre), np.diff(self.pre_ptr))
        np.add.at(w, (self.post, pre), self.values)
        return w.astype(np.float32)

    def output_shape(self, shape: tuple) -> tuple:
        if shape != (self.n_pre,):
            raise ValidationError(f"Sparse expects input shape ({self.n_pre},), got {shape}")
        return (self.n_post,)


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True, eq=False)
class Conv2d(ByValue):
    """2-D convolution as ``torch.nn.Conv2d`` (no bias, no dilation): ``weight[C_out, C_in/groups, kh, kw]``."""

    weight: np.ndarray
    stride: int | tuple = 1
    padding: int | tuple = 0
    groups: int = 1

    def __post_init__(self):
        object.__setattr__(self, "weight", _weight(self.weight, 4, "Conv2d"))
        object.__setattr__(self, "stride", _pair(self.stride, "Conv2d stride", 1))
        object.__setattr__(self, "padding", _pair(self.padding, "Conv2d padding", 0))
        object.__setattr__(self, "groups", whole_number(self.groups, "Conv2d groups", 1))
        if self.weight.shape[0] % self.groups:
            raise ValidationError(f"Conv2d: {self.weight.shape[0]} output channels do not divide into {self.groups} groups")

    def output_shape(self, shape: tuple) -> tuple:
        c_out, c_in_g, kh, kw = self.weight.shape
        if len(shape) != 3 or shape[0] != c_in_g * self.groups:
            raise ValidationError(f"Conv2d expects input shape ({c_in_g * self.groups}, H, W), got {shape}")
        h = _conv_out(shape[1], kh, self.stride[0], self.padding[0])
        w = _conv_out(shape[2], kw, self.stride[1], self.padding[1])
        if h < 1 or w < 1:
            raise ValidationError(f"Conv2d: kernel {(kh, kw)} does not fit input {shape[1:]} with padding {self.padding}")
        return (c_out, h, w)


@dataclass(frozen=True, eq=False)
class SumPool2d(ByValue):
    """Window sum per channel, as NIR's SumPool2d; zero padding; stride defaults to the kernel size."""

    kernel_size: int | tuple
    stride: int | tuple | None = None
    padding: int | tuple = 0

    def __post_init__(self):
        name = type(self).__name__
        k = _pair(self.kernel_size, f"{name} kernel_size", 1)
        object.__setattr__(self, "kernel_size", k)
        object.__setattr__(self, "stride", _pair(k if self.stride is None else self.stride, f"{name} stride", 1))
        object.__setattr__(self, "padding", _pair(self.padding, f"{name} padding", 0))
        if self.padding[0] * 2 > k[0] or self.padding[1] * 2 > k[1]:
            raise ValidationError(f"{name}: padding {self.padding} must be at most half the kernel {k}")

    @property
    def scale(self) -> float:
        """The factor applied to the window sum."""
        return 1.0

    def output_shape(self, shape: tuple) -> tuple:
        if len(shape) != 3:
            raise ValidationError(f"{type(self).__name__} expects input shape (C, H, W), got {shape}")
        h = _conv_out(shape[1], self.kernel_size[0], self.stride[0], self.padding[0])
        w = _conv_out(shape[2], self.kernel_size[1], self.stride[1], self.padding[1])
        if h < 1 or w < 1:
            raise ValidationError(f"{type(self).__name__}: kernel {self.kernel_size} does not fit input {shape[1:]}")
        return (shape[0], h, w)


@dataclass(frozen=True, eq=False)
class AvgPool2d(SumPool2d):
    """Window mean per channel, as ``torch.nn.AvgPool2d`` (padding counted in the mean)."""

    @property
    def scale(self) -> float:
        return 1.0 / (self.kernel_size[0] * self.kernel_size[1])


@dataclass(frozen=True, eq=False)
class MaxPool2d(SumPool2d):
    """Max pooling of spike counts: a window emits a spike whenever the largest running spike count
    among its neurons grows, so its rate is the largest rate in the window (count-gated max pooling).

    It gates a population's own spikes, so it comes first in a projection, tiles its input (stride
    equal to the kernel, no padding) and takes spikes, not analog input.
    """

    def __post_init__(self):
        super().__post_init__()
        if self.stride != self.kernel_size or self.padding != (0, 0):
            raise ValidationError(f"MaxPool2d must tile its input (stride == kernel, no padding), got kernel "
                                  f"{self.kernel_size}, stride {self.stride}, padding {self.padding}")


@dataclass(frozen=True, eq=False)
class Flatten(ByValue):
    """Reshape to one dimension in C order; neurons keep their index."""

    def output_shape(self, shape: tuple) -> tuple:
        return (int(np.prod(shape)),)


OPS = {cls.__name__: cls for cls in (Linear, Sparse, Conv2d, SumPool2d, AvgPool2d, MaxPool2d, Flatten)}
WEIGHTED = (Linear, Sparse, Conv2d)
POOLS = (SumPool2d, AvgPool2d, MaxPool2d)
