"""Every sample of a batch runs from the network's initial state.

The event kernel keeps one set of state vectors per thread and resets it before each sample, so a
thread that runs several samples must give each the result it gets alone. The network below holds
every kind of state the kernel carries from step to step: two synaptic currents, refractory
counters, a delayed and a recurrent projection (future slots of the current ring), running counts
and window maxima of max pooling, and membranes that start away from zero.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest

import spiking as sp
from helpers import dyadic
from spiking.network import MaxPool2d


def _stateful_net(rng: np.random.Generator) -> sp.Network:
    net = sp.Network()
    net.input("in", (2, 6, 6))
    net.population("conv", sp.CubaLIF(alpha=0.5, alpha_inh=0.75, beta=0.875, refractory=2, v_init=0.25,
                                      v_threshold=0.75), (3, 6, 6))
    net.population("hidden", sp.LIF(beta=0.75, reset="hard", v_reset=-0.25, bias=0.125), (8,))
    net.population("out", sp.IF(v_threshold=0.5), (4,))
    net.connect("in", "conv", sp.Conv2d(dyadic(rng, (3, 2, 3, 3)), padding=1))
    net.connect("in", "conv", sp.Conv2d(dyadic(rng, (3, 2, 3, 3), max_k=128), padding=1), receptor="inh", delay=2)
    net.connect("conv", "hidden", [MaxPool2d(2), sp.Flatten(), sp.Linear(dyadic(rng, (8, 27)))])
    net.connect("hidden", "out", sp.Linear(dyadic(rng, (4, 8))))
    net.connect("out", "hidden", sp.Linear(dyadic(rng, (8, 4))), delay=1)
    return net


@pytest.mark.parametrize("threads", [1, 2])
def test_each_sample_of_a_batch_matches_its_run_alone(threads):
    rng = np.random.default_rng(7)
    net = _stateful_net(rng)
    x = rng.integers(0, 3, (10, 5, 2, 6, 6)) * (rng.random((10, 5, 2, 6, 6)) < 0.4)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        batch = sp.run(net, sp.spikes(x), record=("conv", "hidden"), record_membrane=True)
        alone = [sp.run(net, sp.spikes(x[:, b:b + 1]), record=("conv", "hidden"), record_membrane=True)
                 for b in range(x.shape[1])]
    finally:
        numba.set_num_threads(previous)
    assert batch.counts.spikes[:, 1:].sum() > 0 and batch.output_spikes.sum() > 0
    for b, single in enumerate(alone):
        assert np.array_equal(batch.output_spikes[b], single.output_spikes[0])
        assert np.array_equal(batch.membrane_trace[:, b], single.membrane_trace[:, 0])
        for name in ("conv", "hidden"):
            assert np.array_equal(batch.recorded[name][:, b], single.recorded[name][:, 0])
    assert batch.counts == sp.Counts.combine(single.counts for single in alone)
