"""Map a float network to the integer (fixed-point) mode of the runtime, in the manner of Loihi.

Each neuron population gets its own unit of membrane ``u``: the largest magnitude of its incoming
weights (each weight times the value of one unit of its presynaptic activity: 1 for a spike,
``1 / input_scale`` for the input) divided by ``2^(bits-1) - 1``, per population or per output
channel. Weights become ``round(w / u)``, integers of ``bits`` bits; threshold, bias, initial
and reset membrane become ``round(x / u)``; decays become ``round(4096 (1 - beta))`` and
``round(4096 (1 - alpha))``. AvgPool2d becomes SumPool2d, its factor folded into the weights.
The result runs in integer arithmetic (``spiking.neurons.FixedLIF``) on both backends; its input
must be whole numbers: one unit of input is ``1 / input_scale`` of the float network's input
(``input_scale=255`` takes raw 8-bit pixels where the float network took pixels / 255).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError
from ..network import Network
from ..network.ops import AvgPool2d, Conv2d, Linear, Sparse, SumPool2d
from ..neurons import DECAY_SHIFT, FixedLIF
from .quantize import levels
from .rebuild import rebuild


def _post_max(op, weights_abs: np.ndarray, n_post: int) -> np.ndarray:
    """The largest incoming weight magnitude of each postsynaptic neuron (C order)."""
    if isinstance(op, Sparse):
        m = np.zeros(n_post)
        np.maximum.at(m, op.post, weights_abs)
        return m
    if isinstance(op, Linear):
        return weights_abs.max(axis=1, initial=0.0)
    per_channel = weights_abs.reshape(len(weights_abs), -1).max(axis=1, initial=0.0)
    return np.repeat(per_channel, n_post // len(per_channel))


def _effective(proj, activity_unit: float) -> np.ndarray:
    """The projection's weights (values for Sparse) times an AvgPool2d factor and the presynaptic unit."""
    op = proj.weighted
    if op is None:
        raise ConversionError(f"projection '{proj.name}' has no weights to carry a scale into integers; "
                              "give it a Linear, Sparse or Conv2d op")
    factor = next((p.scale for p in proj.ops if isinstance(p, AvgPool2d)), 1.0)
    w = op.values if isinstance(op, Sparse) else op.weight
    return np.asarray(w, np.float64) * factor * activity_unit


def _units(net: Network, pop, incoming: list, effective: dict, bits: int, per_channel: bool) -> np.ndarray:
    """The membrane unit of each neuron of ``pop`` (C order)."""
    m = np.zeros(pop.size)
    for proj in incoming:
        m = np.maximum(m, _post_max(proj.weighted, np.abs(effective[proj.name]), pop.size))
    infinite = np.isinf(np.asarray(pop.neuron.v_threshold)).any()
    if not per_channel or infinite:  # a readout's membranes are compared with each other: one unit
        m = np.full(pop.size, m.max(initial=0.0))
    elif len(pop.shape) == 3:  # convolution weights share one scale per channel
        m = np.repeat(m.reshape(pop.shape[0], -1).max(axis=1), pop.size // pop.shape[0])
    m = np.where(m > 0, m, m.max(initial=0.0))
    return np.where(m > 0, m, 1.0) / levels(bits)


def _integer_op(op, w_eff: np.ndarray, unit: np.ndarray, bits: int):
    q = levels(bits)
    if isinstance(op, Sparse):
        return Sparse(op.n_post, op.pre_ptr, op.post, np.clip(np.round(w_eff / unit[op.post]), -q, q))
    if isinstance(op, Linear):
        return Linear(np.clip(np.round(w_eff / unit[:, None]), -q, q))
    per_out = unit.reshape(op.weight.shape[0], -1)[:, 0]
    return Conv2d(np.clip(np.round(w_eff / per_out[:, None, None, None]), -q, q), op.stride, op.padding, op.groups)


def _fixed_neuron(neuron, unit: np.ndarray, shape: tuple, where: str) -> FixedLIF:
    """``neuron`` with its membrane quantities in units ``unit`` (one per neuron, C order)."""
    p = {key: np.broadcast_to(np.asarray(value, np.float64).reshape(-1), unit.shape)
         for key, value in neuron.params().items()}
    if (p["v_leak"] != 0).any() or (p["refractory"] != 0).any():
        raise ConversionError(f"{where}: fixed point supports neither v_leak nor refractory periods")
    whole = {key: np.round(p[key] / unit) for key in ("v_threshold", "v_reset", "bias", "v_init")}
    if (whole["v_threshold"] < 1).any():
        raise ConversionError(f"{where}: a threshold rounds below 1 membrane unit; use more bits")
    whole["decay_v"] = np.round((1 << DECAY_SHIFT) * (1 - p["beta"]))
    whole["decay_u"] = np.round((1 << DECAY_SHIFT) * (1 - p["alpha"]))
    # one value where the population shares it, else one per neuron
    compact = {key: arr[0] if (arr == arr[0]).all() else arr.reshape(shape) for key, arr in whole.items()}
    return FixedLIF(reset=neuron.reset, **compact)


def fixed_point(net: Network, bits: int = 8, *, per_channel: bool = False, input_scale: float = 1.0) -> Network:
    """The integer twin of ``net`` (IF, LIF or CubaLIF neurons without leak potential or refractory
    period): ``bits``-bit integer weights with one scale per population (or per output channel),
    integer threshold, bias and membrane, and 12-bit decays (see the module docstring). Feed it
    ``round(x * input_scale)`` where ``net`` took ``x``."""
    levels(bits)
    if not 0 < input_scale < np.inf:
        raise ConversionError(f"input_scale must be finite and > 0, got {input_scale}")
    net.validate()
    units_of_activity = {pop.name: (1.0 / input_scale if pop.is_input else 1.0) for pop in net.order}
    for proj in net.projections.values():
        if proj.receptor != "exc":
            raise ConversionError(f"projection '{proj.name}': fixed point has no second synaptic current")
    for pop in net.order:
        if isinstance(pop.neuron, FixedLIF):
            raise ConversionError(f"population '{pop.name}' is already FixedLIF")
    effective = {p.name: _effective(p, units_of_activity[p.pre]) for p in net.projections.values()}
    units = {pop.name: _units(net, pop, [p for p in net.projections.values() if p.post == pop.name], effective,
                              bits, per_channel)
             for pop in net.order if not pop.is_input}

    def ops(proj):
        out = []
        for op in proj.ops:
            if isinstance(op, AvgPool2d):
                out.append(SumPool2d(op.kernel_size, op.stride, op.padding))
            elif op is proj.weighted:
                out.append(_integer_op(op, effective[proj.name], units[proj.post], bits))
            else:
                out.append(op)
        return tuple(out)

    return rebuild(net, neuron=lambda pop: _fixed_neuron(pop.neuron, units[pop.name], pop.shape,
                                                         f"population '{pop.name}'"), ops=ops)
