"""Neuron semantics: membrane and spike sequences worked out by hand, and parity with snnTorch's Leaky.

The update (``spiking.neurons``, ``../shared/reference/neuron-semantics.md`` section 1): the reset of
a spike at step t lands at step t+1 (snnTorch's default ``reset_delay=True``), so the stored membrane
stays above threshold on the step it spikes; the threshold is strict (``v > v_threshold``).
Every hand-computed value below is a dyadic number, exact in float32.
"""
import numpy as np
import pytest
import torch

import spiking as sp
from helpers import drive, dyadic, single_neuron

BACKENDS = ("event", "dense")


def trace(net, stim, steps=None, backend="event", batch=None):
    """(membrane after each step, spikes at each step) of the output neuron, batch sample 0."""
    res = sp.run(net, stim, steps, batch=batch, backend=backend, record=[net.output_name], record_membrane=True)
    return res.membrane_trace[:, 0].ravel().tolist(), res.recorded[net.output_name][:, 0].ravel().tolist()


# IF, threshold 1, input 0.5, 0.75, 0.5, 0, 0.25, 0.125.
IF_INPUT = [0.5, 0.75, 0.5, 0.0, 0.25, 0.125]
IF_CASES = {
    # subtract: 0.5; 1.25 > 1 spikes and is stored unreset; next step 1.25 + 0.5 - 1 = 0.75; 0.75;
    # 1.0 is not > 1 (strict threshold); 1.125 spikes.
    "subtract": ([0.5, 1.25, 0.75, 0.75, 1.0, 1.125], [0, 1, 0, 0, 0, 1]),
    # hard to v_reset 0: after the spike at step 1 the membrane restarts from 0: 0.5, 0.5, 0.75, 0.875.
    "hard": ([0.5, 1.25, 0.5, 0.5, 0.75, 0.875], [0, 1, 0, 0, 0, 0]),
    # none: never reset; every step above 1 spikes.
    "none": ([0.5, 1.25, 1.75, 1.75, 2.0, 2.125], [0, 1, 1, 1, 1, 1]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", sorted(IF_CASES))
def test_if_resets_by_hand(reset, backend):
    v, s = trace(single_neuron(sp.IF(v_threshold=1.0, reset=reset)), drive(IF_INPUT), backend=backend)
    assert (v, s) == IF_CASES[reset]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hard_reset_to_nonzero_v_reset(backend):
    # Same input, v_reset -0.25: step 2 is -0.25 + 0.5 = 0.25, then 0.25, 0.5, 0.625.
    v, s = trace(single_neuron(sp.IF(reset="hard", v_reset=-0.25)), drive(IF_INPUT), backend=backend)
    assert (v, s) == ([0.5, 1.25, 0.25, 0.25, 0.5, 0.625], [0, 1, 0, 0, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_is_delayed_one_step_like_snntorch(backend):
    # The spiking step stores the unreset membrane (1.25 > threshold); the subtraction appears at the
    # next step together with that step's input: 1.25 + 0 - 1 = 0.25.
    v, s = trace(single_neuron(sp.IF()), drive([1.25, 0.0, 0.0]), backend=backend)
    assert v == [1.25, 0.25, 0.25] and s == [1, 0, 0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_leak_subtract_by_hand(backend):
    # beta 0.5, no v_leak: 0 * 0.5 + 1 = 1.0 (not > 1); 0.5 + 1 = 1.5 spikes; 0.75 + 1 - 1 = 0.75;
    # 0.375; 0.1875.
    v, s = trace(single_neuron(sp.LIF(beta=0.5)), drive([1, 1, 1, 0, 0]), backend=backend)
    assert (v, s) == ([1.0, 1.5, 0.75, 0.375, 0.1875], [0, 1, 0, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_v_leak_and_hard_reset_by_hand(backend):
    # v = 0.25 + 0.5 (v - 0.25) + I, hard reset to 0.25:
    # t0: 0.25 + 0.5 * (0 - 0.25) + 1 = 1.125 spikes; t1: reset, 0.25 + 0.5 * 0 + 1 = 1.25 spikes;
    # t2: reset, 0.25 + 0 + 0 = 0.25; t3: stays at v_leak.
    neuron = sp.LIF(beta=0.5, v_leak=0.25, reset="hard", v_reset=0.25)
    v, s = trace(single_neuron(neuron), drive([1, 1, 0, 0]), backend=backend)
    assert (v, s) == ([1.125, 1.25, 0.25, 0.25], [1, 1, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_lif_v_init_decays_to_v_leak(backend):
    # v_init 1.0 is not above threshold 1; v = 0.25 + 0.5 (v - 0.25): 0.625, 0.4375, 0.34375.
    neuron = sp.LIF(beta=0.5, v_leak=0.25, v_init=1.0)
    v, s = trace(single_neuron(neuron), drive([0, 0, 0]), backend=backend)
    assert (v, s) == ([0.625, 0.4375, 0.34375], [0, 0, 0])


REFRACTORY_CASES = {
    # IF, refractory 2, constant input 0.75. t0 0.75; t1 1.5 spikes; t2, t3 refractory: held at the
    # reset value (1.5 - 1 = 0.5), no integration; t4 0.5 + 0.75 = 1.25 spikes; t5, t6 held at 0.25;
    # t7 1.0 (not > 1); t8 1.75 spikes.
    "subtract": ([0.75, 1.5, 0.5, 0.5, 1.25, 0.25, 0.25, 1.0, 1.75], [0, 1, 0, 0, 1, 0, 0, 0, 1]),
    # hard: held at v_reset 0, then 0.75, 1.5 spikes, held at 0 ...
    "hard": ([0.75, 1.5, 0.0, 0.0, 0.75, 1.5, 0.0, 0.0, 0.75], [0, 1, 0, 0, 0, 1, 0, 0, 0]),
    # none: held at the spiking value, cannot spike while refractory.
    "none": ([0.75, 1.5, 1.5, 1.5, 2.25, 2.25, 2.25, 3.0, 3.0], [0, 1, 0, 0, 1, 0, 0, 1, 0]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", sorted(REFRACTORY_CASES))
def test_refractory_by_hand(reset, backend):
    net = single_neuron(sp.IF(reset=reset, refractory=2))
    v, s = trace(net, sp.currents(np.array([[0.75]])), steps=9, backend=backend)
    assert (v, s) == REFRACTORY_CASES[reset]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cuba_synaptic_current_by_hand(backend):
    # alpha = beta = 0.5, one input spike at t0 through weight 1.5.
    # syn: 1.5, 0.75, 0.375, 0.1875.  v: 1.5 spikes; 0.75 + 0.75 - 1 = 0.5; 0.25 + 0.375 = 0.625;
    # 0.3125 + 0.1875 = 0.5.
    net = single_neuron(sp.CubaLIF(alpha=0.5, beta=0.5), weight=1.5)
    v, s = trace(net, sp.spikes(np.array([1, 0, 0, 0]).reshape(4, 1, 1)), backend=backend)
    assert (v, s) == ([1.5, 0.5, 0.625, 0.5], [1, 0, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_cuba_synaptic_current_runs_through_refractory(backend):
    # alpha = beta = 0.5, refractory 1, input spikes of weight 1 at t0, t1, t2.
    # syn: 1, 1.5, 1.75, 0.875.  v: t0 1.0 (not > 1); t1 0.5 + 1.5 = 2.0 spikes; t2 refractory, held
    # at 2.0 - 1 = 1.0 while syn keeps integrating; t3 0.5 * 1.0 + 0.875 = 1.375 spikes.
    net = single_neuron(sp.CubaLIF(alpha=0.5, beta=0.5, refractory=1))
    v, s = trace(net, sp.spikes(np.array([1, 1, 1, 0]).reshape(4, 1, 1)), backend=backend)
    assert (v, s) == ([1.0, 2.0, 1.0, 1.375], [0, 1, 0, 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_drives_a_network_without_input(backend):
    # IF, bias 0.25, no input population: 0.25, 0.5, 0.75, 1.0, 1.25 spikes, 1.25 + 0.25 - 1 = 0.5, 0.75.
    net = sp.Network()
    net.population("n", sp.IF(bias=0.25), (1,))
    v, s = trace(net, None, steps=7, batch=2, backend=backend)
    assert (v, s) == ([0.25, 0.5, 0.75, 1.0, 1.25, 0.5, 0.75], [0, 0, 0, 0, 1, 0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_neuron_parameters_apply_per_neuron(backend):
    # Three IF neurons, same input 0.75 each step, thresholds 0.5, 1.0 and 2.5:
    # neuron 0: 0.75 spikes, 0.75 + 0.75 - 0.5 = 1.0 spikes, 1.25 spikes.
    # neuron 1: 0.75, 1.5 spikes, 1.25 spikes.  neuron 2: 0.75, 1.5, 2.25 never spikes.
    net = sp.Network()
    net.input("in", (1,))
    net.population("n", sp.IF(v_threshold=np.array([0.5, 1.0, 2.5])), (3,))
    net.connect("in", "n", sp.Linear(np.ones((3, 1))))
    res = sp.run(net, sp.currents(np.array([[0.75]])), 3, backend=backend, record=["n"], record_membrane=True)
    assert res.membrane_trace[:, 0].tolist() == [[0.75, 0.75, 0.75], [1.0, 1.5, 1.5], [1.25, 1.25, 2.25]]
    assert res.recorded["n"][:, 0].tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "hard", "none"])
def test_infinite_threshold_is_a_non_spiking_readout(backend, reset):
    # v_threshold = +inf is documented as a non-spiking readout: the membrane integrates 0.75 per step.
    net = single_neuron(sp.IF(v_threshold=np.inf, reset=reset))
    v, s = trace(net, sp.currents(np.array([[0.75]])), steps=3, backend=backend)
    assert (v, s) == ([0.75, 1.5, 2.25], [0, 0, 0])


# ---- parity with snnTorch's Leaky (snntorch 1.0.0, init_hidden=False, reset_delay=True) ----

def _snntorch_mlp(weights, beta, threshold, mechanism, x):
    """Spikes and membranes per layer of Linear -> snn.Leaky stacks on spike input ``x[T, B, N]``."""
    snntorch = pytest.importorskip("snntorch")
    layers = []
    for w in weights:
        fc = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            fc.weight.copy_(torch.from_numpy(w))
        layers.append((fc, snntorch.Leaky(beta=beta, threshold=threshold, reset_mechanism=mechanism)))
    mems = [lif.reset_mem() for _, lif in layers]
    spk_out = [[] for _ in layers]
    mem_out = [[] for _ in layers]
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = torch.from_numpy(x[t]).float()
            for k, (fc, lif) in enumerate(layers):
                h, mems[k] = lif(fc(h), mems[k])
                spk_out[k].append(h.numpy().copy())
                mem_out[k].append(mems[k].numpy().copy())
    return [np.stack(s) for s in spk_out], [np.stack(m) for m in mem_out]


@pytest.mark.parametrize("mechanism,reset", [("subtract", "subtract"), ("zero", "hard")])
@pytest.mark.parametrize("beta,threshold", [(0.875, 1.0), (0.5, 0.75)])
def test_matches_snntorch_leaky(mechanism, reset, beta, threshold):
    rng = np.random.default_rng(7)
    sizes = [20, 16, 10]
    weights = [dyadic(rng, (sizes[k + 1], sizes[k]), density=0.8) for k in range(2)]
    x = (rng.random((25, 4, sizes[0])) < 0.35).astype(np.float32)
    spk_ref, mem_ref = _snntorch_mlp(weights, beta, threshold, mechanism, x)

    net = sp.Network()
    net.input("in", (sizes[0],))
    neuron = sp.LIF(beta=beta, v_threshold=threshold, reset=reset, v_reset=0.0)
    net.population("h1", neuron, (sizes[1],))
    net.population("h2", neuron, (sizes[2],))
    net.connect("in", "h1", sp.Linear(weights[0]))
    net.connect("h1", "h2", sp.Linear(weights[1]))
    stim = sp.spikes(x)
    assert sum(s.sum() for s in spk_ref) > 50, "the comparison needs spikes in both layers"
    assert all(s.sum() > 0 for s in spk_ref)
    for backend in BACKENDS:
        for k, name in enumerate(("h1", "h2")):
            net.output = name
            res = sp.run(net, stim, backend=backend, record=[name], record_membrane=True)
            assert np.array_equal(res.recorded[name], spk_ref[k].astype(np.uint8)), (backend, name)
            assert np.array_equal(res.membrane_trace, mem_ref[k]), (backend, name)
            assert np.array_equal(res.membrane, mem_ref[k][-1]), (backend, name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cubalif_second_current_by_hand(backend):
    # One input spike at step 0 reaches both currents: +1 into syn (alpha 0.5), -1 into syn_inh
    # (alpha_inh 0.25). Drive per step: 1 - 1 = 0, 0.5 - 0.25 = 0.25, 0.25 - 0.0625 = 0.1875;
    # with beta 1 and no leak the membrane is their running sum.
    net = sp.Network()
    net.input("in", (1,))
    net.population("n", sp.CubaLIF(v_threshold=np.inf, beta=1.0, alpha=0.5, alpha_inh=0.25), (1,))
    net.connect("in", "n", sp.Linear([[1.0]]))
    net.connect("in", "n", sp.Linear([[-1.0]]), receptor="inh", name="inh")
    x = np.zeros((3, 1, 1), np.uint8)
    x[0] = 1
    res = sp.run(net, sp.spikes(x), backend=backend, record_membrane=True)
    assert res.membrane_trace[:, 0, 0].tolist() == [0.0, 0.25, 0.4375]


def test_second_current_defaults_to_alpha():
    assert sp.CubaLIF(alpha=0.75).alpha_inh == 0.75
