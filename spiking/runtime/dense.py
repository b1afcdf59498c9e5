"""The dense reference backend: time-stepped torch on the network as written, op by op.

It shares no code with the event-driven path beyond the network description: projections run as
torch pooling, reshape, matmul and convolution; counts come from applying the same ops to masks
(non-zero weights, non-zero inputs), so the two backends check each other.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..counts import Counts
from ..network import Network
from ..network.ops import AvgPool2d, Conv2d, Flatten, Linear, Sparse, SumPool2d
from ..neurons import IF
from .result import RunResult
from .stimulus import Stimulus


def _apply(op, x: torch.Tensor, weight: torch.Tensor | None = None, as_sum: bool = False) -> torch.Tensor:
    """One op on a batch ``x``; ``weight`` overrides the op's weights, ``as_sum`` turns pools into sums."""
    if isinstance(op, Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(op, (Linear, Sparse)):
        return x @ weight.T
    if isinstance(op, Conv2d):
        return F.conv2d(x, weight, stride=op.stride, padding=op.padding, groups=op.groups)
    if isinstance(op, AvgPool2d) and not as_sum:
        return F.avg_pool2d(x, op.kernel_size, op.stride, op.padding)
    if isinstance(op, SumPool2d):
        return F.avg_pool2d(x, op.kernel_size, op.stride, op.padding, divisor_override=1)
    raise TypeError(type(op).__name__)


def _weights(op) -> torch.Tensor | None:
    if isinstance(op, Linear) or isinstance(op, Conv2d):
        return torch.from_numpy(op.weight)
    if isinstance(op, Sparse):
        return torch.from_numpy(op.to_dense())
    return None


class _Projection:
    """A projection's ops with torch weights, the non-zero synapses each input reaches, and its dense MACs."""

    def __init__(self, proj, pre_shape: tuple, lag: int, index: int):
        self.proj, self.lag, self.index = proj, lag, index
        self.weights = [_weights(op) for op in proj.ops]
        # The masked ops are linear, so the gradient of their output sum is, per input, the count of
        # non-zero synapses it reaches (small integers: exact in float32).
        x = torch.zeros((1,) + pre_shape, requires_grad=True)
        reach = x
        for op, w in zip(proj.ops, self.weights):
            reach = _apply(op, reach, None if w is None else (w != 0).to(torch.float32), as_sum=True)
        reach.sum().backward()
        self.fanout = x.grad.reshape(-1).to(torch.float64)
        # NeuroBench Dense: the weighted op (or the pool, or the identity) on all-one input and weights.
        ones = torch.ones((1,) + pre_shape)
        dense = ones.sum()
        for op, w in zip(proj.ops, self.weights):
            ones_w = None if w is None else torch.ones_like(w)
            if w is not None or isinstance(op, SumPool2d):
                dense = _apply(op, torch.ones_like(ones), ones_w, as_sum=True).sum()
            ones = _apply(op, ones, ones_w, as_sum=True)
        self.dense_macs = int(dense)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op, w in zip(self.proj.ops, self.weights):
            x = _apply(op, x, w)
        return x.reshape(x.shape[0], -1)

    def reach(self, x: torch.Tensor) -> int:
        """Sum over inputs of value times non-zero synapses reached."""
        return int(x.reshape(-1, len(self.fanout)).sum(0).to(torch.float64) @ self.fanout)


def _param(neuron: IF, key: str, size: int) -> torch.Tensor:
    value = np.asarray(neuron.params()[key], np.float64).reshape(-1)
    return torch.from_numpy(np.broadcast_to(value, (size,)).astype(np.float32).copy())


def run_dense(net: Network, stim: Stimulus | None, steps: int, batch: int, record: tuple,
              record_membrane: bool) -> RunResult:
    """Run ``net`` time-stepped in torch float32 with the equations of ``spiking.neurons``."""
    order = net.order
    projs = list(net.projections.values())
    rank = {pop.name: k for k, pop in enumerate(order)}
    # A feed-forward pre has already run this step; a recurrent one last ran a step earlier.
    compiled = [_Projection(p, net.populations[p.pre].shape, p.delay - (0 if rank[p.pre] < rank[p.post] else 1), q)
                for q, p in enumerate(projs)]
    incoming = {pop.name: [c for c in compiled if c.proj.post == pop.name] for pop in order}
    analog_input = stim is not None and stim.analog
    depth = max([p.delay for p in projs], default=0) + 1
    history = {pop.name: [] for pop in order}
    state = {}
    for pop in order:
        if pop.is_input:
            continue
        params = {k: _param(pop.neuron, k, pop.size) for k in
                  ("v_threshold", "beta", "v_leak", "alpha", "v_reset", "bias", "v_init")}
        params["refractory"] = torch.from_numpy(
            np.broadcast_to(np.asarray(pop.neuron.refractory).reshape(-1), (pop.size,)).astype(np.int64).copy())
        state[pop.name] = dict(
            p=params, plain=bool((params["beta"] == 1).all() and (params["v_leak"] == 0).all()),
            refractory=bool((params["refractory"] > 0).any()), v=params["v_init"].expand(batch, -1).clone(), syn=torch.zeros(batch, pop.size),
            left=torch.zeros(batch, pop.size, dtype=torch.int64), fired=torch.zeros(batch, pop.size, dtype=torch.bool))
    names = tuple(p.name for p in order)
    events = np.zeros((steps, len(projs)), np.int64)
    macs = np.zeros_like(events)
    spikes = np.zeros((steps, len(order)), np.int64)
    mem_updates = np.zeros_like(spikes)
    recorded = {name: np.zeros((steps, batch) + net.populations[name].shape, np.uint8) for name in record}
    out = net.output_name
    out_pop = net.populations[out]
    out_spikes = torch.zeros(batch, out_pop.size, dtype=torch.int64)
    trace = np.zeros((steps, batch) + out_pop.shape, np.float32) if record_membrane else None

    for t in range(steps):
        for k, pop in enumerate(order):
            if pop.is_input:
                x = torch.from_numpy(stim.dense_step(t)) if stim is not None else torch.zeros((batch,) + pop.shape)
                if not analog_input:
                    spikes[t, k] = int(x.to(torch.int64).sum())
            else:
                cur = None
                for proj in incoming[pop.name]:
                    past = history[proj.proj.pre]
                    if len(past) <= proj.lag:
                        continue
                    src = past[-1 - proj.lag]
                    delivered = proj(src)
                    cur = delivered if cur is None else cur + delivered
                    if analog_input and net.populations[proj.proj.pre].is_input:
                        macs[t, proj.index] += proj.reach((src != 0).to(torch.float32))
                    else:
                        events[t, proj.index] += proj.reach(src)
                if cur is None:
                    cur = torch.zeros(batch, pop.size)
                s, changed = _step(pop.neuron, state[pop.name], cur, t == 0)
                spikes[t, k] = int(s.sum())
                mem_updates[t, k] = changed
                x = s.to(torch.float32).reshape((batch,) + pop.shape)
                if pop.name == out:
                    out_spikes += s.to(torch.int64)
                    if trace is not None:
                        trace[t] = state[pop.name]["v"].numpy().reshape((batch,) + pop.shape)
            history[pop.name].append(x)
            del history[pop.name][:-depth]
            if pop.name in recorded:
                recorded[pop.name][t] = x.numpy().astype(np.uint8)
    sizes = np.array([0 if p.is_input else p.size for p in order], np.int64)
    counts = Counts(
        projections=tuple(p.name for p in projs), populations=names, batch=batch,
        synaptic_events=events, effective_macs=macs,
        dense_macs=np.tile(np.array([c.dense_macs for c in compiled], np.int64) * batch, (steps, 1)),
        spikes=spikes, neuron_updates=np.tile(sizes * batch, (steps, 1)), membrane_updates=mem_updates)
    membrane = state[out]["v"].numpy().reshape((batch,) + out_pop.shape).copy()
    return RunResult(out, out_spikes.numpy().reshape((batch,) + out_pop.shape), membrane, trace, recorded, counts)


def _step(neuron: IF, st: dict, cur: torch.Tensor, first: bool):
    """One update of a population's state (``spiking.neurons``); returns (spikes, membranes changed)."""
    p = st["p"]
    drive = cur + p["bias"]
    if neuron.has_synapse:
        st["syn"] = p["alpha"] * st["syn"] + drive
        drive = st["syn"]
    v0, r = st["v"], st["fired"]
    thr = p["v_threshold"]
    base = torch.where(r, p["v_reset"], v0) if neuron.reset == "hard" else v0
    if st["plain"]:
        v1 = base + drive  # leak + beta * (base - leak) is exactly base when beta == 1 and leak == 0
    else:
        v1 = p["v_leak"] + p["beta"] * (base - p["v_leak"]) + drive
    if neuron.reset == "subtract":
        v1 = torch.where(r, v1 - thr, v1)
    if st["refractory"]:
        held = {"hard": torch.where(r, p["v_reset"], v0), "subtract": torch.where(r, v0 - thr, v0), "none": v0}
        blocked = st["left"] > 0
        v1 = torch.where(blocked, held[neuron.reset], v1)
        s = ~blocked & (v1 > thr)
        st["left"] = torch.where(blocked, st["left"] - 1, torch.where(s, p["refractory"], 0))
    else:
        s = v1 > thr
    st["fired"] = s
    st["v"] = v1
    changed = v0.numel() if first else int((v1 != v0).sum())
    return s, changed
