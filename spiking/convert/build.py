"""Assemble the spiking network from traced layers and their scales.

Each layer becomes IF neurons (threshold 1, reset by subtraction) whose firing rate stands for the
ANN activation divided by the layer's scale ``lam``: weights are multiplied by the scale of their
source and divided by the scale of their target, biases become constant currents ``b / lam``. A term
without weights (a residual shortcut) becomes a one-to-one projection (a depthwise 1x1 convolution,
or sparse) carrying the ratio of the two scales. The readout integrates its input without spiking (membrane) or fires with its own
scale (spike counts).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConversionError, ValidationError
from ..network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, Sparse
from ..neurons import IF
from .trace import INPUT, Flat, Pool, Term, Traced, Weighted

READOUTS = ("membrane", "spikes")


def scale_map(lam, shape: tuple) -> torch.Tensor:
    """A scalar or per-channel scale spread over a layer's per-sample shape."""
    lam = torch.as_tensor(np.asarray(lam, np.float64))
    if lam.dim() == 0:
        return torch.full(shape, float(lam), dtype=torch.float64)
    return lam.reshape((-1,) + (1,) * (len(shape) - 1)).expand(shape).clone()


def _through(op, m: torch.Tensor) -> torch.Tensor:
    """A source scale map after pooling or flattening (scales are constant per channel)."""
    if isinstance(op, Pool):
        return F.max_pool2d(m[None], op.kernel, op.stride, op.padding)[0]
    return m.reshape(-1)


def _per_channel(m: torch.Tensor, where: str) -> torch.Tensor:
    flat = m.reshape(m.shape[0], -1)
    if not torch.equal(flat.min(dim=1).values, flat.max(dim=1).values):
        raise ConversionError(f"{where}: per-channel scales must be constant over each channel of the weights' "
                              "output; use per-layer normalization for this model")
    return flat[:, 0]


def _spiking_ops(term: Term, source: torch.Tensor, target: torch.Tensor, where: str) -> list:
    """The term's chain as runtime ops with scaled weights."""
    ops, m = [], source
    k = next((i for i, op in enumerate(term.chain) if isinstance(op, Weighted)), len(term.chain))
    for op in term.chain[:k]:
        ops.append(_pool_op(op) if isinstance(op, Pool) else Flatten())
        m = _through(op, m)
    if k == len(term.chain):
        ratio = m / target
        if ratio.dim() == 3:  # one-to-one within each channel: a depthwise 1x1 convolution
            ops.append(Conv2d(_per_channel(ratio, where).reshape(-1, 1, 1, 1).numpy(), groups=ratio.shape[0]))
        else:
            n = ratio.numel()
            ops.append(Sparse(n, np.arange(n + 1), np.arange(n), ratio.reshape(-1).numpy()))
        return ops
    w = term.chain[k]
    post = term.chain[k + 1:]
    before_flatten = torch.zeros(m.shape, dtype=torch.float64)
    for op in (w,) + post:
        if not isinstance(op, Flat):
            before_flatten = op.apply(before_flatten)
    out = _per_channel(target.reshape(before_flatten.shape), where)
    if w.conv is None:
        weight = w.weight * m.reshape(1, -1) / out.reshape(-1, 1)
        ops.append(Linear(weight.numpy()))
    else:
        stride, padding, groups = w.conv
        c_in = _per_channel(m, where)
        c_in_g = w.weight.shape[1]
        per_group = w.weight.shape[0] // groups
        in_index = (torch.arange(w.weight.shape[0]) // per_group)[:, None] * c_in_g + torch.arange(c_in_g)[None, :]
        weight = w.weight * (c_in[in_index] / out[:, None])[:, :, None, None]
        ops.append(Conv2d(weight.numpy(), stride, padding, groups))
    for op in post:
        ops.append(_pool_op(op) if isinstance(op, Pool) else Flatten())
    return ops


def _pool_op(pool: Pool):
    cls = MaxPool2d if pool.kind == "max" else AvgPool2d
    return cls(pool.kernel, pool.stride, pool.padding)


def build_network(traced: Traced, scales: dict, readout: str, readout_scale, half_threshold: bool) -> Network:
    """The network of ``traced`` with layer scales ``scales`` (name -> scalar or per-channel)."""
    if readout not in READOUTS:
        raise ConversionError(f"readout must be one of {READOUTS}, got {readout!r}")
    net = Network()
    net.input(INPUT, traced.input_shape)
    maps = {INPUT: torch.ones(traced.input_shape, dtype=torch.float64)}
    targets = [(layer.name, layer.shape, layer.input, scales[layer.name]) for layer in traced.layers]
    targets.append(("output", traced.readout.shape, traced.readout, 1.0 if readout == "membrane" else readout_scale))
    for name, shape, value, lam in targets:
        maps[name] = target = scale_map(lam, shape)
        bias = (value.bias / target).float().numpy() if value.bias is not None else 0.0
        spiking = name != "output" or readout == "spikes"
        v_init = 0.5 if spiking and half_threshold else 0.0
        neuron = IF(v_threshold=1.0 if spiking else np.inf, reset="subtract" if spiking else "none", bias=bias,
                    v_init=v_init)
        net.population(name, neuron, shape)
        for term in value.terms:
            ops = _spiking_ops(term, maps[term.source], target, f"layer '{name}'")
            try:
                net.connect(term.source, name, ops)
            except ValidationError as e:
                raise ConversionError(f"layer '{name}': the connection from '{term.source}' cannot run: {e}") from e
    return net
