"""The event-driven backend (numba) against the dense reference (torch), output by output.

With dyadic weights and parameters every current is exact in float32, so spikes of every population,
output spikes, membranes, membrane traces and all counts must be bit-identical. With arbitrary float32
weights the summation order differs and a spike that sits on the threshold may flip; the last test
measures how many do and bounds it.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import spiking as sp
from helpers import MODELS, RESETS, STIMULI, assert_identical, dyadic, random_neuron, random_stimulus, recordable, run_both

STEPS, BATCH = 8, 3


class Builder:
    """Adds populations with random dyadic neurons to a network (one model and reset unless given)."""

    def __init__(self, rng, model, reset):
        self.rng, self.model, self.reset = rng, model, reset
        self.net = sp.Network()

    def pop(self, name, shape, model=None, reset=None):
        neuron = random_neuron(self.rng, model or self.model, reset or self.reset, shape,
                               per_neuron=bool(self.rng.random() < 0.5), refractory=int(self.rng.integers(0, 3)))
        self.net.population(name, neuron, shape)
        return name

    def w(self, *shape, density=0.75):
        return dyadic(self.rng, shape, density)


# Each case builds a network and returns it with its input shape (None: no input population).
def case_linear(b):
    b.net.input("in", (6,)); b.pop("h", (5,)); b.pop("out", (4,))
    b.net.connect("in", "h", sp.Linear(b.w(5, 6)))
    b.net.connect("h", "out", sp.Linear(b.w(4, 5)))
    return (6,)


def case_sparse(b):
    b.net.input("in", (6,)); b.pop("h", (5,)); b.pop("out", (4,))
    b.net.connect("in", "h", sp.Sparse.from_dense(b.w(5, 6, density=0.5)))
    b.net.connect("h", "out", sp.Sparse.from_dense(b.w(4, 5, density=0.5)))
    return (6,)


def case_conv_stride_padding(b):
    b.net.input("in", (2, 6, 6)); b.pop("c", (4, 3, 3)); b.pop("out", (3,))
    b.net.connect("in", "c", sp.Conv2d(b.w(4, 2, 3, 3), stride=2, padding=1))
    b.net.connect("c", "out", [sp.Flatten(), sp.Linear(b.w(3, 36))])
    return (2, 6, 6)


def case_conv_groups(b):
    b.net.input("in", (4, 5, 5)); b.pop("c1", (4, 5, 5)); b.pop("c2", (4, 4, 3))
    b.net.connect("in", "c1", sp.Conv2d(b.w(4, 2, 3, 3), padding=1, groups=2))
    b.net.connect("c1", "c2", sp.Conv2d(b.w(4, 1, 2, 3), stride=(1, 2), padding=(0, 1), groups=4))
    return (4, 5, 5)


def case_avgpool_tiling(b):
    b.net.input("in", (2, 6, 6)); b.pop("p", (2, 3, 3))
    b.net.connect("in", "p", sp.AvgPool2d(2))
    return (2, 6, 6)


def case_sumpool_overlapping(b):
    b.net.input("in", (2, 6, 6)); b.pop("p", (2, 3, 3))
    b.net.connect("in", "p", sp.SumPool2d(3, stride=2, padding=1))
    return (2, 6, 6)


def case_avgpool_overlapping(b):
    b.net.input("in", (1, 5, 5)); b.pop("p", (1, 6, 6)); b.pop("q", (1, 5, 5))
    b.net.connect("in", "p", sp.AvgPool2d(2, stride=1, padding=1))
    b.net.connect("p", "q", sp.SumPool2d((2, 2), stride=1))
    return (1, 5, 5)


def case_pool_conv(b):
    b.net.input("in", (2, 8, 8)); b.pop("c", (3, 4, 4))
    b.net.connect("in", "c", [sp.SumPool2d(2), sp.Conv2d(b.w(3, 2, 3, 3), padding=1)])
    return (2, 8, 8)


def case_pool_conv_cropped_strided_groups(b):
    # 9x9 input: the last row and column fall outside the 2x2 tiling and reach nothing.
    b.net.input("in", (2, 9, 9)); b.pop("c", (4, 2, 2))
    b.net.connect("in", "c", [sp.AvgPool2d(2), sp.Conv2d(b.w(4, 1, 3, 3), stride=2, padding=1, groups=2)])
    return (2, 9, 9)


def case_pool_flatten_linear(b):
    b.net.input("in", (2, 5, 5)); b.pop("out", (6,))
    b.net.connect("in", "out", [sp.AvgPool2d(2), sp.Flatten(), sp.Linear(b.w(6, 8))])
    return (2, 5, 5)


def case_pool_flatten_sparse(b):
    b.net.input("in", (2, 6, 6)); b.pop("out", (5,))
    b.net.connect("in", "out", [sp.SumPool2d(2), sp.Flatten(), sp.Sparse.from_dense(b.w(5, 18, density=0.4))])
    return (2, 6, 6)


def case_flatten_alone(b):
    b.net.input("in", (2, 3, 3)); b.pop("f", (18,)); b.pop("out", (4,))
    b.net.connect("in", "f", sp.Flatten())
    b.net.connect("f", "out", sp.Linear(b.w(4, 18)))
    return (2, 3, 3)


def case_residual(b):
    b.net.input("in", (6,)); b.pop("h1", (5,)); b.pop("h2", (5,)); b.pop("out", (4,))
    b.net.connect("in", "h1", sp.Linear(b.w(5, 6)))
    b.net.connect("h1", "h2", sp.Linear(b.w(5, 5)))
    b.net.connect("in", "h2", sp.Sparse.from_dense(b.w(5, 6, density=0.5)))
    b.net.connect("h1", "out", sp.Linear(b.w(4, 5)))
    b.net.connect("h2", "out", sp.Linear(b.w(4, 5)))
    return (6,)


def case_recurrent_self(b):
    b.net.input("in", (6,)); b.pop("h", (5,)); b.pop("out", (4,))
    b.net.connect("in", "h", sp.Linear(b.w(5, 6)))
    b.net.connect("h", "h", sp.Linear(b.w(5, 5)))
    b.net.connect("h", "out", sp.Linear(b.w(4, 5)))
    b.net.connect("out", "out", sp.Sparse.from_dense(b.w(4, 4, density=0.5)), delay=2)
    return (6,)


def case_recurrent_backward(b):
    b.net.input("in", (6,)); b.pop("h1", (5,)); b.pop("h2", (4,))
    b.net.connect("in", "h1", sp.Linear(b.w(5, 6)))
    b.net.connect("h1", "h2", sp.Linear(b.w(4, 5)))
    b.net.connect("h2", "h1", sp.Linear(b.w(5, 4)))
    b.net.connect("h2", "h1", sp.Linear(b.w(5, 4)), delay=2)
    return (6,)


def case_feedforward_delays(b):
    b.net.input("in", (6,)); b.pop("h", (5,)); b.pop("out", (4,))
    b.net.connect("in", "h", sp.Linear(b.w(5, 6)), delay=2)
    b.net.connect("h", "out", sp.Linear(b.w(4, 5)), delay=1)
    b.net.connect("in", "out", sp.Linear(b.w(4, 6)), delay=3)
    return (6,)


def case_conv_recurrent(b):
    b.net.input("in", (1, 5, 5)); b.pop("c", (2, 5, 5)); b.pop("out", (3,))
    b.net.connect("in", "c", sp.Conv2d(b.w(2, 1, 3, 3), padding=1))
    b.net.connect("c", "c", sp.Conv2d(b.w(2, 2, 3, 3, density=0.4), padding=1))
    b.net.connect("c", "out", [sp.Flatten(), sp.Linear(b.w(3, 50))])
    return (1, 5, 5)


def case_second_current(b):
    b.net.input("in", (6,)); b.pop("h", (5,), model="CubaLIF"); b.pop("out", (4,), model="CubaLIF")
    b.net.connect("in", "h", sp.Linear(b.w(5, 6)))
    b.net.connect("in", "h", sp.Sparse.from_dense(b.w(5, 6, density=0.5)), receptor="inh", name="in->h inh")
    b.net.connect("h", "out", sp.Linear(b.w(4, 5)))
    b.net.connect("out", "h", sp.Linear(b.w(5, 4)), receptor="inh")
    return (6,)


def case_no_input(b):
    b.pop("a", (4,)); b.pop("b", (3,))
    b.net.connect("a", "b", sp.Linear(b.w(3, 4)))
    b.net.connect("b", "a", sp.Linear(b.w(4, 3)))
    return None


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def build(case, model, reset, seed):
    b = Builder(np.random.default_rng(seed), model, reset)
    in_shape = CASES[case](b)
    return b.net, in_shape, b.rng


NEURON_COMBOS = [(m, r) for m in MODELS for r in RESETS]


@pytest.mark.parametrize("stim_kind", STIMULI)
@pytest.mark.parametrize("case", sorted(CASES))
def test_event_matches_dense_cases(case, stim_kind):
    """Each case meets all nine (model, reset) pairs over its four stimuli; it must spike to mean something."""
    total_spikes = 0
    s = STIMULI.index(stim_kind)
    for k in range(3):
        model, reset = NEURON_COMBOS[(3 * s + k) % len(NEURON_COMBOS)]
        net, in_shape, rng = build(case, model, reset, seed=[sorted(CASES).index(case), s, k])
        if in_shape is None:
            ev, de = run_both(net, None, steps=STEPS, batch=BATCH)
        else:
            ev, de = run_both(net, random_stimulus(rng, stim_kind, STEPS, BATCH, in_shape), steps=STEPS)
        assert_identical(ev, de)
        total_spikes += sum(int(r.sum()) for name, r in ev.recorded.items() if not net.populations[name].is_input)
    assert total_spikes > 0


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("reset", RESETS)
def test_event_matches_dense_every_neuron(model, reset):
    """Every model and reset on a network with residual, recurrent and delayed projections, every stimulus."""
    for s, stim_kind in enumerate(STIMULI):
        for c, case in enumerate(("residual", "recurrent_self", "recurrent_backward", "feedforward_delays")):
            net, in_shape, rng = build(case, model, reset, seed=[s, c, 99])
            ev, de = run_both(net, random_stimulus(rng, stim_kind, 12, 2, in_shape), steps=12)
            assert_identical(ev, de)


def test_compiled_plan_reused_across_runs():
    """A plan compiled once gives, run after run, what a fresh compile and the dense backend give."""
    net, in_shape, rng = build("conv_recurrent", "CubaLIF", "subtract", seed=5)
    plan = sp.compile_network(net)
    for kind in STIMULI:
        stim = random_stimulus(rng, kind, STEPS, BATCH, in_shape)
        reused = sp.run(net, stim, STEPS, plan=plan, record=recordable(net, stim), record_membrane=True)
        ev, de = run_both(net, stim, steps=STEPS)
        assert_identical(reused, de)
        assert_identical(reused, ev)


def test_constant_currents_held_equal_the_same_currents_every_step():
    """A constant stimulus is delivered once per sample and held (``kernels.network.run_sample``);
    the same currents given per step take the per-step path. Both, and the dense backend, agree."""
    rng = np.random.default_rng(11)
    net = sp.Network()
    net.input("in", (2, 5, 5))
    net.population("a", sp.CubaLIF(alpha=0.5, alpha_inh=0.25, beta=0.75, v_threshold=0.75), (3, 5, 5))
    net.population("b", sp.IF(v_threshold=0.5, bias=0.0625), (6,))
    net.connect("in", "a", sp.Conv2d(dyadic(rng, (3, 2, 3, 3)), padding=1))
    net.connect("in", "a", sp.Conv2d(dyadic(rng, (3, 2, 3, 3), max_k=128), padding=1), receptor="inh", delay=2)
    net.connect("in", "b", [sp.Flatten(), sp.Linear(dyadic(rng, (6, 50)))], delay=1)
    net.connect("a", "b", [sp.Flatten(), sp.Linear(dyadic(rng, (6, 75)))])
    x = dyadic(rng, (3, 2, 5, 5), 0.6, 512)
    steps = 9
    held, dense = run_both(net, sp.currents(x), steps=steps)
    per_step, _ = run_both(net, sp.currents(np.broadcast_to(x, (steps,) + x.shape).copy(), per_step=True))
    assert held.counts.spikes[:, 1:].sum() > 0
    assert_identical(held, dense)
    assert_identical(per_step, held)


# ---- property tests over random small networks ----

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def flat_networks(draw):
    """Chains of Linear/Sparse populations with random skips, recurrences and delays, mixed neuron models."""
    b = Builder(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), None, None)
    has_input = draw(st.sampled_from([True, True, True, False]))
    names = []
    if has_input:
        names.append(b.net.input("in", (draw(st.integers(1, 6)),)))
    for k in range(draw(st.integers(1, 3))):
        names.append(b.pop(f"h{k}", (draw(st.integers(1, 6)),), draw(st.sampled_from(sorted(MODELS))),
                           draw(st.sampled_from(RESETS))))

    def link(pre, post, delay):
        n_pre, n_post = b.net.populations[pre].size, b.net.populations[post].size
        w = b.w(n_post, n_pre, density=draw(st.sampled_from([0.3, 0.75, 1.0])))
        b.net.connect(pre, post, sp.Sparse.from_dense(w) if draw(st.booleans()) else sp.Linear(w), delay=delay)

    for pre, post in zip(names, names[1:]):
        link(pre, post, draw(st.integers(0, 2)))
    for _ in range(draw(st.integers(0, 3))):
        pre, post = draw(st.sampled_from(names)), draw(st.sampled_from(names[has_input:]))
        backward = b.net.rank(pre) >= b.net.rank(post)
        link(pre, post, draw(st.integers(1, 2) if backward else st.integers(0, 2)))
    b.net.output = draw(st.sampled_from(names[has_input:]))
    return b.net, ((b.net.populations["in"].shape,) if has_input else (None,))[0], b.rng


def _pool(draw, tiling: bool):
    """A pooling op with exact float32 scale: SumPool2d of any size, AvgPool2d over 1, 2, 4 or 8 cells."""
    if draw(st.booleans()):
        k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        cls = sp.SumPool2d
    else:
        k = draw(st.sampled_from([(1, 1), (1, 2), (2, 1), (2, 2), (2, 4)]))
        cls = sp.AvgPool2d
    if tiling:
        return cls(k)
    stride = (draw(st.integers(1, k[0])), draw(st.integers(1, k[1])))
    return cls(k, stride=stride, padding=(draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2))))


def _conv(draw, b, c_in):
    groups = draw(st.sampled_from([g for g in (1, 2) if c_in % g == 0]))
    c_out = groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return sp.Conv2d(b.w(c_out, c_in // groups, *k), stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                     padding=(draw(st.integers(0, 1)), draw(st.integers(0, 1))), groups=groups)


@st.composite
def conv_networks(draw):
    """An image input through convolution, pooling (alone, overlapping, or tiling before weights) and Flatten."""
    b = Builder(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), None, None)
    in_shape = (draw(st.integers(1, 2)), draw(st.integers(2, 7)), draw(st.integers(2, 7)))
    b.net.input("in", in_shape)
    kind = draw(st.sampled_from(["conv", "pool", "pool+conv", "pool+flatten+linear", "pool+flatten+sparse",
                                 "flatten"]))
    if kind == "conv":
        ops = [_conv(draw, b, in_shape[0])]
    elif kind == "pool":
        ops = [_pool(draw, tiling=False)]
    elif kind == "pool+conv":
        ops = [_pool(draw, tiling=True), _conv(draw, b, in_shape[0])]
    elif kind == "flatten":
        ops = [sp.Flatten()]
    else:
        ops = [_pool(draw, tiling=True), sp.Flatten()]
    shape = in_shape
    try:
        for op in ops:
            shape = op.output_shape(shape)
    except sp.ValidationError:
        assume(False)  # the kernel does not fit this input
    if kind.endswith("linear") or kind.endswith("sparse"):
        n_out = draw(st.integers(1, 5))
        w = b.w(n_out, shape[0], density=0.6)
        ops.append(sp.Linear(w) if kind.endswith("linear") else sp.Sparse.from_dense(w))
        shape = (n_out,)
    model, reset = draw(st.sampled_from(sorted(MODELS))), draw(st.sampled_from(RESETS))
    b.pop("a", shape, model, reset)
    b.net.connect("in", "a", ops)
    if len(shape) == 3 and draw(st.booleans()):
        # a recurrent "same" convolution on the feature map
        b.net.connect("a", "a", sp.Conv2d(b.w(shape[0], shape[0], 3, 3, density=0.4), padding=1),
                      delay=draw(st.integers(1, 2)))
    if draw(st.booleans()):
        n = draw(st.integers(1, 4))
        b.pop("out", (n,), draw(st.sampled_from(sorted(MODELS))), draw(st.sampled_from(RESETS)))
        size = int(np.prod(shape))
        b.net.connect("a", "out", ([sp.Flatten()] if len(shape) > 1 else []) + [sp.Linear(b.w(n, size))],
                      delay=draw(st.integers(0, 1)))
    return b.net, in_shape, b.rng


def _check_random(data, net_rng_shape):
    net, in_shape, rng = net_rng_shape
    steps, batch = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 3))
    if in_shape is None:
        ev, de = run_both(net, None, steps=steps, batch=batch)
    else:
        stim = random_stimulus(rng, data.draw(st.sampled_from(STIMULI)), steps, batch, in_shape)
        ev, de = run_both(net, stim, steps=steps)
    assert_identical(ev, de)


@PROPERTY
@given(st.data(), flat_networks())
def test_event_matches_dense_random_flat_networks(data, net_shape_rng):
    _check_random(data, net_shape_rng)


@PROPERTY
@given(st.data(), conv_networks())
def test_event_matches_dense_random_conv_networks(data, net_shape_rng):
    _check_random(data, net_shape_rng)


# ---- arbitrary float32 weights: summation order may flip a spike that sits on the threshold ----

def _float_net(seed):
    """100 Poisson inputs -> 200 recurrent LIF -> 50 LIF, normal float32 weights, beta 0.9 (not dyadic)."""
    rng = np.random.default_rng(seed)
    net = sp.Network()
    net.input("in", (100,))
    net.population("h", sp.LIF(beta=0.9), (200,))
    net.population("out", sp.LIF(beta=0.9), (50,))
    net.connect("in", "h", sp.Linear(rng.normal(0, 0.3, (200, 100))))
    net.connect("h", "h", sp.Linear(rng.normal(0, 0.05, (200, 200))))
    net.connect("h", "out", sp.Linear(rng.normal(0, 0.3, (50, 200))))
    return net, sp.poisson(rng.random((16, 100)) * 0.3, 50, seed=seed)


def test_float32_weights_differ_only_at_threshold_ties():
    """Measured (seeds 38-40, 3 x 16 samples x 50 steps, 141,675 spikes): 52 % of membrane values
    differ in the last bits (at most 5.7e-6 where no spike differs), and exactly one spike flips, in
    seed 39, sample 11, step 28, where the event membrane is 1.0000002 and the dense one 1.0 against
    threshold 1.0; through the recurrence it becomes 127 differing spike entries in that sample (0.09 %
    of all spikes); every other sample is spike-identical. The bounds below are about twice that."""
    differing, total, membranes_differ, membranes, affected = 0, 0, 0, 0, 0
    for seed in (38, 39, 40):
        net, stim = _float_net(seed)
        runs = {}
        for name in ("h", "out"):
            net.output = name
            runs[name] = [sp.run(net, stim, backend=b, record=["h", "out"], record_membrane=True)
                          for b in ("event", "dense")]
        ev, de = runs["out"]
        flips = {n: ev.recorded[n] != de.recorded[n] for n in ("h", "out")}
        differing += sum(int(f.sum()) for f in flips.values())
        total += sum(int(ev.recorded[n].sum()) for n in ("h", "out"))
        for name in ("h", "out"):
            a, b = runs[name][0].membrane_trace, runs[name][1].membrane_trace
            membranes_differ += int((a != b).sum())
            membranes += a.size
        for sample in range(stim.batch):
            steps_h = np.flatnonzero(flips["h"][:, sample].any(axis=1))
            steps_o = np.flatnonzero(flips["out"][:, sample].any(axis=1))
            if not len(steps_h) and not len(steps_o):
                for name in ("h", "out"):   # no spike differs: membranes differ by rounding only
                    a, b = runs[name][0].membrane_trace[:, sample], runs[name][1].membrane_trace[:, sample]
                    assert np.abs(a - b).max() < 1e-4
                continue
            affected += 1
            # The first flip comes from rounding alone: in 'h' if 'h' flips first (or together, as 'out'
            # hears 'h' within the step), else in 'out'. There the membranes straddle the threshold 1.0
            # within a few float32 ulps.
            first_h = steps_h[0] if len(steps_h) else np.inf
            first_o = steps_o[0] if len(steps_o) else np.inf
            name, t = ("h", first_h) if first_h <= first_o else ("out", first_o)
            t = int(t)
            for i in np.flatnonzero(flips[name][t, sample]):
                for run in runs[name]:
                    assert abs(float(run.membrane_trace[t, sample, i]) - 1.0) <= 1e-6
    assert membranes_differ > 0.3 * membranes, "membranes should differ in the last bits, else this test is moot"
    assert total > 100_000
    assert differing <= 0.002 * total, f"{differing} of {total} spikes differ"
    assert affected <= 2
