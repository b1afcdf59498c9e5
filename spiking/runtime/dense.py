"""The dense reference backend: time-stepped torch on the network as written, op by op.

It shares no code with the event-driven path beyond the network description: projections run as
torch pooling, reshape, matmul and convolution; counts come from applying the same ops to masks
(non-zero weights, non-zero inputs), so the two backends check each other.

A network of ``FixedLIF`` neurons runs in integers: projections compute in float64, where every
sum of whole numbers below 2^53 is exact whatever its order, and neurons update in int64.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..counts import Counts
from ..network import Network
from ..network.ops import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Sparse, SumPool2d
from ..neurons import IF
from .compile import check_fixed_stimulus, fixed_arithmetic
from .result import RunResult
from .stimulus import Stimulus


def _apply(op, x: torch.Tensor, weight: torch.Tensor | None = None, as_sum: bool = False) -> torch.Tensor:
    """One op on a batch ``x``; ``weight`` overrides the op's weights, ``as_sum`` turns pools into sums."""
    if isinstance(op, Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(op, (Linear, Sparse)):
        return F.linear(x, weight)
    if isinstance(op, Conv2d):
        return F.conv2d(x, weight, stride=op.stride, padding=op.padding, groups=op.groups)
    if isinstance(op, AvgPool2d) and not as_sum:
        return F.avg_pool2d(x, op.kernel_size, op.stride, op.padding)
    if isinstance(op, SumPool2d):
        return F.avg_pool2d(x, op.kernel_size, op.stride, op.padding, divisor_override=1)
    raise TypeError(type(op).__name__)


def _weights(op) -> torch.Tensor | None:
    if isinstance(op, (Linear, Conv2d)):
        return torch.tensor(op.weight)                  # a copy: the op keeps its weights read-only
    if isinstance(op, Sparse):
        return torch.from_numpy(op.to_dense())
    return None


class _Projection:
    """A projection's ops with torch weights, the non-zero synapses each input reaches, and its dense MACs.

    A leading MaxPool2d is a gate with state: the window maximum of the running spike counts, whose
    growth each step is the pooled spikes. Fan-out and dense MACs then start from the pooled neurons.
    """

    def __init__(self, proj, pre_shape: tuple, lag: int, index: int, fixed: bool = False):
        self.proj, self.lag, self.index, self.fixed = proj, lag, index, fixed
        self.gate = proj.ops[0] if isinstance(proj.pool, MaxPool2d) else None
        self.ops = proj.ops[1:] if self.gate else proj.ops
        if self.gate:
            pre_shape = self.gate.output_shape(pre_shape)
        self.weights = [_weights(op) for op in self.ops]
        # The masked ops are linear, so the gradient of their output sum is, per input, the count of
        # non-zero synapses it reaches (small integers: exact in float32).
        x = torch.zeros((1,) + pre_shape, requires_grad=True)
        reach = x
        for op, w in zip(self.ops, self.weights):
            reach = _apply(op, reach, None if w is None else (w != 0).to(torch.float32), as_sum=True)
        reach.sum().backward()
        self.fanout = x.grad.reshape(-1).to(torch.float64)
        # NeuroBench Dense: the weighted op (or the pool, or the identity) on all-one input and weights.
        ones = torch.ones((1,) + pre_shape)
        dense = ones.sum()
        for op, w in zip(self.ops, self.weights):
            ones_w = None if w is None else torch.ones_like(w)
            if w is not None or isinstance(op, SumPool2d):
                dense = _apply(op, torch.ones_like(ones), ones_w, as_sum=True).sum()
            ones = _apply(op, ones, ones_w, as_sum=True)
        self.dense_macs = int(dense)

    def __call__(self, x: torch.Tensor, gate: dict) -> torch.Tensor:
        """The projection of ``x``; ``gate`` holds this run's max-pool state and the pooled spikes per step."""
        if self.gate:
            gate["total"] = gate["total"] + x if "total" in gate else x.clone()
            best = F.max_pool2d(gate["total"], self.gate.kernel_size, self.gate.stride)
            x = best - gate.get("best", 0)
            gate["best"] = best
            gate.setdefault("rows", []).append(x.reshape(x.shape[0], -1).sum(0))
        if self.fixed:
            x = x.to(torch.float64)
        for op, w in zip(self.ops, self.weights):
            x = _apply(op, x, None if w is None else w.to(x.dtype))
        x = x.reshape(x.shape[0], -1)
        return x.to(torch.int64) if self.fixed else x


def _param(neuron: IF, key: str, size: int, dtype=np.float32) -> torch.Tensor:
    """One value per neuron of the parameter ``key``, whether it was given as a scalar or an array."""
    value = np.asarray(neuron.params()[key], np.float64).reshape(-1)
    return torch.from_numpy(np.broadcast_to(value, (size,)).astype(dtype))


class _Population:
    """A neuron population's parameters as tensors, and which terms of the update it needs."""

    def __init__(self, pop, incoming: list, fixed: bool = False):
        self.pop, self.incoming, self.fixed = pop, incoming, fixed
        n = pop.size
        if fixed:
            self.p = {k: torch.from_numpy(np.broadcast_to(v.reshape(-1), (n,)).copy())
                      for k, v in pop.neuron.integers().items()}
            self.inh = False  # fixed_arithmetic allows no second current
            return
        self.p = {k: _param(pop.neuron, k, n) for k in ("v_threshold", "beta", "v_leak", "alpha", "alpha_inh",
                                                         "v_reset", "bias", "v_init")}
        self.p["refractory"] = _param(pop.neuron, "refractory", n, np.int64)
        # Terms that are exactly neutral (x + 0, 0 + 1 * (v - 0)) are skipped: the result is bit-identical.
        self.plain = bool((self.p["beta"] == 1).all() and (self.p["v_leak"] == 0).all())
        self.biased = bool((self.p["bias"] != 0).any())
        self.refractory = bool((self.p["refractory"] > 0).any())
        self.infinite = bool(torch.isinf(self.p["v_threshold"]).any())
        self.inh = any(c.proj.receptor == "inh" for c in incoming)


class DenseReference:
    """A network prepared for the dense reference: torch weights, fan-out tables, parameter tensors.

    Build once with ``DenseReference(net)`` and pass as ``run(..., backend="dense", plan=...)`` to
    run it many times, as ``compile_network`` does for the event backend.
    """

    def __init__(self, net: Network):
        net.validate()
        self.net, self.layout = net, net.layout
        self.fixed = fixed_arithmetic(net)
        self.order = net.order
        rank = {pop.name: k for k, pop in enumerate(self.order)}
        # A feed-forward pre has already run this step; a recurrent one last ran a step earlier.
        self.projections = [_Projection(p, net.populations[p.pre].shape,
                                        p.delay - (0 if rank[p.pre] < rank[p.post] else 1), q, self.fixed)
                            for q, p in enumerate(net.projections.values())]
        self.populations = {pop.name: _Population(pop, [c for c in self.projections if c.proj.post == pop.name],
                                                  self.fixed)
                            for pop in self.order if not pop.is_input}
        self.depth = max([p.delay for p in net.projections.values()], default=0) + 1


@torch.inference_mode()
def run_dense(ref: DenseReference, stim: Stimulus | None, steps: int, batch: int, record: tuple,
              record_membrane: bool) -> RunResult:
    """Run the network time-stepped in torch float32 with the equations of ``spiking.neurons``."""
    net, order = ref.net, ref.order
    if ref.fixed:
        check_fixed_stimulus(stim)
    acc = torch.int64 if ref.fixed else torch.float32
    analog_input = stim is not None and stim.analog
    history = {pop.name: [] for pop in order}
    state = {name: dict(v=pop.p["v_init"].expand(batch, -1).clone(), syn=torch.zeros(batch, pop.pop.size, dtype=acc),
                        syn_inh=torch.zeros(batch, pop.pop.size),
                        left=torch.zeros(batch, pop.pop.size, dtype=torch.int64),
                        fired=torch.zeros(batch, pop.pop.size, dtype=torch.bool), spikes=torch.zeros(batch, pop.pop.size))
             for name, pop in ref.populations.items()}
    n_proj = len(ref.projections)
    gates = [{} for _ in range(n_proj)]
    # Per population and step: each neuron's activity summed over the batch (non-zero inputs for analog
    # input). Counts come from these after the run: spikes are their sums, synaptic events their
    # products with each outgoing projection's fan-out.
    activity = {pop.name: [] for pop in order}
    changed = [[0] * len(order) for _ in range(steps)]
    recorded = {name: np.zeros((steps, batch) + net.populations[name].shape, np.uint8) for name in record}
    out = net.output_name
    out_pop = net.populations[out]
    out_spikes = torch.zeros(batch, out_pop.size, dtype=torch.int64)
    trace = np.zeros((steps, batch) + out_pop.shape, np.int64 if ref.fixed else np.float32) if record_membrane else None

    frames = torch.from_numpy(stim.frames) if stim is not None else None
    for t in range(steps):
        for k, pop in enumerate(order):
            if pop.is_input:
                x = frames[0 if stim.constant else t] if stim is not None else torch.zeros((batch,) + pop.shape)
                active = (x != 0).to(torch.float32) if analog_input else x
            else:
                neurons = ref.populations[pop.name]
                cur = {"exc": None, "inh": None}
                for proj in neurons.incoming:
                    past = history[proj.proj.pre]
                    if len(past) > proj.lag:
                        delivered = proj(past[-1 - proj.lag], gates[proj.index])
                        into = proj.proj.receptor
                        cur[into] = delivered if cur[into] is None else cur[into] + delivered
                if cur["exc"] is None:
                    cur["exc"] = torch.zeros(batch, pop.size, dtype=acc)
                if neurons.inh and cur["inh"] is None:
                    cur["inh"] = torch.zeros(batch, pop.size)
                s, changed[t][k] = _step(neurons, state[pop.name], cur["exc"], cur["inh"], t == 0)
                x = active = state[pop.name]["spikes"].reshape((batch,) + pop.shape)
                if pop.name == out:
                    out_spikes += s
                    if trace is not None:
                        trace[t] = state[pop.name]["v"].numpy().reshape((batch,) + pop.shape)
            activity[pop.name].append(active.reshape(batch, -1).sum(0))
            history[pop.name].append(x)
            del history[pop.name][:-ref.depth]
            if pop.name in recorded:
                recorded[pop.name][t] = x.numpy().astype(np.uint8)

    activity = {name: torch.stack(rows).to(torch.float64) for name, rows in activity.items()}
    events = np.zeros((steps, n_proj), np.int64)
    macs = np.zeros_like(events)
    for proj in ref.projections:
        d = proj.proj.delay
        if d < steps:
            sent = torch.stack(gates[proj.index]["rows"]).to(torch.float64) if proj.gate else \
                activity[proj.proj.pre][:steps - d]
            reached = (sent @ proj.fanout).to(torch.int64).numpy()
            analog = analog_input and net.populations[proj.proj.pre].is_input
            (macs if analog else events)[d:, proj.index] = reached
    spikes = np.stack([np.zeros(steps, np.int64) if (p.is_input and analog_input) else
                       activity[p.name].sum(1).to(torch.int64).numpy() for p in order], axis=1)
    sizes = np.array([0 if p.is_input else p.size for p in order], np.int64)
    counts = Counts(
        projections=tuple(c.proj.name for c in ref.projections), populations=tuple(p.name for p in order),
        batch=batch, synaptic_events=events, effective_macs=macs,
        dense_macs=np.tile(np.array([c.dense_macs for c in ref.projections], np.int64) * batch, (steps, 1)),
        spikes=spikes,
        neuron_updates=np.tile(sizes * batch, (steps, 1)),
        membrane_updates=np.array([[int(c) for c in row] for row in changed], np.int64))
    membrane = state[out]["v"].numpy().reshape((batch,) + out_pop.shape).copy()
    return RunResult(out, out_spikes.numpy().reshape((batch,) + out_pop.shape), membrane, trace, recorded, counts)


def _step(neurons: _Population, st: dict, cur: torch.Tensor, cur_inh: torch.Tensor, first: bool):
    """One update of a population's state (``spiking.neurons``); returns (spikes, membranes changed)."""
    if neurons.fixed:
        return _step_fixed(neurons, st, cur, first)
    p, reset = neurons.p, neurons.pop.neuron.reset
    drive = cur + p["bias"] if neurons.biased else cur
    if neurons.pop.neuron.has_synapse:
        st["syn"] = p["alpha"] * st["syn"] + drive
        drive = st["syn"]
    if neurons.inh:
        st["syn_inh"] = p["alpha_inh"] * st["syn_inh"] + cur_inh
        drive = drive + st["syn_inh"]
    v0, r = st["v"], st["fired"]
    thr = p["v_threshold"]
    base = torch.where(r, p["v_reset"], v0) if reset == "hard" else v0
    if neurons.plain:
        v1 = base + drive
    else:
        v1 = p["v_leak"] + p["beta"] * (base - p["v_leak"]) + drive
    if reset == "subtract":
        # v1 - thr where the neuron spiked: addcmul with the 0/1 spikes is exact, unless a threshold is
        # infinite (0 * inf is NaN)
        v1 = torch.where(r, v1 - thr, v1) if neurons.infinite else torch.addcmul(v1, st["spikes"], thr, value=-1)
    if neurons.refractory:
        held = {"hard": torch.where(r, p["v_reset"], v0), "subtract": torch.where(r, v0 - thr, v0), "none": v0}
        blocked = st["left"] > 0
        v1 = torch.where(blocked, held[reset], v1)
        s = ~blocked & (v1 > thr)
        st["left"] = torch.where(blocked, st["left"] - 1, torch.where(s, p["refractory"], 0))
    else:
        s = v1 > thr
    st["fired"] = s
    st["spikes"] = s.to(torch.float32)
    st["v"] = v1
    changed = v0.numel() if first else (v1 != v0).sum()
    return s, changed


def _decay(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``x (4096 - k) / 4096`` rounded toward zero, in int64 (``spiking.neurons.FixedLIF``)."""
    p = x * (4096 - k)
    return torch.sign(p) * (p.abs() >> 12)


def _step_fixed(neurons: _Population, st: dict, cur: torch.Tensor, first: bool):
    """The integer update of ``spiking.neurons.FixedLIF``; returns (spikes, membranes changed)."""
    p, reset = neurons.p, neurons.pop.neuron.reset
    st["syn"] = _decay(st["syn"], p["decay_u"]) + cur + p["bias"]
    v0, r = st["v"], st["fired"]
    base = torch.where(r, p["v_reset"], v0) if reset == "hard" else v0
    v1 = _decay(base, p["decay_v"]) + st["syn"]
    if reset == "subtract":
        v1 = torch.where(r, v1 - p["v_threshold"], v1)
    s = v1 > p["v_threshold"]
    st["fired"] = s
    st["spikes"] = s.to(torch.float32)
    st["v"] = v1
    changed = v0.numel() if first else (v1 != v0).sum()
    return s, changed
