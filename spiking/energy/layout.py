"""What pricing needs to know about a network: weights and synapses per projection, state per population.

Read from the network only (the simulation is never touched), so a run's counts can be re-priced
for any hardware.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network import Network
from ..network.ops import Conv2d, Linear, Sparse
from ..runtime.compile import compile_projection


@dataclass(frozen=True)
class ProjectionLayout:
    name: str
    pre: str
    post: str
    stored_weights: int      # weights held in memory (non-zero entries for Sparse)
    synapses: int            # non-zero synapses reachable from all presynaptic neurons (pool included)
    dense_per_step: int      # NeuroBench Dense of the weighted op, per sample and step: the ANN's MACs


@dataclass(frozen=True)
class PopulationLayout:
    name: str
    size: int
    is_input: bool
    adds: int = 0            # additions/comparisons per neuron per step
    muls: int = 0            # multiplications per neuron per step
    reset_adds: int = 0      # additions per spike (reset by subtraction)
    state_words: int = 0     # state words per neuron (membrane, synaptic current)
    ann_adds: int = 0        # additions per neuron of the ANN equivalent (activation, bias)


def _stored_weights(op) -> int:
    if isinstance(op, (Linear, Conv2d)):
        return int(op.weight.size)
    if isinstance(op, Sparse):
        return int(np.count_nonzero(op.values))
    return 0


def _population(pop) -> PopulationLayout:
    if pop.is_input:
        return PopulationLayout(pop.name, pop.size, True)
    p = pop.neuron.params()
    leak = bool(np.any(p["beta"] != 1))
    bias = bool(np.any(p["bias"] != 0))
    synapse = pop.neuron.has_synapse
    # integrate the step's input and compare with the threshold; leak v_leak + beta (v - v_leak)
    adds = 2 + (2 * bool(np.any(p["v_leak"] != 0)) if leak else 0) + bias + synapse
    muls = leak + synapse
    return PopulationLayout(pop.name, pop.size, False, adds, muls, int(pop.neuron.reset == "subtract"),
                            1 + synapse, 1 + bias)


def layout(net: Network) -> tuple[dict[str, ProjectionLayout], dict[str, PopulationLayout]]:
    """Per projection and per population, the sizes pricing needs."""
    projections = {}
    for proj in net.projections.values():
        op = compile_projection(proj, net.populations[proj.pre].shape, net.populations[proj.post].shape)
        projections[proj.name] = ProjectionLayout(proj.name, proj.pre, proj.post, _stored_weights(proj.weighted),
                                                  int(op.fanout.sum()), int(op.dense_macs))
    populations = {p.name: _population(p) for p in net.order}
    return projections, populations
