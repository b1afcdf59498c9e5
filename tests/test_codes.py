"""Lossless int8 storage of weight rows (``spiking.runtime.codes``) and the event kernel that reads it.

Coding must rebuild every weight exactly or not happen at all; a network whose rows are coded must
run bit-identically to the dense reference, which never codes.
"""
import dataclasses

import numpy as np
import pytest

import spiking as sp
from helpers import STIMULI, assert_identical, random_neuron, random_stimulus, recordable, run_both
from spiking.compress.quantize import grid
from spiking.neurons import FixedLIF
from spiking.runtime.codes import int8_codes


def _rebuilt(coded):
    codes, scales, _ = coded
    assert codes.dtype == np.int8
    return codes.astype(scales.dtype) * scales


@pytest.mark.parametrize("bits", [8, 5, 4, 2])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantized_weights_are_coded_exactly(bits, per_channel):
    rng = np.random.default_rng(bits)
    w = rng.normal(size=(40, 300)).astype(np.float32)
    peak = np.abs(w).max(axis=1, keepdims=True) if per_channel else np.abs(w).max()
    q = np.ascontiguousarray(grid(w, bits, peak).T)
    coded = int8_codes(q)
    assert coded is not None
    assert np.array_equal(_rebuilt(coded), q)
    assert not coded[2], "products with a grid scale round, so they are not exact"


def test_multiples_of_a_power_of_two_are_coded_with_that_power():
    rng = np.random.default_rng(0)
    k = rng.integers(-100, 101, (50, 20))
    w = (k * 2.0 ** -14).astype(np.float32)
    codes, scales, exact = int8_codes(w)
    assert exact and np.array_equal(_rebuilt((codes, scales, exact)), w)
    assert set(np.log2(scales[np.abs(w).max(axis=0) > 0]).tolist()) <= set(range(-14, -6))


def test_zero_columns_and_small_integers():
    w = np.zeros((4, 3), np.float32)
    w[1, 2] = 3.0
    assert np.array_equal(_rebuilt(int8_codes(w)), w)
    ints = np.array([[127, -127, 0], [5, 0, -1]], np.int64)
    coded = int8_codes(ints)
    assert coded[1].dtype == np.int64 and coded[2] and np.array_equal(_rebuilt(coded), ints)


@pytest.mark.parametrize("case", ["float", "one ulp off", "range over 127 steps", "nan", "integer 128", "empty"])
def test_weights_off_any_grid_stay_uncoded(case):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(30, 8))
    w = np.ascontiguousarray(grid(w, 8, np.abs(w).max()).T)
    if case == "float":
        w = rng.normal(size=(30, 8)).astype(np.float32)
    elif case == "one ulp off":
        w[3, 4] = np.nextafter(w[3, 4], np.float32(np.inf))
    elif case == "range over 127 steps":
        w = np.array([[1.0, 0.5], [2.0 ** -8, 0.25]], np.float32)
    elif case == "nan":
        w[0, 0] = np.nan
    elif case == "integer 128":
        w = np.array([[128, 1]], np.int64)
    else:
        w = np.zeros((0, 3), np.float32)
    assert int8_codes(w) is None


def _weights(rng, shape, bits, dyadic):
    """Weights on a ``bits`` grid: powers of two per output (exact sums in float32), or the
    quantizer's grid (``spiking.compress.quantize``), with one scale per output or one in all."""
    if dyadic:
        top = 2 ** (bits - 1) - 1
        exponent = rng.integers(4, 9, (shape[0], 1))
        return (rng.integers(-top, top + 1, shape) * 2.0 ** -exponent).astype(np.float32)
    w = rng.normal(size=shape)
    return grid(w, bits, np.abs(w).max(axis=1, keepdims=True) if rng.random() < 0.5 else np.abs(w).max())


def _coded_net(rng, model, dyadic):
    """Input (2, 6, 6) -> AvgPool + Linear (4-bit) -> Linear (8-bit) -> Linear (6-bit), and a delayed
    recurrent Linear (3-bit): every projection is a DENSE one the compiler should store coded."""
    net = sp.Network()
    net.input("in", (2, 6, 6))
    for name, size in (("h1", 12), ("h2", 9), ("out", 5)):
        net.population(name, random_neuron(rng, model, "subtract", (size,), refractory=1), (size,))
    net.connect("in", "h1", [sp.AvgPool2d(2), sp.Flatten(), sp.Linear(_weights(rng, (12, 18), 4, dyadic) * 4)])
    net.connect("h1", "h2", sp.Linear(_weights(rng, (9, 12), 8, dyadic)))
    net.connect("h2", "out", sp.Linear(_weights(rng, (5, 9), 6, dyadic)))
    net.connect("h2", "h1", sp.Linear(_weights(rng, (12, 9), 3, dyadic)), delay=2)
    return net


def _all_coded(net):
    plan = sp.compile_network(net)
    assert (plan.proj_scale_off >= 0).all(), "every projection of this network should be stored coded"
    assert plan.proj_exact.all() == plan.proj_exact.any(), "the test networks are all powers of two or all grids"
    return plan


def _decoded(plan):
    """``plan`` with its coded rows stored as float32 values: the same sums, read without codes."""
    rows = []
    for q in range(len(plan.proj_kind)):
        n_post = plan.start[plan.proj_post[q] + 1] - plan.start[plan.proj_post[q]]
        scales = plan.code_scale[plan.proj_scale_off[q]:plan.proj_scale_off[q] + n_post]
        end = plan.proj_woff[q + 1] if q + 1 < len(plan.proj_woff) else len(plan.dense_codes)
        rows.append((plan.dense_codes[plan.proj_woff[q]:end].reshape(-1, n_post).astype(np.float32) * scales).ravel())
    return dataclasses.replace(plan, dense_w=np.concatenate(rows), dense_codes=np.zeros(0, np.int8),
                               proj_scale_off=np.full(len(plan.proj_kind), -1, np.int64),
                               proj_exact=np.zeros(len(plan.proj_kind), bool))


@pytest.mark.parametrize("stimulus", STIMULI)
@pytest.mark.parametrize("model", ["IF", "LIF", "CubaLIF"])
def test_coded_rows_run_identically_to_the_dense_reference(model, stimulus):
    rng = np.random.default_rng([STIMULI.index(stimulus), len(model)])
    net = _coded_net(rng, model, dyadic=True)
    assert _all_coded(net).proj_exact.all()
    stim = random_stimulus(rng, stimulus, 10, 3, (2, 6, 6))
    ev, de = run_both(net, stim, steps=10)
    assert_identical(ev, de)
    assert ev.counts.synaptic_events.sum() + ev.counts.effective_macs.sum() > 0


@pytest.mark.parametrize("stimulus", STIMULI + ("arbitrary currents",))
@pytest.mark.parametrize("dyadic", [False, True])
def test_coded_rows_sum_exactly_as_their_float_values(stimulus, dyadic):
    """Off powers of two, and with arbitrary float input, the float sums round, so the reference is
    the same kernel on float rows (which sums in the same order)."""
    rng = np.random.default_rng([len(stimulus), 7, dyadic])
    net = _coded_net(rng, "CubaLIF", dyadic=dyadic)
    plan = _all_coded(net)
    assert plan.proj_exact.all() == dyadic
    if stimulus == "arbitrary currents":
        stim = sp.currents(rng.normal(0.5, 1.0, (10, 3, 2, 6, 6)).astype(np.float32), per_step=True)
    else:
        stim = random_stimulus(rng, stimulus, 10, 3, (2, 6, 6))
    kw = dict(steps=10, record=recordable(net, stim), record_membrane=True)
    assert_identical(sp.run(net, stim, plan=plan, **kw), sp.run(net, stim, plan=_decoded(plan), **kw))


@pytest.mark.parametrize("magnitude", [100, 1000])
def test_fixed_point_rows_coded_or_not_match_the_dense_reference(magnitude):
    rng = np.random.default_rng(magnitude)
    net = sp.Network()
    net.input("in", (16,))
    net.population("h", FixedLIF(v_threshold=3 * magnitude, decay_v=300, decay_u=900), (20,))
    net.population("out", FixedLIF(v_threshold=2 * magnitude, reset="hard"), (4,))
    net.connect("in", "h", sp.Linear(rng.integers(-magnitude, magnitude + 1, (20, 16)).astype(np.float32)))
    net.connect("h", "out", sp.Linear(rng.integers(-magnitude, magnitude + 1, (4, 20)).astype(np.float32)))
    plan = sp.compile_network(net)
    assert (plan.proj_scale_off >= 0).all() == (magnitude <= 127)
    stim = sp.spikes((rng.random((12, 3, 16)) < 0.5).astype(np.uint8))
    ev, de = run_both(net, stim)
    assert_identical(ev, de)
    assert ev.output_spikes.sum() > 0


def test_the_runtime_benchmark_mlp_is_coded_and_its_full_precision_twin_is_not():
    from spiking.bench.models import mlp

    assert sp.compile_network(mlp(0)).proj_exact.all()
    assert (sp.compile_network(mlp(0, full_precision=True)).proj_scale_off == -1).all()
