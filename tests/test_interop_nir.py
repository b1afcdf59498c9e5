"""NIR: snnTorch's exports import and spike like the snnTorch model; our graphs import into snnTorch
and spike alike there; files round-trip exactly; conventions and refusals.

Weights and parameters are dyadic, so every sum is exact in float32 (see test_interop_snntorch).
snnTorch 1.0.0's ``export_to_nir`` needs per-neuron (tensor) beta and threshold: with scalars, nir
1.0.8's type inference rejects the graph it builds.
"""
import importlib

import numpy as np
import pytest
import torch
from torch import nn

import spiking as sp
from snntorch_trace import our_trace, set_dyadic, snntorch_trace

nir = pytest.importorskip("nir", reason="NIR import/export needs the nir package")
from spiking.interop.nir import from_nir, read_nir, to_nir, write_nir  # noqa: E402

try:  # the snnTorch side: its NIR export and import need nirtorch
    importlib.import_module("nirtorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir
except ImportError:
    snn = None
needs_snntorch = pytest.mark.skipif(snn is None, reason="needs snntorch and nirtorch (snnTorch's NIR export/import)")

BACKENDS = ("event", "dense")


def full(n, value):
    return torch.full((n,), float(value))


def spike_input(rng, shape, steps=24, batch=3, p=0.35):
    return (rng.random((steps, batch) + shape) < p).astype(np.float32)


def compare(ref: dict, ours: dict, names: dict, immediate_reset: bool = False):
    """Every layer's spikes equal; membranes equal (snnTorch's immediate reset shows 0 where it spiked)."""
    for ref_name, (spk, mem) in ref.items():
        our_spk, our_mem = ours[names[ref_name]]
        assert spk.sum() >= 5, f"layer {ref_name} spikes only {spk.sum()} times"
        assert np.array_equal(our_spk, spk.astype(np.uint8)), (ref_name, "spikes")
        expected = np.where(our_spk > 0, 0, our_mem) if immediate_reset else our_mem
        assert np.array_equal(expected, mem), (ref_name, "membrane")


# ---- snnTorch export_to_nir -> from_nir: identical to the snnTorch model itself ----

# NIR has no way to say that a Synaptic or RLeaky zero reset also drops the next step's input (see
# spiking.interop.snntorch): those layers match through NIR with reset by subtraction; Leaky with both.
@needs_snntorch
@pytest.mark.parametrize("mechanism,reset,second", [("zero", None, "Leaky"), ("subtract", "subtract", "RLeaky")])
def test_snntorch_export_imports_identically(mechanism, reset, second):
    rng = np.random.default_rng(10)
    middle = dict(linear_features=12) if second == "RLeaky" else {}
    second = getattr(snn, second)
    model = nn.Sequential(
        nn.Linear(10, 16), snn.Leaky(beta=full(16, 0.875), threshold=full(16, 1.0), reset_mechanism=mechanism,
                                     init_hidden=True),
        nn.Linear(16, 12), second(beta=full(12, 0.5), threshold=full(12, 1.0), reset_mechanism=mechanism,
                                  init_hidden=True, **middle),
        nn.Linear(12, 6), snn.Leaky(beta=torch.tensor([0.625, 0.75, 0.875] * 2), threshold=full(6, 0.75),
                                    reset_mechanism=mechanism, init_hidden=True, output=True))
    set_dyadic(model, rng, scale=16)
    graph = export_to_nir(model, torch.zeros(1, 10), ignore_dims=[0])
    net = from_nir(graph, dt=1e-4, reset=reset)  # snnTorch records neither dt nor its reset mode
    x = spike_input(rng, (10,), steps=14)
    ref = snntorch_trace(model, x)
    for backend in BACKENDS:
        compare(ref, our_trace(net, sp.spikes(x), backend), {"1": "1", "3": "3.lif" if middle else "3", "5": "5"})
    if middle:
        assert net.projections["3.lif->3.lif"].delay == 1


@needs_snntorch
def test_snntorch_export_of_synaptic_and_conv_imports_identically():
    rng = np.random.default_rng(11)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), snn.Leaky(beta=torch.full((3, 6, 6), 0.75), threshold=torch.full((3, 6, 6), 0.5),
                                      reset_mechanism="zero", init_hidden=True),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(27, 8),
        snn.Synaptic(alpha=full(8, 0.75), beta=full(8, 0.875), threshold=full(8, 1.0), init_hidden=True,
                     output=True))
    set_dyadic(model, rng)
    graph = export_to_nir(model, torch.zeros(1, 1, 8, 8), ignore_dims=[0])
    # The Leaky resets to zero, the Synaptic by subtraction: node metadata overrides the caller's reset.
    graph.nodes["1"].metadata["reset"] = "hard"
    net = from_nir(graph, dt=1e-4, reset="subtract")
    assert net.populations["1"].neuron.reset == "hard" and net.populations["5"].neuron.reset == "subtract"
    x = spike_input(rng, (1, 8, 8), steps=20, p=0.5)
    ref = snntorch_trace(model, x)
    for backend in BACKENDS:
        compare(ref, our_trace(net, sp.spikes(x), backend), {"1": "1", "5": "5"})


# ---- to_nir -> snnTorch import_from_nir: identical in snnTorch ----

def our_network(rng, recurrent=True):
    """Hard-reset LIF and CubaLIF layers, one threshold per layer (snnTorch's import needs that)."""
    net = sp.Network()
    net.input("in", (10,))
    net.population("h1", sp.LIF(beta=np.linspace(0.5, 1.0, 16, endpoint=False), v_threshold=1.0, reset="hard",
                                bias=0.125), (16,))
    net.population("h2", sp.LIF(beta=0.5, v_threshold=0.75, reset="hard"), (12,))
    net.population("out", sp.CubaLIF(alpha=0.5, beta=0.75, v_threshold=1.0, reset="hard"), (5,))
    w = lambda *s: (rng.integers(-16, 17, s) / 16).astype(np.float32)  # noqa: E731
    net.connect("in", "h1", sp.Linear(w(16, 10)))
    net.connect("h1", "h2", sp.Linear(w(12, 16)))
    if recurrent:
        net.connect("h2", "h2", sp.Linear(w(12, 12) / 2))
    net.connect("h2", "out", sp.Linear(w(5, 12)))
    return net


@needs_snntorch
@pytest.mark.parametrize("recurrent", [False, True])
def test_our_graph_spikes_identically_in_snntorch(recurrent):
    rng = np.random.default_rng(12)
    net = our_network(rng, recurrent)
    model = import_from_nir(to_nir(net))
    x = spike_input(rng, (10,), steps=14)
    ref = snntorch_trace(model, x)
    ours = our_trace(net, sp.spikes(x), "event")
    names = dict(zip(ref, ["h1", "h2", "out"]))
    # snnTorch's import builds reset_delay=False layers: the same spikes, the membrane shown as 0
    # on the step it spikes (ours keeps the unreset value until the next step).
    compare(ref, ours, names, immediate_reset=True)


# ---- files and round trips ----

def rich_network(rng):
    """Every op and neuron kind that NIR can carry, recurrent edges and both resets."""
    net = sp.Network()
    net.input("in", (2, 8, 8))
    w = lambda *s: (rng.integers(-64, 65, s) / 64).astype(np.float32)  # noqa: E731
    net.population("conv", sp.LIF(beta=0.75, v_threshold=np.repeat([0.5, 0.75, 1.0, 0.5], 36).reshape(4, 6, 6),
                                  reset="subtract",
                                  bias=np.repeat([0.125, 0.0, -0.25, 0.5], 36).reshape(4, 6, 6)), (4, 6, 6))
    net.connect("in", "conv", sp.Conv2d(w(4, 2, 3, 3)), name="c1")
    net.population("pool", sp.IF(v_threshold=1.5, reset="hard", v_reset=-0.25), (4, 3, 3))
    net.connect("conv", "pool", sp.SumPool2d(2), name="p1")
    net.population("fc", sp.CubaLIF(alpha=0.5, beta=0.875, v_threshold=1.0, reset="subtract", v_leak=0.125),
                   (10,))
    net.connect("pool", "fc", [sp.AvgPool2d(3), sp.Flatten(), sp.Linear(w(10, 4))], name="p2")
    net.connect("fc", "fc", sp.Sparse.from_dense(np.diag(np.arange(10) / 8).astype(np.float32)), name="rec")
    net.population("thr", sp.LIF(beta=0.5, v_threshold=0.5, reset="none"), (10,))
    net.connect("fc", "thr", sp.Linear(w(10, 10)))
    net.population("integ", sp.IF(v_threshold=0.75, reset="none"), (10,))
    net.connect("thr", "integ", sp.Linear(w(10, 10)))
    net.population("readout", sp.LIF(beta=0.875, v_threshold=np.inf, reset="none"), (3,))
    net.connect("integ", "readout", sp.Linear(w(3, 10)))
    return net


def test_file_round_trip_is_exact(tmp_path):
    net = rich_network(np.random.default_rng(13))
    path = tmp_path / "net.nir"
    write_nir(net, path, dt=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["net.nir"]
    back = read_nir(path)
    assert back == net
    assert nir.read(path).metadata["dt"] == 1e-3
    # ... and runs identically, recording every layer.
    x = spike_input(np.random.default_rng(1), (2, 8, 8), steps=12, p=0.5)
    names = [p.name for p in net.order if not p.is_input]
    a = sp.run(net, sp.spikes(x), record=names)
    b = sp.run(back, sp.spikes(x), record=names)
    assert all(np.array_equal(a.recorded[k], b.recorded[k]) for k in names)
    assert a.counts == b.counts and sum(a.recorded[k].sum() for k in names) > 100


def test_written_graph_states_its_conventions():
    graph = to_nir(rich_network(np.random.default_rng(13)), dt=1e-3)
    assert graph.metadata["dt"] == 1e-3 and graph.metadata["r"] == "physical"
    assert graph.nodes["conv"].metadata["reset"] == "subtract"
    assert graph.nodes["pool"].metadata["reset"] == "hard"
    assert type(graph.nodes["thr"]).__name__ == "LI" and type(graph.nodes["thr.threshold"]).__name__ == "Threshold"
    assert type(graph.nodes["integ"]).__name__ == "I" and type(graph.nodes["readout"]).__name__ == "LI"
    # r chosen so that the per-step input gain is 1: r = tau / dt (LIF), 1 / dt (IF).
    lif = graph.nodes["conv"]
    assert np.allclose(lif.r * 1e-3 / lif.tau, 1.0) and np.allclose(graph.nodes["pool"].r, 1e3)


# ---- conventions, worked by hand ----

def one_neuron_graph(node, metadata=None):
    return nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([1])}),
                               "w": nir.Linear(weight=np.ones((1, 1), np.float32)), "n": node,
                               "out": nir.Output(output_type={"output": np.array([1])})},
                        edges=[("in", "w"), ("w", "n"), ("n", "out")], metadata=metadata or {}, type_check=False)


def membrane(net, drive):
    stim = sp.currents(np.asarray(drive, np.float32).reshape(-1, 1, 1), per_step=True)
    res = sp.run(net, stim, record=[net.output_name], record_membrane=True)
    return res.membrane_trace.ravel().tolist(), res.recorded[net.output_name].ravel().tolist()


def test_if_input_gain_follows_the_r_convention():
    node = nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0]), v_reset=np.array([0.0]))
    # per_step: gain r = 1: 0.75, 1.5 spikes, hard reset: 0.75, 1.5 spikes.
    assert membrane(from_nir(one_neuron_graph(node), r="per_step"), [0.75] * 4) == ([0.75, 1.5, 0.75, 1.5],
                                                                                    [0, 1, 0, 1])
    # physical with dt 0.5: gain r dt = 0.5: 0.375, 0.75, 1.125 spikes, 0.375.
    assert membrane(from_nir(one_neuron_graph(node), dt=0.5), [0.75] * 4) == ([0.375, 0.75, 1.125, 0.375],
                                                                             [0, 0, 1, 0])
    # the graph's metadata wins: subtract, dt 0.5: 0.375, 0.75, 1.125 spikes, 1.125 + 0.375 - 1 = 0.5.
    g = one_neuron_graph(node, {"dt": 0.5, "reset": "subtract"})
    assert membrane(from_nir(g), [0.75] * 4) == ([0.375, 0.75, 1.125, 0.5], [0, 0, 1, 0])
    with pytest.raises(sp.ConversionError, match="contradicts the graph's metadata"):
        from_nir(g, dt=1.0)


def test_lif_discretisation_by_hand():
    # tau 4 dt, v_leak 0.5, r = tau / dt: beta = 0.75, gain 1: v = 0.5 + 0.75 (v - 0.5) + I.
    node = nir.LIF(tau=np.array([4e-3]), r=np.array([4.0]), v_leak=np.array([0.5]), v_threshold=np.array([1.0]),
                   v_reset=np.array([0.25]))
    # 0.125 + 0 = 0.125; 0.5 - 0.28125 + 1 = 1.21875 spikes; reset to 0.25: 0.5 - 0.1875 + 0 = 0.3125.
    assert membrane(from_nir(one_neuron_graph(node), dt=1e-3), [0, 1, 0]) == ([0.125, 1.21875, 0.3125], [0, 1, 0])
    with pytest.raises(sp.ConversionError, match="dt is unknown"):
        from_nir(one_neuron_graph(node))


def test_li_integrator_and_threshold_nodes():
    # Threshold alone is stateless: spikes where the input exceeds 0.5.
    net = from_nir(one_neuron_graph(nir.Threshold(threshold=np.array([0.5]))))
    assert membrane(net, [0.25, 0.75, 0.5, 1.0])[1] == [0, 1, 0, 1]
    # Integrator (r dt = 1) then Threshold: a neuron that never resets.
    g = one_neuron_graph(nir.I(r=np.array([1.0])))
    g.nodes["t"] = nir.Threshold(threshold=np.array([1.0]))
    g.edges = [("in", "w"), ("w", "n"), ("n", "t"), ("t", "out")]
    assert membrane(from_nir(g, dt=1.0), [0.5, 0.75, 0.0, -1.0]) == ([0.5, 1.25, 1.25, 0.25], [0, 1, 1, 0])
    # LI alone is a non-spiking readout.
    li = nir.LI(tau=np.array([2.0]), r=np.array([2.0]), v_leak=np.array([0.0]))
    assert membrane(from_nir(one_neuron_graph(li), dt=1.0), [1, 1, 0]) == ([1.0, 1.5, 0.75], [0, 0, 0])


def test_scale_folds_into_weights():
    g = one_neuron_graph(nir.IF(r=np.array([1.0]), v_threshold=np.array([10.0])), {"r": "per_step"})
    g.nodes["s"] = nir.Scale(scale=np.array([0.5]))
    g.edges = [("in", "w"), ("w", "s"), ("s", "n"), ("n", "out")]
    assert membrane(from_nir(g), [1, 1])[0] == [0.5, 1.0]


@pytest.mark.parametrize("change,match", [
    (lambda net: net.populations.__setitem__("h2", sp.network.Population("h2", (12,), sp.LIF(refractory=2))),
     "refractory"),
    (lambda net: net.connect("h1", "out", sp.Linear(np.ones((5, 16))), receptor="inh"), "second"),
    (lambda net: net.connect("in", "h2", sp.Linear(np.ones((12, 10))), delay=2), "delay 2"),
    (lambda net: net.populations.__setitem__("out", sp.network.Population(
        "out", (5,), sp.CubaLIF(alpha=0.5, alpha_inh=0.25))), "alpha_inh"),
])
def test_export_refuses_what_nir_cannot_express(change, match):
    net = our_network(np.random.default_rng(0))
    change(net)
    with pytest.raises(sp.ConversionError, match=match):
        to_nir(net)


def test_import_refuses_unsupported_graphs(tmp_path):
    g = one_neuron_graph(nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0])))
    g.nodes["d"] = nir.Delay(delay=np.array([2.0]))
    g.edges = [("in", "w"), ("w", "d"), ("d", "n"), ("n", "out")]
    with pytest.raises(sp.ConversionError, match="node 'd': Delay is not supported"):
        from_nir(g, dt=1.0)
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(sp.ConversionError, match="bad.nir: not a readable NIR file"):
        read_nir(bad)
    g = one_neuron_graph(nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0])), {"reset": "zero"})
    with pytest.raises(sp.ConversionError, match="reset must be one of"):
        from_nir(g, dt=1.0)


def test_non_leaky_lif_is_written_as_if():
    net = sp.Network()
    net.input("in", (3,))
    net.population("n", sp.LIF(beta=1.0, v_threshold=0.75), (2,))
    net.connect("in", "n", sp.Linear(np.array([[0.5, 0.25, 0.0], [1.0, 0.0, -0.5]], np.float32)))
    graph = to_nir(net)
    assert type(graph.nodes["n"]).__name__ == "IF"
    back = from_nir(graph)
    x = spike_input(np.random.default_rng(3), (3,), steps=10, p=0.5)
    a, b = (sp.run(m, sp.spikes(x), record_membrane=True) for m in (net, back))
    assert np.array_equal(a.membrane_trace, b.membrane_trace) and a.output_spikes.sum() > 0
