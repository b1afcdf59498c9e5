"""A copy of a network with some of its neurons or projection ops replaced."""
from __future__ import annotations

from ..network import Network


def rebuild(net: Network, neuron=None, ops=None) -> Network:
    """The same populations and projections (names, order, delays, receptors, output), with
    ``neuron(population)`` as each neuron population's model and ``ops(projection)`` as each
    projection's ops, where those functions are given."""
    net.validate()
    out = Network()
    for pop in net.order:
        if pop.is_input:
            out.input(pop.name, pop.shape)
        else:
            out.population(pop.name, neuron(pop) if neuron else pop.neuron, pop.shape)
    for proj in net.projections.values():
        out.connect(proj.pre, proj.post, ops(proj) if ops else proj.ops, delay=proj.delay, name=proj.name,
                    receptor=proj.receptor)
    out.output = net.output
    return out
