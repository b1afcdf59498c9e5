"""The integer (fixed-point) runtime mode: FixedLIF updates by hand, bit-exact agreement of the
event and dense backends on arbitrary integer weights, and the mapping of float networks to it."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spiking as sp
from spiking.compress import fixed_point
from spiking.network import Conv2d, Flatten, Linear, MaxPool2d, Sparse, SumPool2d
from spiking.neurons import FixedLIF

BACKENDS = ("event", "dense")


def _single(neuron: FixedLIF, weight: int) -> sp.Network:
    net = sp.Network()
    net.input("in", (1,))
    net.population("n", neuron, (1,))
    net.connect("in", "n", Linear(np.array([[weight]], np.float32)))
    return net


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_update_by_hand(backend):
    # u = d(u, 2048) + I + 1 (halves toward zero); v = d(v, 1024) + u - r * 10 (3/4 toward zero)
    net = _single(FixedLIF(v_threshold=10, decay_v=1024, decay_u=2048, bias=1), 3)
    x = np.array([4, 0, 0, -8, 0], np.float32).reshape(5, 1, 1)
    result = sp.run(net, sp.currents(x, per_step=True), backend=backend, record=("n",), record_membrane=True)
    # t0: u = 13, v = 13 > 10 spikes
    # t1: u = 6 + 1 = 7 (6.5 -> 6), v = 9 + 7 - 10 = 6 (9.75 -> 9)
    # t2: u = 3 + 1 = 4, v = 4 + 4 = 8 (4.5 -> 4)
    # t3: u = 2 - 24 + 1 = -21, v = 6 - 21 = -15
    # t4: u = -10 + 1 = -9 (-10.5 -> -10), v = -11 - 9 = -20 (-11.25 -> -11)
    assert result.membrane_trace.reshape(-1).tolist() == [13, 6, 8, -15, -20]
    assert result.recorded["n"].reshape(-1).tolist() == [1, 0, 0, 0, 0]
    assert result.membrane.dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_hard_reset_and_no_decay_by_hand(backend):
    net = _single(FixedLIF(v_threshold=5, reset="hard", v_reset=-2, v_init=3), 2)
    x = np.array([1, 1, 1, 1], np.float32).reshape(4, 1, 1)
    result = sp.run(net, sp.currents(x, per_step=True), backend=backend, record=("n",), record_membrane=True)
    # v: 3 + 2 = 5 (not > 5); 7 spikes; reset to -2, + 2 = 0; 2
    assert result.membrane_trace.reshape(-1).tolist() == [5, 7, 0, 2]
    assert result.recorded["n"].reshape(-1).tolist() == [0, 1, 0, 0]


def test_fixed_neuron_validation():
    with pytest.raises(sp.ValidationError, match="whole numbers"):
        FixedLIF(v_threshold=1.5)
    with pytest.raises(sp.ValidationError, match=r"decay_v must lie in \[0, 4096\]"):
        FixedLIF(decay_v=5000)
    with pytest.raises(sp.ValidationError, match="refractory"):
        FixedLIF(refractory=2)
    assert FixedLIF(decay_v=1024).params()["beta"] == 0.75


def test_fixed_networks_reject_what_integers_cannot_run():
    net = sp.Network()
    net.input("in", (1, 4, 4))
    net.population("a", FixedLIF(v_threshold=3), (1, 4, 4))
    net.connect("in", "a", Conv2d(np.ones((1, 1, 1, 1), np.float32)))
    net.population("b", sp.IF(), (4,))
    net.connect("a", "b", [sp.AvgPool2d(2), Flatten(), Linear(np.ones((4, 4), np.float32))])
    with pytest.raises(sp.ValidationError, match="float neurons but others are FixedLIF"):
        sp.compile_network(net)
    for backend in BACKENDS:
        ok = _single(FixedLIF(v_threshold=3), 2)
        with pytest.raises(sp.ValidationError, match="whole-number input"):
            sp.run(ok, sp.currents(np.array([[0.5]], np.float32)), 3, backend=backend)
        with pytest.raises(sp.ValidationError, match="whole-number weights"):
            sp.run(_single(FixedLIF(v_threshold=3), 0.5), sp.currents(np.array([[1.0]])), 3, backend=backend)
    avg = sp.Network()
    avg.input("in", (1, 4, 4))
    avg.population("b", FixedLIF(v_threshold=3), (4,))
    avg.connect("in", "b", [sp.AvgPool2d(2), Flatten(), Linear(np.ones((4, 4), np.float32))])
    with pytest.raises(sp.ValidationError, match="AvgPool2d scales by a fraction"):
        sp.compile_network(avg)


@pytest.mark.parametrize("scale", [0, -1, np.inf, np.nan])
def test_fixed_point_needs_a_finite_positive_input_scale(scale):
    net = sp.Network()
    net.input("in", (2,))
    net.population("a", sp.IF(), (1,))
    net.connect("in", "a", Linear(np.ones((1, 2), np.float32)))
    with pytest.raises(sp.SpikingError, match="input_scale must be finite and > 0"):
        fixed_point(net, 8, input_scale=scale)     # inf would round every input weight to 0


@st.composite
def fixed_networks(draw):
    """A random integer network: a convolution, then a pool (sum or max) with Linear or Sparse
    weights, then a readout; weights of any size up to 2^15, any decays, thresholds and resets."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    mag = 2 ** draw(st.integers(2, 15))
    analog = draw(st.booleans())

    def neuron(shape, spiking=True):
        per = draw(st.booleans())
        size = int(np.prod(shape))

        def pick(lo, hi):
            return rng.integers(lo, hi, size).reshape(shape) if per else int(rng.integers(lo, hi))

        return FixedLIF(v_threshold=pick(mag // 2, 4 * mag) if spiking else np.inf,
                        reset=draw(st.sampled_from(["subtract", "hard", "none"])) if spiking else "none",
                        v_reset=pick(-mag // 4, 1), bias=pick(-mag // 8, mag // 8 + 1),
                        v_init=pick(-mag // 2, mag // 2),
                        decay_v=pick(0, 4097), decay_u=pick(0, 4097))

    net = sp.Network()
    net.input("in", (2, 8, 8))
    groups = draw(st.sampled_from([1, 2]))
    net.population("c", neuron((4, 6, 6)), (4, 6, 6))
    w = rng.integers(-mag, mag + 1, (4, 2 // groups, 3, 3)) * (rng.random((4, 2 // groups, 3, 3)) < draw(
        st.sampled_from([0.05, 0.5, 1.0])))
    net.connect("in", "c", Conv2d(w.astype(np.float32), groups=groups))
    pool = draw(st.sampled_from([SumPool2d(2), MaxPool2d(2)]))
    wl = rng.integers(-mag, mag + 1, (10, 36)) * (rng.random((10, 36)) < 0.5)
    weighted = Linear(wl.astype(np.float32)) if draw(st.booleans()) else Sparse.from_dense(wl)
    net.population("h", neuron((10,)), (10,))
    net.connect("c", "h", [pool, Flatten(), weighted])
    net.population("out", neuron((3,), spiking=draw(st.booleans())), (3,))
    net.connect("h", "out", Linear(rng.integers(-mag, mag + 1, (3, 10)).astype(np.float32)))
    steps = 12
    if analog:
        stim = sp.currents(rng.integers(-255, 256, (steps, 2, 2, 8, 8)).astype(np.float32), per_step=True)
    else:
        stim = sp.spikes((rng.random((steps, 2, 2, 8, 8)) < 0.4).astype(np.uint8))
    return net, stim


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fixed_networks())
def test_event_matches_dense_bit_for_bit_in_fixed_point(case):
    net, stim = case
    runs = [sp.run(net, stim, backend=b, record=("c", "h"), record_membrane=True) for b in BACKENDS]
    a, b = runs
    for name in ("c", "h"):
        assert np.array_equal(a.recorded[name], b.recorded[name])
    assert np.array_equal(a.membrane_trace, b.membrane_trace) and a.membrane_trace.dtype == np.int64
    assert np.array_equal(a.output_spikes, b.output_spikes)
    assert a.counts == b.counts


def _float_net(rng, w1, w2, bias):
    net = sp.Network()
    net.input("in", (2,))
    net.population("h", sp.IF(v_threshold=1.0, v_init=0.5, bias=bias), (2,))
    net.connect("in", "h", Linear(w1))
    net.population("out", sp.IF(v_threshold=np.inf, reset="none"), (2,))
    net.connect("h", "out", Linear(w2))
    return net


def test_fixed_point_mapping_by_hand():
    w1 = np.array([[0.5, -0.25], [0.125, 0.25]], np.float32)
    w2 = np.array([[2.0, -1.0], [0.5, 1.0]], np.float32)
    net = _float_net(None, w1, w2, np.array([0.1, 0.0]))
    fixed = fixed_point(net, 8)
    # layer h: unit 0.5 / 127; weights [[127, -63.5 -> -64], [31.75 -> 32, 63.5 -> 64]], threshold 254,
    # v_init 127, bias 0.1 * 254 = 25.4 -> 25
    h = fixed.populations["h"].neuron
    assert fixed.projections["in->h"].ops[0].weight.tolist() == [[127, -64], [32, 64]]
    assert (int(h.v_threshold), int(h.v_init), h.bias.tolist(), int(h.decay_v), int(h.decay_u)) == \
        (254, 127, [25, 0], 0, 4096)
    assert fixed.projections["h->out"].ops[0].weight.tolist() == [[127, -64], [32, 64]]
    assert np.isinf(fixed.populations["out"].neuron.v_threshold)
    # per channel: row 1 of w1 has its own unit 0.25 / 127: [63.5 -> 64, 127], threshold 508
    fixed = fixed_point(net, 8, per_channel=True)
    assert fixed.projections["in->h"].ops[0].weight.tolist() == [[127, -64], [64, 127]]
    assert fixed.populations["h"].neuron.v_threshold.tolist() == [254, 508]
    # the readout keeps one unit, so that its membranes compare
    assert fixed.projections["h->out"].ops[0].weight.tolist() == [[127, -64], [32, 64]]
    # input_scale: one input unit is 1/255 of the float input, so the threshold is 255 times larger
    assert int(fixed_point(net, 4, input_scale=255).populations["h"].neuron.v_threshold) == round(255 * 14)


@pytest.mark.parametrize("per_channel", [False, True])
def test_fixed_point_of_arbitrary_float_weights_agrees_across_backends_and_with_float(per_channel):
    rng = np.random.default_rng(5)
    net = sp.Network()
    net.input("in", (1, 10, 10))
    bias = rng.normal(0, 0.05, (3, 1, 1)).repeat(8, 1).repeat(8, 2)
    net.population("c", sp.IF(v_threshold=1.0, v_init=0.5, bias=bias), (3, 8, 8))
    net.connect("in", "c", Conv2d(rng.normal(0, 0.3, (3, 1, 3, 3)).astype(np.float32)))
    net.population("h", sp.IF(v_threshold=1.0, v_init=0.5), (12,))
    net.connect("c", "h", [sp.AvgPool2d(2), Flatten(), Linear(rng.normal(0, 0.3, (12, 48)).astype(np.float32))])
    net.population("out", sp.IF(v_threshold=np.inf, reset="none"), (4,))
    net.connect("h", "out", Linear(rng.normal(0, 0.5, (4, 12)).astype(np.float32)))
    x = rng.random((20, 1, 10, 10)).astype(np.float32)
    fixed = fixed_point(net, 8, per_channel=per_channel, input_scale=255)
    stim = sp.currents(np.round(x * 255))
    a, b = (sp.run(fixed, stim, 32, backend=backend, record=("c", "h"), record_membrane=True) for backend in BACKENDS)
    assert np.array_equal(a.recorded["h"], b.recorded["h"]) and a.counts == b.counts
    assert np.array_equal(a.membrane, b.membrane)
    # 8 bits keep the float network's spikes nearly everywhere and its answers
    ref = sp.run(net, sp.currents(np.round(x * 255) / 255), 32, record=("c", "h"))
    for name in ("c", "h"):
        assert np.abs(a.recorded[name].sum(0).astype(int) - ref.recorded[name].sum(0)).mean() < 0.5
    assert (a.membrane.argmax(1) == ref.membrane.argmax(1)).mean() >= 0.9


def test_fixed_networks_save_and_load_exactly(tmp_path):
    net = _single(FixedLIF(v_threshold=300, decay_v=512, decay_u=1024, bias=3, reset="hard"), 70)
    sp.save(net, tmp_path / "fixed.h5")
    back = sp.load(tmp_path / "fixed.h5")
    assert back == net
    stim = sp.spikes(np.ones((12, 1, 1), np.uint8))
    np.testing.assert_array_equal(sp.run(back, stim).membrane, sp.run(net, stim).membrane)
