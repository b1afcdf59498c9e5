"""The runtime's counts against NeuroBench's own metrics on the snnTorch twin, on the same inputs.

NeuroBench (``../shared/reference/energy-model.md`` section 6) takes input ``[batch, time, ...]`` and
reports per sample: Effective_ACs, Effective_MACs, Dense (SynapticOperations) and MembraneUpdates.
Where a pool precedes the next weights it counts MACs of the pooled values; the runtime counts
synaptic events through the pool, and ``neurobench_counts`` gives NeuroBench's figure from the
recorded spikes.
"""
import numpy as np
import pytest

import spiking as sp
from spiking.bench.models import lenet, to_snntorch
from spiking.energy import neurobench_counts, price

pytest.importorskip("neurobench", reason="needs neurobench (pip install --no-deps neurobench==2.3.0)")
torch = pytest.importorskip("torch")


def neurobench_metrics(net, frames):
    """NeuroBench's workload metrics for the snnTorch twin of ``net`` on ``frames [T, B, ...]``."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel

    model = to_snntorch(net)
    model[-1].output = True          # SNNTorchModel unpacks (spikes, membrane) from the last layer
    data = torch.from_numpy(np.ascontiguousarray(np.swapaxes(frames, 0, 1))).float()
    labels = torch.zeros(data.shape[0])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, labels), batch_size=data.shape[0])
    bench = Benchmark(SNNTorchModel(model), loader, [], [], [[], [SynapticOperations, MembraneUpdates]])
    return bench.run(quiet=True)


def small_mlp(seed=0):
    rng = np.random.default_rng(seed)
    net = sp.Network()
    net.input("in", (40,))
    net.population("h", sp.IF(), (32,))
    net.population("o", sp.IF(), (10,))
    w1 = np.round(rng.uniform(0, 0.15, (32, 40)) * 256) / 256 * (rng.random((32, 40)) < 0.8)
    w2 = np.round(rng.uniform(0, 0.3, (10, 32)) * 256) / 256 * (rng.random((10, 32)) < 0.8)
    net.connect("in", "h", sp.Linear(w1))
    net.connect("h", "o", sp.Linear(w2))
    return net


def test_linear_network_counts_equal_neurobench():
    net = small_mlp()
    rng = np.random.default_rng(1)
    frames = (rng.random((12, 5, 40)) < 0.3).astype(np.float32)
    counts = sp.run(net, sp.spikes(frames)).counts
    nb = neurobench_metrics(net, frames)
    b = counts.batch
    assert nb["SynapticOperations"]["Effective_ACs"] == counts.synaptic_events.sum() / b
    assert nb["SynapticOperations"]["Effective_MACs"] == counts.effective_macs.sum() / b == 0
    assert nb["SynapticOperations"]["Dense"] == counts.dense_macs.sum() / b
    assert nb["MembraneUpdates"] == counts.membrane_updates.sum() / b


def test_analog_input_counts_equal_neurobench_macs():
    net = small_mlp(2)
    rng = np.random.default_rng(2)
    frames = (rng.integers(1, 8, (10, 4, 40)) / 16 * (rng.random((10, 4, 40)) < 0.5)).astype(np.float32)
    counts = sp.run(net, sp.currents(frames, per_step=True)).counts
    nb = neurobench_metrics(net, frames)
    b = counts.batch
    assert counts.effective_macs.sum() > 0
    assert nb["SynapticOperations"]["Effective_MACs"] == counts.effective_macs.sum() / b
    assert nb["SynapticOperations"]["Effective_ACs"] == counts.synaptic_events.sum() / b
    assert nb["SynapticOperations"]["Dense"] == counts.dense_macs.sum() / b
    assert nb["MembraneUpdates"] == counts.membrane_updates.sum() / b


def test_conv_network_with_pooling_counts_equal_neurobench():
    net = lenet()
    rng = np.random.default_rng(3)
    frames = (rng.random((8, 3, 1, 28, 28)) < 0.25).astype(np.float32)
    stim = sp.spikes(frames)
    result = sp.run(net, stim, record=["conv1", "conv2"])
    ours = neurobench_counts(net, result, stim)
    nb = neurobench_metrics(net, frames)
    c, b = result.counts, result.counts.batch
    assert nb["SynapticOperations"]["Effective_ACs"] == ours["total"]["effective_acs"]
    assert nb["SynapticOperations"]["Effective_MACs"] == ours["total"]["effective_macs"]
    assert nb["SynapticOperations"]["Dense"] == ours["total"]["dense"] == c.dense_macs.sum() / b
    assert nb["MembraneUpdates"] == ours["membrane_updates"] == c.membrane_updates.sum() / b
    # without a pool before the weights, the runtime's own counts are NeuroBench's
    assert ours["input->conv1"]["effective_acs"] == c.totals()["synaptic_events"]["input->conv1"] / b
    # through a pool they differ, and the report offers both, labelled
    pooled = ours["conv1->conv2"]
    assert pooled["effective_macs"] > 0
    assert pooled["effective_macs"] != c.totals()["synaptic_events"]["conv1->conv2"] / b
    text = price(result, net, "horowitz45-fp32", stimulus=stim).table()
    assert "NeuroBench counts" in text and "runtime events" in text


def test_pool_on_the_input_counts_from_the_stimulus():
    rng = np.random.default_rng(4)
    net = sp.Network()
    net.input("in", (2, 6, 6))
    net.population("o", sp.IF(), (5,))
    net.connect("in", "o", [sp.AvgPool2d(2), sp.Flatten(), sp.Linear(rng.uniform(0, 0.4, (5, 18)))])
    frames = (rng.random((7, 3, 2, 6, 6)) < 0.3).astype(np.float32)
    stim = sp.spikes(frames)
    result = sp.run(net, stim)
    ours = neurobench_counts(net, result, stim)
    nb = neurobench_metrics(net, frames)
    assert ours["total"]["effective_macs"] > 0
    assert nb["SynapticOperations"]["Effective_ACs"] == ours["total"]["effective_acs"]
    assert nb["SynapticOperations"]["Effective_MACs"] == ours["total"]["effective_macs"]
    assert nb["SynapticOperations"]["Dense"] == ours["total"]["dense"]
    with pytest.raises(sp.ValidationError, match="pass the stimulus"):
        neurobench_counts(net, result)
