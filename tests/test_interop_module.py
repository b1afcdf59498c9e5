"""SpikingModule: a network as a torch module for inference, agreeing with ``spiking.run``."""
import numpy as np
import pytest
import torch

import spiking as sp
from helpers import dyadic
from spiking.interop.module import SpikingModule


def small_net(readout=False):
    rng = np.random.default_rng(5)
    net = sp.Network()
    net.input("in", (6,))
    net.population("h", sp.LIF(beta=0.75), (8,))
    net.population("out", sp.IF(v_threshold=np.inf) if readout else sp.LIF(beta=0.5, v_threshold=0.5), (3,))
    net.connect("in", "h", sp.Linear(dyadic(rng, (8, 6))))
    net.connect("h", "out", sp.Linear(dyadic(rng, (3, 8))))
    return net


@pytest.mark.parametrize("backend", ["event", "dense"])
def test_spike_input_matches_run(backend):
    net = small_net()
    x = (np.random.default_rng(0).random((10, 4, 6)) < 0.5).astype(np.float32)
    module = SpikingModule(net, steps=10, backend=backend)
    with torch.no_grad():
        out, counts = module(torch.from_numpy(x))
    ref = sp.run(net, sp.spikes(x))
    assert out.dtype == torch.float32 and out.shape == (4, 3)
    assert np.array_equal(out.numpy(), ref.output_spikes) and ref.output_spikes.sum() > 0
    assert counts == ref.counts and module.counts is counts


def test_analog_input_and_membrane_readout():
    net = small_net(readout=True)
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (5, 6)).astype(np.float32) / 256)
    out, counts = SpikingModule(net, steps=7, output="membrane")(x)
    ref = sp.run(net, sp.currents(x.numpy()), 7)
    assert np.array_equal(out.numpy(), ref.membrane) and np.abs(ref.membrane).sum() > 0
    assert counts.effective_macs.sum() > 0  # analog input counted as MACs


def test_fits_an_evaluation_loop():
    net = small_net()
    rng = np.random.default_rng(2)
    data = [(torch.from_numpy((rng.random((10, 3, 6)) < 0.5).astype(np.float32)), torch.tensor([0, 1, 2]))
            for _ in range(3)]
    module = SpikingModule(net, steps=10).eval()
    correct = events = 0
    with torch.no_grad():
        for x, y in data:
            out, counts = module(x)
            correct += int((out.argmax(1) == y).sum())
            events += int(counts.synaptic_events.sum())
    expected = sum(int((sp.run(net, sp.spikes(x)).output_spikes.argmax(1) == y.numpy()).sum()) for x, y in data)
    assert correct == expected and events > 0


def test_refuses_gradients_and_bad_shapes():
    module = SpikingModule(small_net(), steps=5)
    with pytest.raises(sp.ValidationError, match="inference only"):
        module(torch.zeros(2, 6, requires_grad=True))
    with pytest.raises(sp.ValidationError, match="4 steps, the module runs 5"):
        module(torch.zeros(4, 2, 6))
    with pytest.raises(sp.ValidationError, match="input must be spikes"):
        module(torch.zeros(6))
    with pytest.raises(sp.ValidationError, match="needs steps="):
        SpikingModule(small_net())(torch.zeros(2, 6))
    assert list(module.parameters()) == []
