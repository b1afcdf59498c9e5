"""Counts worked out by hand on small cases, and properties of the ledger over random input.

Definitions (``spiking.counts``, NeuroBench): a synaptic event is one presynaptic spike reaching one
non-zero synapse (a spike count of 2 is two spikes); analog input counts as effective MACs (non-zero
inputs times non-zero synapses); dense MACs count every synapse of the weighted op on its own input
(zero weights included, convolution borders exact); membrane updates count every neuron at step 0,
then the neurons whose membrane changed. Both backends must give the hand-computed figures.
"""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spiking as sp
from helpers import dyadic

BACKENDS = ("event", "dense")


def one_layer(in_shape, out_shape, ops, neuron=None, delay=None):
    net = sp.Network()
    net.input("in", in_shape)
    net.population("out", neuron or sp.IF(v_threshold=100.0), out_shape)
    net.connect("in", "out", ops, delay=delay, name="proj")
    return net


def events_per_step(net, stim, backend, steps=None):
    counts = sp.run(net, stim, steps, backend=backend).counts
    q = counts.projections.index("proj")
    return counts, counts.synaptic_events[:, q].tolist(), counts.effective_macs[:, q].tolist()


def spike_frames(steps, shape, where, batch=1):
    """A [T, B, *shape] spike tensor with ``where = {(t, b, *index): count}``."""
    x = np.zeros((steps, batch) + shape, np.uint8)
    for idx, n in where.items():
        x[idx] = n
    return x


# 3x3 kernels with some zero weights. Two output channels; nnz[dy, dx] = non-zero synapses of one
# input pixel at kernel offset (dy, dx), summed over the output channels:
#   channel 0 pattern   channel 1 pattern   nnz
#   1 0 1               0 0 0               1 0 1
#   0 1 0               1 1 1               1 2 1
#   1 1 0               0 0 1               1 1 1
CONV_W = np.array([[[[0.5, 0, -0.25], [0, 1, 0], [0.75, -1, 0]]],
                   [[[0, 0, 0], [0.125, 0.5, -0.5], [0, 0, 0.25]]]], np.float32)
CONV_SPIKES = {(0, 0, 0, 0, 0): 1, (0, 0, 0, 2, 2): 1, (0, 0, 0, 4, 1): 1, (0, 0, 0, 0, 4): 1,
               (1, 0, 0, 2, 2): 2, (2, 0, 0, 1, 3): 1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_events_by_hand_stride_1(backend):
    # 5x5 input, padding 1, stride 1: input pixel y reaches output row oy = y + 1 - dy, valid for
    # 0 <= oy <= 4; so row 0 uses dy in {0, 1}, row 4 uses dy in {1, 2}, inner rows all three (same for x).
    # t0: (0,0) corner: dy, dx in {0,1}: 1 + 0 + 1 + 2 = 4; (2,2) centre: all 9 offsets: 9;
    #     (4,1): dy in {1,2}, every dx: (1+2+1) + (1+1+1) = 7; (0,4): dy in {0,1}, dx in {1,2}: 0+1+2+1 = 4.
    #     Total 24.
    # t1: (2,2) with a spike count of 2: 2 * 9 = 18.
    # t2: (1,3) is inner in both axes: 9.
    net = one_layer((1, 5, 5), (2, 5, 5), sp.Conv2d(CONV_W, stride=1, padding=1))
    counts, events, macs = events_per_step(net, sp.spikes(spike_frames(3, (1, 5, 5), CONV_SPIKES)), backend)
    assert events == [24, 18, 9] and macs == [0, 0, 0]
    # Dense MACs: per axis, offset d meets 4, 5, 4 output positions (borders exact): 13 x 13 = 169
    # kernel placements per channel pair, times 2 output channels.
    assert counts.dense_macs[:, 0].tolist() == [338] * 3
    assert counts.spikes[:, 0].tolist() == [4, 2, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_events_by_hand_stride_2(backend):
    # Stride 2, padding 1, 3x3 output: oy = (y + 1 - dy) / 2 must be a whole number in [0, 2], so
    # even rows use dy = 1 only and odd rows dy in {0, 2} (same for columns).
    # t0: (0,0): nnz[1,1] = 2; (2,2): 2; (4,1): dy = 1, dx in {0,2}: 1 + 1 = 2; (0,4): 2.  Total 8.
    # t1: (2,2) counted twice: 4.
    # t2: (1,3): dy, dx in {0,2}: nnz[0,0] + nnz[0,2] + nnz[2,0] + nnz[2,2] = 1 + 1 + 1 + 1 = 4.
    net = one_layer((1, 5, 5), (2, 3, 3), sp.Conv2d(CONV_W, stride=2, padding=1))
    counts, events, macs = events_per_step(net, sp.spikes(spike_frames(3, (1, 5, 5), CONV_SPIKES)), backend)
    assert events == [8, 4, 4]
    # Dense MACs: per axis offsets 0, 1, 2 meet 2, 3, 2 output positions: 7 x 7 = 49, times 2 channels.
    assert counts.dense_macs[:, 0].tolist() == [98] * 3


# Linear weight[post, pre] with zeros: non-zero synapses per input column are 2, 0, 1, 2.
LIN_W = np.array([[0.5, 0, 0, 0.25],
                  [0, 0, 0, -1],
                  [1, 0, 0.5, 0]], np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_events_with_zero_weights_and_counts(backend):
    x = np.zeros((4, 2, 4), np.uint8)
    x[0, 0, [0, 1]] = 1       # sample 0, t0: 2 + 0 = 2
    x[1, 0, [2, 3]] = 1       # t1: 1 + 2 = 3
    x[2, 0, 0] = 2            # t2: a count of 2 at input 0: 2 * 2 = 4
    x[3, 0, :] = 1            # t3: 2 + 0 + 1 + 2 = 5
    x[0, 1, 3] = 1            # sample 1, t0: 2
    x[2, 1, 1] = 3            # t2: three spikes into a column of zeros: 0
    x[3, 1, 2] = 2            # t3: 2 * 1 = 2
    net = one_layer((4,), (3,), sp.Linear(LIN_W))
    counts, events, macs = events_per_step(net, sp.spikes(x), backend)
    assert events == [2 + 2, 3 + 0, 4 + 0, 5 + 2]
    assert macs == [0, 0, 0, 0]
    assert counts.dense_macs[:, 0].tolist() == [12 * 2] * 4          # every synapse, both samples
    assert counts.spikes[:, 0].tolist() == [3, 2, 5, 6]               # input spikes, counts included
    assert counts.totals()["synaptic_events"] == {"proj": 18}


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_counts_only_stored_non_zero_synapses(backend):
    # Sparse.from_dense drops the zeros, so the same hand figures as the Linear case hold; a Sparse
    # built with an explicit zero value must not count it either. Column 1 stores one zero synapse.
    sparse = sp.Sparse(3, np.array([0, 2, 3, 4, 6]), np.array([0, 2, 1, 2, 0, 1]),
                       np.array([0.5, 1, 0, 0.5, 0.25, -1], np.float32))
    assert np.array_equal(sparse.to_dense(), LIN_W)
    x = np.zeros((1, 1, 4), np.uint8)
    x[0, 0, :] = 1
    _, events, _ = events_per_step(one_layer((4,), (3,), sparse), sp.spikes(x), backend)
    assert events == [5]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pool", [sp.SumPool2d(2), sp.AvgPool2d(2)])
def test_pool_then_conv_events_by_hand(pool, backend):
    # 5x5 input, 2x2 tiling pool -> 2x2 map (row 4 and column 4 are in no window), then a 3x3
    # convolution with padding 1 -> 2x2 output. Pooled row 0 reaches output rows through dy in {0, 1},
    # pooled row 1 through dy in {1, 2} (same for columns). Kernel non-zeros:
    #   1 0 1
    #   0 1 1
    #   1 1 0
    # (0,0) -> pooled (0,0): w00 w01 w10 w11 = 1+0+0+1 = 2;  (3,2) -> (1,1): w11 w12 w21 w22 = 1+1+1+0 = 3;
    # (1,3) -> (0,1): w01 w02 w11 w12 = 0+1+1+1 = 3;         (4,4) -> no window: 0;
    # (2,0) -> (1,0): w10 w11 w20 w21 = 0+1+1+1 = 3.  Total 11.
    w = np.array([[[[0.5, 0, 0.25], [0, -1, 0.5], [0.75, 0.125, 0]]]], np.float32)
    net = one_layer((1, 5, 5), (1, 2, 2), [pool, sp.Conv2d(w, padding=1)])
    x = spike_frames(1, (1, 5, 5), {(0, 0, 0, 0, 0): 1, (0, 0, 0, 3, 2): 1, (0, 0, 0, 1, 3): 1,
                                    (0, 0, 0, 4, 4): 1, (0, 0, 0, 2, 0): 1})
    counts, events, _ = events_per_step(net, sp.spikes(x), backend)
    assert events == [11]
    # NeuroBench dense MACs of the convolution on its pooled 2x2 input: per axis 1 + 2 + 1 = 4, 4 x 4 = 16.
    assert counts.dense_macs[:, 0].tolist() == [16]


@pytest.mark.parametrize("backend", BACKENDS)
def test_analog_input_counts_macs_not_events(backend):
    net = one_layer((4,), (3,), sp.Linear(LIN_W))
    # constant current [0.5, 0, -2, 0]: non-zero inputs 0 and 2 reach 2 + 1 synapses, every step.
    counts, events, macs = events_per_step(net, sp.currents(np.array([[0.5, 0, -2, 0]])), backend, steps=3)
    assert macs == [3, 3, 3] and events == [0, 0, 0]
    assert counts.spikes[:, 0].tolist() == [0, 0, 0]        # analog input is not spikes
    # per-step currents: t0 inputs 0, 1, 3 are non-zero (magnitude ignored): 2 + 0 + 2 = 4; t1 all zero.
    per_step = np.array([[[0.5, 0.25, 0, 7.0]], [[0, 0, 0, 0]]], np.float32)
    _, events, macs = events_per_step(net, sp.currents(per_step, per_step=True), backend)
    assert macs == [4, 0] and events == [0, 0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_delayed_events_after_the_last_step_are_not_counted(backend):
    # Input 0 (2 non-zero synapses) spikes at every step; delay 2: the spike of step t arrives at t + 2.
    # With 3 steps only the spike of step 0 arrives (at step 2); those of steps 1 and 2 never do.
    net = one_layer((4,), (3,), sp.Linear(LIN_W), delay=2)
    x = np.zeros((3, 1, 4), np.uint8)
    x[:, 0, 0] = 1
    _, events, _ = events_per_step(net, sp.spikes(x), backend)
    assert events == [0, 0, 2]
    x5 = np.zeros((5, 1, 4), np.uint8)
    x5[:, 0, 0] = 1
    _, events, _ = events_per_step(net, sp.spikes(x5), backend)
    assert events == [0, 0, 2, 2, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_neuron_updates_are_neurons_times_steps_times_batch(backend):
    net = sp.Network()
    net.input("in", (1, 4, 4))
    net.population("c", sp.LIF(beta=0.5), (2, 4, 4))
    net.population("o", sp.IF(), (3,))
    net.connect("in", "c", sp.Conv2d(np.full((2, 1, 3, 3), 0.25, np.float32), padding=1))
    net.connect("c", "o", [sp.Flatten(), sp.Linear(np.full((3, 32), 0.125, np.float32))])
    counts = sp.run(net, sp.poisson(np.full((5, 1, 4, 4), 0.5), 7), backend=backend).counts
    assert counts.neuron_updates.tolist() == [[0, 32 * 5, 3 * 5]] * 7
    assert counts.totals()["neuron_updates"] == {"in": 0, "c": 32 * 7 * 5, "o": 3 * 7 * 5}


@pytest.mark.parametrize("backend", BACKENDS)
def test_membrane_updates_by_hand(backend):
    # IF, threshold 1; weight[post, pre] = [[1, 0], [0, 0.5], [0, 0]]; input 0 at t0 and t3, input 1 at t2.
    # t0: every neuron (NeuroBench counts all at the first step): 3; v = [1, 0, 0] (1 is not > 1).
    # t1: nothing changes: 0.     t2: neuron 1 -> 0.5: 1.     t3: neuron 0 -> 2, spikes: 1.
    # t4: neuron 0 resets to 2 - 1 = 1: 1.                    t5: nothing: 0.
    w = np.array([[1, 0], [0, 0.5], [0, 0]], np.float32)
    x = np.zeros((6, 1, 2), np.uint8)
    x[0, 0, 0] = x[3, 0, 0] = x[2, 0, 1] = 1
    net = one_layer((2,), (3,), sp.Linear(w), neuron=sp.IF())
    counts = sp.run(net, sp.spikes(x), backend=backend).counts
    assert counts.membrane_updates[:, 1].tolist() == [3, 0, 1, 1, 1, 0]
    assert counts.membrane_updates[:, 0].tolist() == [0] * 6        # the input has no membrane
    # With a bias every membrane moves every step.
    net = one_layer((2,), (3,), sp.Linear(w), neuron=sp.IF(bias=0.125))
    assert sp.run(net, sp.spikes(x), backend=backend).counts.membrane_updates[:, 1].tolist() == [3] * 6


# ---- properties of the ledger ----

def _ledger_net():
    rng = np.random.default_rng(3)
    net = sp.Network()
    net.input("in", (2, 6, 6))
    net.population("c", sp.LIF(beta=0.75, v_threshold=0.5), (4, 3, 3))
    net.population("o", sp.CubaLIF(alpha=0.5, beta=0.875, refractory=1), (5,))
    net.connect("in", "c", [sp.SumPool2d(2), sp.Conv2d(dyadic(rng, (4, 2, 3, 3), 0.6), padding=1)])
    net.connect("c", "o", [sp.Flatten(), sp.Sparse.from_dense(dyadic(rng, (5, 36), 0.5))])
    net.connect("o", "o", sp.Linear(dyadic(rng, (5, 5), 0.5)))
    return net


LEDGER_NET = _ledger_net()


def _stimulus(x, analog):
    return sp.currents(x, per_step=True) if analog else sp.spikes(x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(2, 4), steps=st.integers(1, 6), analog=st.booleans(),
       backend=st.sampled_from(BACKENDS))
def test_counts_invariant_to_batch_order_and_linear_in_duplication(seed, batch, steps, analog, backend):
    rng = np.random.default_rng(seed)
    shape = (steps, batch, 2, 6, 6)
    x = (dyadic(rng, shape, 0.5, 512) if analog else rng.integers(0, 3, shape) * (rng.random(shape) < 0.3))
    base = sp.run(LEDGER_NET, _stimulus(x, analog), backend=backend)
    perm = rng.permutation(batch)
    permuted = sp.run(LEDGER_NET, _stimulus(x[:, perm], analog), backend=backend)
    assert permuted.counts == base.counts
    assert np.array_equal(permuted.output_spikes, base.output_spikes[perm])
    assert np.array_equal(permuted.membrane, base.membrane[perm])
    doubled = sp.run(LEDGER_NET, _stimulus(np.concatenate([x, x], axis=1), analog), backend=backend).counts
    for key in ("synaptic_events", "effective_macs", "dense_macs", "spikes", "neuron_updates", "membrane_updates"):
        assert np.array_equal(getattr(doubled, key), 2 * getattr(base.counts, key)), key
    assert doubled.batch == 2 * batch


def test_combining_and_cutting_ledgers_refuses_what_does_not_fit():
    net = sp.Network()
    net.input("in", (2,))
    net.population("out", sp.IF(), (1,))
    net.connect("in", "out", sp.Linear(np.ones((1, 2))))
    short = sp.run(net, sp.spikes(np.ones((3, 1, 2), np.uint8))).counts
    long = sp.run(net, sp.spikes(np.ones((4, 2, 2), np.uint8))).counts
    assert sp.Counts.combine([long.head(3), short]) == sp.Counts.combine([short, long.head(3)])
    assert sp.Counts.combine([long.head(3), short]).batch == 3
    with pytest.raises(sp.ValidationError, match="differ in layers or steps"):
        sp.Counts.combine([short, long])
    for parts in ([], [short, 5]):
        with pytest.raises(sp.ValidationError, match="needs one or more Counts"):
            sp.Counts.combine(parts)
    for steps in (5, 2.5):
        with pytest.raises(sp.ValidationError, match=r"Counts.head: steps must be a whole number in \[1, 4\]"):
            long.head(steps)


@pytest.mark.parametrize("change,message", [
    (dict(batch=0), "batch must be a whole number in"),
    (dict(spikes="counts"), "spikes must be non-negative integers"),
    (dict(synaptic_events=-np.ones((3, 1), np.int64)), "synaptic_events must be non-negative integers"),
    (dict(dense_macs=np.ones((3, 1))), "dense_macs must be non-negative integers"),
    (dict(neuron_updates=np.ones((2, 2), np.int64)), r"neuron_updates must be .* of shape \[steps, 2\]"),
])
def test_a_ledger_is_checked(change, message):
    net = sp.Network()
    net.input("in", (2,))
    net.population("out", sp.IF(), (1,))
    net.connect("in", "out", sp.Linear(np.ones((1, 2))))
    counts = sp.run(net, sp.spikes(np.ones((3, 1, 2), np.uint8))).counts
    with pytest.raises(sp.ValidationError, match=f"Counts: {message}"):
        dataclasses.replace(counts, **change)
