"""Count-gated max pooling: by hand on a small case, both backends alike, and what it refuses."""
import numpy as np
import pytest

import spiking as sp
from spiking import ValidationError
from spiking.network import MaxPool2d

from helpers import dyadic


def _gate_net(weight=None):
    """Input spikes (1, 2, 4) max-pooled 2x2 into two relays that fire on every pooled spike."""
    net = sp.Network()
    net.input("in", (1, 2, 4))
    net.population("relay", sp.IF(v_threshold=0.5, reset="hard"), (2,))
    net.connect("in", "relay", [MaxPool2d(2), sp.Flatten(), sp.Linear(np.eye(2) if weight is None else weight)])
    return net


@pytest.mark.parametrize("backend", ["event", "dense"])
def test_a_window_spikes_when_its_largest_running_count_grows(backend):
    # window 0 holds pixels (0,0),(0,1),(1,0),(1,1); window 1 the other four
    s = np.zeros((6, 1, 1, 2, 4), np.uint8)
    s[0, 0, 0, 0, 0] = 1                     # counts [1,0,0,0] -> max 1: spike
    s[1, 0, 0, 1, 1] = 1                     # [1,0,0,1] -> max stays 1: silent
    s[2, 0, 0, 1, 1] = 1                     # [1,0,0,2] -> max 2: spike
    s[3, 0, 0, 0, 0] = s[3, 0, 0, 1, 1] = 1  # [2,0,0,3] -> max 3: one spike, not two
    s[4, 0, 0, 0, 0] = 1                     # [3,0,0,3] -> silent
    s[:, 0, 0, 0, 3] = 1                     # window 1: one neuron every step -> a spike every step
    r = sp.run(_gate_net(), sp.spikes(s), record="relay", backend=backend)
    np.testing.assert_array_equal(r.recorded["relay"][:, 0, 0], [1, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(r.recorded["relay"][:, 0, 1], [1, 1, 1, 1, 1, 1])
    # a synaptic event per pooled spike into the one non-zero weight of its window
    assert r.counts.synaptic_events.sum() == 3 + 6
    assert r.counts.dense_macs[0, 0] == 4


def test_gated_networks_agree_on_both_backends():
    rng = np.random.default_rng(1)
    net = sp.Network()
    net.input("in", (2, 8, 8))
    net.population("a", sp.IF(v_threshold=0.5), (4, 8, 8))
    net.connect("in", "a", sp.Conv2d(dyadic(rng, (4, 2, 3, 3)), padding=1))
    net.population("b", sp.LIF(beta=0.75, v_threshold=0.5), (6, 2, 2))
    net.connect("a", "b", [MaxPool2d(2), sp.Conv2d(dyadic(rng, (6, 4, 3, 3)))])
    net.population("c", sp.IF(v_threshold=0.5), (10,))
    net.connect("b", "c", [MaxPool2d(2), sp.Flatten(), sp.Linear(dyadic(rng, (10, 6)))])
    net.connect("a", "c", [MaxPool2d(4), sp.Flatten(), sp.Linear(dyadic(rng, (10, 16)))], delay=2)
    stim = sp.poisson(rng.random((5, 2, 8, 8)) * 0.5, 20, seed=3)
    event = sp.run(net, stim, record=("a", "b", "c"))
    dense = sp.run(net, stim, backend="dense", record=("a", "b", "c"))
    for name in "abc":
        np.testing.assert_array_equal(event.recorded[name], dense.recorded[name])
    assert event.counts == dense.counts
    assert event.recorded["b"].sum() > 0 and event.recorded["c"].sum() > 0


def test_max_pool_is_refused_where_it_cannot_gate(tmp_path):
    with pytest.raises(ValidationError, match="tile"):
        MaxPool2d(3, stride=2)
    net = sp.Network()
    net.input("in", (1, 4, 4))
    net.population("p", sp.IF(), (1, 2, 2))
    with pytest.raises(ValidationError, match="must come first"):
        net.connect("in", "p", [sp.Conv2d(np.ones((1, 1, 1, 1))), MaxPool2d(2)])
    net.connect("in", "p", [MaxPool2d(2), sp.Conv2d(np.ones((1, 1, 1, 1)))])
    with pytest.raises(ValidationError, match="analog"):
        sp.run(net, sp.currents(np.ones((1, 1, 4, 4))), 3)
    sp.save(net, tmp_path / "gated.h5")
    assert sp.load(tmp_path / "gated.h5") == net
