"""Every refusal raises a ValidationError (a SpikingError) whose message names the layer and what was expected."""
import re

import numpy as np
import pytest

import spiking as sp
from spiking import SpikingError, ValidationError


def test_validation_error_is_a_spiking_error():
    assert issubclass(ValidationError, SpikingError)


def small_net():
    net = sp.Network()
    net.input("in", (4,))
    net.population("h", sp.LIF(), (3,))
    net.connect("in", "h", sp.Linear(np.ones((3, 4))), name="in->h")
    return net


def raises(match):
    return pytest.raises(ValidationError, match=match)


# ---- weights and ops ----

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("make,name", [
    (lambda w: sp.Linear(w), "Linear"),
    (lambda w: sp.Sparse.from_dense(w), "Sparse"),
    (lambda w: sp.Conv2d(w.reshape(1, 1, 2, 2)), "Conv2d"),
])
def test_non_finite_weights(make, name, bad):
    w = np.ones((2, 2), np.float32)
    w[1, 0] = bad
    with raises(f"{name}: weight contains NaN or infinite"):
        make(w)


def test_sparse_non_finite_values_and_bad_structure():
    with raises("Sparse: values contain NaN"):
        sp.Sparse(2, [0, 1], [0], [np.nan])
    with raises("Sparse: pre_ptr must start at 0"):
        sp.Sparse(2, [1, 2], [0], [1.0])
    with raises("Sparse: pre_ptr must start at 0, never decrease"):
        sp.Sparse(2, [0, 2, 1], [0, 1], [1.0, 1.0])
    with raises(r"Sparse: post indices must lie in \[0, 2\)"):
        sp.Sparse(2, [0, 1], [2], [1.0])
    with raises("Sparse: post .* and values .* differ in shape"):
        sp.Sparse(2, [0, 1], [0], [1.0, 2.0])


def test_weight_dimensions():
    with raises("Linear: weight must have 2 non-empty dimensions"):
        sp.Linear(np.ones(3))
    with raises("Conv2d: weight must have 4 non-empty dimensions"):
        sp.Conv2d(np.ones((3, 3)))
    with raises(r"Conv2d: weight must have 4 non-empty dimensions, got shape \(2, 1, 0, 0\)"):
        sp.Conv2d(np.ones((2, 1, 0, 0)))       # a 0x0 kernel would make a (2, 4, 4) output of a 3x3 input
    with raises("Linear: weight must have 2 non-empty dimensions"):
        sp.Linear(np.ones((0, 4)))


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_post=2.5, pre_ptr=[0, 1], post=[1], values=[1.0]), r"n_post must be a whole number in \[1, 2\*\*62\], got 2.5"),
    (dict(n_post=0, pre_ptr=[0, 0], post=[], values=[]), "n_post must be a whole number"),
    (dict(n_post=3, pre_ptr=[0, 2, 2], post=[[0, 1], [2, 0]], values=[[1, 1], [1, 1]]), "post must be a 1-D array"),
    (dict(n_post=3, pre_ptr=[0, 1], post=[1.7], values=[1.0]), "post must be a 1-D array of whole numbers"),
    (dict(n_post=3, pre_ptr=[0.5, 1], post=[1], values=[1.0]), "pre_ptr must be a 1-D array of whole numbers"),
])
def test_sparse_indices_are_whole_numbers(kwargs, message):
    with raises(f"Sparse: {message}"):
        sp.Sparse(**kwargs)


def test_ops_and_neurons_keep_their_own_copy_of_arrays():
    w, thr = np.ones((2, 4), np.float32), np.ones(2)
    op, neuron = sp.Linear(w), sp.IF(v_threshold=thr)
    w[:] = np.nan                                  # changed after the checks: the op and neuron must not see it
    thr[:] = -5
    assert np.isfinite(op.weight).all() and (neuron.v_threshold == 1).all()
    with pytest.raises(ValueError, match="read-only"):
        op.weight[0, 0] = np.nan


def test_conv_and_pool_parameters():
    for stride in (0, 1.5, np.inf, (1, 2, 3)):
        with raises("Conv2d stride must be "):
            sp.Conv2d(np.ones((1, 1, 3, 3)), stride=stride)
    with raises(r"Conv2d padding must be a whole number in \[0, 2\*\*62\], got -1"):
        sp.Conv2d(np.ones((1, 1, 3, 3)), padding=-1)
    with raises("Conv2d: 3 output channels do not divide into 2 groups"):
        sp.Conv2d(np.ones((3, 1, 3, 3)), groups=2)
    for groups in (0, 2.5, np.inf):
        with raises(r"Conv2d groups must be a whole number in \[1, 2\*\*62\]"):
            sp.Conv2d(np.ones((2, 1, 3, 3)), groups=groups)
    with raises(r"SumPool2d kernel_size must be a whole number in \[1, 2\*\*62\], got 0"):
        sp.SumPool2d(0)
    with raises(r"AvgPool2d: padding \(2, 2\) must be at most half the kernel"):
        sp.AvgPool2d(3, padding=2)


# ---- shapes ----

def test_projection_output_shape_must_match_population():
    net = small_net()
    net.population("o", sp.IF(), (5,))
    with raises(r"projection 'h->o': ops produce shape \(2,\) but 'o' has shape \(5,\)"):
        net.connect("h", "o", sp.Linear(np.ones((2, 3))))


def test_projection_input_shape_must_match_op():
    net = small_net()
    net.population("o", sp.IF(), (2,))
    with raises(r"projection 'h->o': Linear expects input shape \(4,\), got \(3,\)"):
        net.connect("h", "o", sp.Linear(np.ones((2, 4))))


def test_conv_needs_an_image_and_must_fit():
    net = sp.Network()
    net.input("img", (2, 3, 3))
    net.population("c", sp.IF(), (1, 1, 1))
    with raises(r"projection 'img->c': Conv2d expects input shape \(1, H, W\), got \(2, 3, 3\)"):
        net.connect("img", "c", sp.Conv2d(np.ones((1, 1, 3, 3))))
    with raises(r"projection 'img->c': Conv2d: kernel \(5, 5\) does not fit input"):
        net.connect("img", "c", sp.Conv2d(np.ones((1, 2, 5, 5))))


def test_unflattened_image_into_flat_population_suggests_flatten():
    net = sp.Network()
    net.input("img", (1, 2, 2))
    net.population("o", sp.IF(), (4,))
    with raises("projection 'img->o': ops produce shape .*add Flatten"):
        net.connect("img", "o", sp.SumPool2d(1))


@pytest.mark.parametrize("make,expected", [
    (lambda: sp.spikes(np.zeros((3, 1, 5))), r"input 'in' has shape \(4,\), stimulus has shape \(5,\)"),
    (lambda: sp.currents(np.zeros((2, 2, 2))), r"input 'in' has shape \(4,\), stimulus has shape \(2, 2\)"),
])
def test_stimulus_shape(make, expected):
    with raises(expected):
        sp.run(small_net(), make(), steps=3)


def test_stimulus_rank():
    with raises(r"spikes must have shape \[T, B, ...\]"):
        sp.spikes(np.zeros((3, 4)))
    with raises(r"currents must have shape \[B, ...\]"):
        sp.currents(np.zeros(4))
    with raises(r"per-step currents must have shape \[T, B, ...\]"):
        sp.currents(np.zeros((3, 4)), per_step=True)


@pytest.mark.parametrize("shape", [(3, 0), (2.7,), (np.inf,), 2 ** 64])
def test_population_shape(shape):
    with raises(r"population 'h': shape must be a whole number in \[1, 2\*\*62\]"):
        sp.Network().population("h", sp.IF(), shape)     # (2.7,) would have become (2,)
    with raises("population 'h': shape must be non-empty positive integers"):
        sp.Network().population("h", sp.IF(), ())


# ---- delays and cycles ----

def test_negative_and_fractional_delays():
    net = small_net()
    net.population("o", sp.IF(), (3,))
    for delay in (-1, 1.5, np.inf, 2 ** 63):
        with raises(rf"projection 'h->o': delay must be a whole number in \[0, 2\*\*62\], got {delay!r}"):
            net.connect("h", "o", sp.Linear(np.ones((3, 3))), delay=delay)


@pytest.mark.parametrize("pre,post", [("h", "h"), ("o", "h")])
def test_recurrent_projection_needs_a_delay(pre, post):
    net = small_net()
    net.population("o", sp.IF(), (3,))
    with raises(f"projection '{pre}->{post}': '{pre}' does not come before '{post}'.*needs delay >= 1, got 0"):
        net.connect(pre, post, sp.Linear(np.ones((3, 3))), delay=0)


# ---- neuron parameters ----

@pytest.mark.parametrize("model", [sp.IF, sp.LIF, sp.CubaLIF])
@pytest.mark.parametrize("value,expected", [
    (0.0, "v_threshold must be > 0"), (-1.0, "v_threshold must be > 0"), (np.nan, "v_threshold contains NaN"),
    (np.array([1.0, 0.0]), "v_threshold must be > 0"),
])
def test_threshold(model, value, expected):
    with raises(f"{model.__name__}: {expected}"):
        model(v_threshold=value)


@pytest.mark.parametrize("key", ["beta", "alpha"])
@pytest.mark.parametrize("value", [-0.5, 1.5, np.array([0.5, 2.0])])
def test_decay_outside_unit_interval(key, value):
    with raises(rf"CubaLIF: {key} must lie in \[0, 1\]"):
        sp.CubaLIF(**{key: value})


@pytest.mark.parametrize("value", [1.5, -1, np.array([1, 0.5]), 1e19])
def test_refractory_must_be_whole_steps(value):
    with raises(r"LIF: refractory must be a whole number of steps in \[0, 2\*\*62\]"):
        sp.LIF(refractory=value)             # 1e19 would wrap around in the kernels' int64 countdown


@pytest.mark.parametrize("key", ["bias", "v_init", "v_reset", "v_leak"])
def test_non_finite_parameters(key):
    with raises(f"LIF: {key} contains NaN"):
        sp.LIF(**{key: np.nan})
    with raises(f"LIF: {key} must be finite in float32"):
        sp.LIF(**{key: np.inf})
    with raises(f"LIF: {key} must be finite in float32"):
        sp.LIF(**{key: 1e300})               # finite in float64, infinite in the runtime's float32


def test_missing_parameter():
    # None becomes NaN under np.asarray(..., float64); the message still names the model and parameter.
    with raises("LIF: beta"):
        sp.LIF(beta=None)


def test_string_parameter():
    with raises("LIF: beta must be a number or a numeric array"):
        sp.LIF(beta="fast")


@pytest.mark.parametrize("reset", ["zero", "reset", "", None])
def test_unknown_reset(reset):
    with raises(r"IF: reset must be one of \('subtract', 'hard', 'none'\)"):
        sp.IF(reset=reset)


@pytest.mark.parametrize("shape", [(4,), (3, 2), (6, 1), (1, 2, 3)])
def test_per_neuron_parameter_of_wrong_shape(shape):
    expected = f"population 'h': beta has shape {shape}, expected a scalar, (2, 3) or (6,)"
    with raises(re.escape(expected)):
        sp.Network().population("h", sp.LIF(beta=np.full(shape, 0.5)), (2, 3))
    for good in [(2, 3), (6,)]:      # the shapes the message offers are accepted
        sp.Network().population("h", sp.LIF(beta=np.full(good, 0.5)), (2, 3))


def test_neuron_must_be_a_model():
    with raises("population 'h': neuron must be IF, LIF or CubaLIF, got str"):
        sp.Network().population("h", "LIF", (3,))


# ---- names and graph structure ----

def test_duplicate_names():
    net = small_net()
    with raises("population 'h' already exists"):
        net.population("h", sp.IF(), (3,))
    with raises("population 'in' already exists"):
        net.population("in", sp.IF(), (3,))
    with raises("projection 'in->h' already exists"):
        net.connect("in", "h", sp.Linear(np.ones((3, 4))), name="in->h")


def test_bad_population_names_and_ends():
    net = small_net()
    with raises("population name must be a non-empty string without '/'"):
        net.population("a/b", sp.IF(), (3,))
    with raises("population name must be a non-empty string"):
        net.population("", sp.IF(), (3,))
    with raises("projection 'h->nowhere': no population named 'nowhere'"):
        net.connect("h", "nowhere", sp.Linear(np.ones((3, 3))))
    with raises("projection 'h->in': 'in' is an input and cannot receive projections"):
        net.connect("h", "in", sp.Linear(np.ones((4, 3))))
    with raises("input 'in2': the network already has an input population"):
        net.input("in2", (4,))


def test_pool_after_weights():
    net = sp.Network()
    net.input("img", (1, 4, 4))
    net.population("p", sp.IF(), (1, 2, 2))
    with raises("projection 'img->p': pooling after weights is not supported"):
        net.connect("img", "p", [sp.Conv2d(np.ones((1, 1, 1, 1))), sp.SumPool2d(2)])


@pytest.mark.parametrize("pool", [sp.SumPool2d(2, stride=1), sp.AvgPool2d(2, padding=1), sp.SumPool2d(3, stride=2)])
def test_overlapping_pool_before_weights(pool):
    net = sp.Network()
    net.input("img", (1, 6, 6))
    net.population("o", sp.IF(), (2,))
    with raises("projection 'img->o': pooling before weights must tile its input"):
        net.connect("img", "o", [pool, sp.Flatten(), sp.Linear(np.ones((2, 1)))])


def test_more_than_one_weighted_op_or_unknown_op():
    net = small_net()
    net.population("o", sp.IF(), (3,))
    with raises("projection 'h->o': at most one pooling and one weighted op"):
        net.connect("h", "o", [sp.Linear(np.ones((3, 3))), sp.Linear(np.ones((3, 3)))])
    with raises("projection 'h->o': ndarray is not a projection op"):
        net.connect("h", "o", [np.ones((3, 3))])


def test_network_without_neurons_or_with_bad_output():
    net = sp.Network()
    net.input("in", (2,))
    with raises("network has no neuron population to run"):
        sp.run(net, sp.spikes(np.zeros((1, 1, 2))))
    net = small_net()
    net.output = "in"
    with raises("network output 'in' is not a neuron population"):
        sp.run(net, sp.spikes(np.zeros((1, 1, 4))))
    net.output = "missing"
    with raises("network output 'missing' is not a neuron population"):
        sp.compile_network(net)


# ---- stimuli ----

@pytest.mark.parametrize("value", [-1, 0.5, 2.25, 256])
def test_spikes_must_be_whole_counts(value):
    x = np.zeros((2, 1, 4), np.float32)
    x[1, 0, 2] = value
    with raises(r"spikes must be whole counts in \[0, 255\]"):
        sp.spikes(x)


def test_spikes_nan_and_dtype():
    with raises("spikes contain NaN or infinite values"):
        sp.spikes(np.full((1, 1, 2), np.nan))
    with raises("spikes must be numeric"):
        sp.spikes(np.full((1, 1, 2), "a"))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("per_step", [False, True])
def test_currents_non_finite(bad, per_step):
    x = np.zeros((2, 1, 4) if per_step else (1, 4))
    x.flat[3] = bad
    with raises("currents contain NaN or infinite values"):
        sp.currents(x, per_step=per_step)


def test_poisson_arguments():
    with raises(r"rates must be a \[B, ...\] array of probabilities in \[0, 1\]"):
        sp.poisson(np.full((1, 4), 1.5), 3)
    with raises(r"rates must be a \[B, ...\] array of probabilities"):
        sp.poisson(np.full((1, 4), np.nan), 3)
    for steps in (0, np.inf, 2 ** 64):
        with raises(rf"steps must be a whole number in \[1, 2\*\*62\], got {steps!r}"):
            sp.poisson(np.full((1, 4), 0.5), steps)


# ---- run arguments ----

@pytest.mark.parametrize("backend", ["numba", "Event", "", None])
def test_wrong_backend(backend):
    with raises(r"backend must be one of \('event', 'dense'\)"):
        sp.run(small_net(), sp.spikes(np.zeros((2, 1, 4))), backend=backend)


@pytest.mark.parametrize("backend", ["event", "dense"])
def test_record_unknown_population(backend):
    with raises("record: no population named 'hidden'"):
        sp.run(small_net(), sp.spikes(np.zeros((2, 1, 4))), backend=backend, record=["h", "hidden"])
    with raises("record: no population named 'hidden'"):
        sp.run(small_net(), sp.spikes(np.zeros((2, 1, 4))), backend=backend, record="hidden")


def test_run_argument_checks():
    net = small_net()
    stim = sp.spikes(np.zeros((3, 2, 4)))
    with raises("input 'in' needs a Stimulus"):
        sp.run(net, np.zeros((3, 2, 4)))
    with raises("input 'in' needs a Stimulus"):
        sp.run(net, None, steps=3)
    with raises("steps=4 but the stimulus has 3 steps"):
        sp.run(net, stim, steps=4)
    with raises("steps=4 but the stimulus has 1 steps"):      # one spike frame is not a constant input
        sp.run(net, sp.spikes(np.zeros((1, 2, 4))), steps=4)
    with raises("batch=1 but the stimulus has batch 2"):
        sp.run(net, stim, batch=1)
    with raises("steps must be given for a constant or absent stimulus"):
        sp.run(net, sp.currents(np.zeros((1, 4))))
    for steps in (0, 2.5, np.inf, np.nan):
        with raises(rf"steps must be a whole number in \[1, 2\*\*62\], got {steps!r}"):
            sp.run(net, sp.currents(np.zeros((1, 4))), steps=steps)
    free = sp.Network()
    free.population("a", sp.IF(bias=0.5), (2,))
    with raises("network has no input population but a stimulus was given"):
        sp.run(free, stim)
    for batch in (0, np.inf):
        with raises(rf"batch must be a whole number in \[1, 2\*\*62\], got {batch!r}"):
            sp.run(free, steps=2, batch=batch)


@pytest.mark.parametrize("backend", ["event", "dense"])
def test_a_plan_runs_only_the_network_it_was_prepared_from(backend):
    from spiking.runtime.dense import DenseReference

    prepare = sp.compile_network if backend == "event" else DenseReference
    net = small_net()
    stim = sp.spikes(np.ones((3, 1, 4)))
    plan = prepare(net)
    fresh = sp.run(net, stim, backend=backend).membrane
    np.testing.assert_array_equal(sp.run(net, stim, backend=backend, plan=plan).membrane, fresh)
    wider = sp.Network()                           # same names, a wider input: its plan would read past the stimulus
    wider.input("in", (400,))
    wider.population("h", sp.LIF(), (3,))
    wider.connect("in", "h", sp.Linear(np.ones((3, 400))), name="in->h")
    twin = small_net()                             # same layout, another network
    other_kind = DenseReference(net) if backend == "event" else sp.compile_network(net)
    for other in (prepare(wider), prepare(twin), other_kind, "plan"):
        with raises("plan must be .* of this network"):
            sp.run(net, stim, backend=backend, plan=other)
    net.population("extra", sp.LIF(), (2,))        # changed after preparing
    net.connect("h", "extra", sp.Linear(np.ones((2, 3))), name="h->extra")
    with raises("prepared after its populations and projections last changed"):
        sp.run(net, stim, backend=backend, plan=plan)


def test_recording_an_analog_input_is_refused():
    net = sp.Network()
    net.input("in", (2,))
    net.population("n", sp.IF(), (1,))
    net.connect("in", "n", sp.Linear(np.ones((1, 2))))
    with raises("record: 'in' is fed analog currents"):
        sp.run(net, sp.currents(np.array([[-1.5, 2.75]])), 3, record=["in"])


@pytest.mark.parametrize("override,message", [
    (dict(index=np.array([0, 5])), r"indices must lie in \[0, 4\)"),
    (dict(ptr=np.array([0, 2, 2]), index=np.array([3, 3])), "increase strictly within each row"),
    (dict(ptr=np.array([0, 2, 1])), "non-decreasing offsets"),
    (dict(value=np.array([1.0, np.nan])), "NaN"),
    (dict(value=np.array([1.0, 0.5])), "whole numbers"),
])
def test_hand_built_stimulus_is_checked(override, message):
    # Rows are samples here (one step, two samples); the kernels would index with these unchecked.
    fields = dict(steps=1, batch=2, shape=(4,), ptr=np.array([0, 1, 2]), index=np.array([0, 3]),
                  value=np.array([1.0, 2.0]), analog=False)
    sp.Stimulus(**fields)
    with raises(message):
        sp.Stimulus(**{**fields, **override})


def test_a_stimulus_keeps_its_own_checked_arrays():
    index, ptr = np.array([0, 3]), np.array([0, 1, 2])
    stim = sp.Stimulus(1, 2, (4,), ptr, index, np.array([1.0, 2.0]), analog=False)
    index[1], ptr[1] = 10 ** 12, 10 ** 9           # after the checks: the kernel would read and write far away
    np.testing.assert_array_equal(stim.index, [0, 3])
    np.testing.assert_array_equal(stim.ptr, [0, 1, 2])
    with pytest.raises(ValueError, match="read-only"):
        stim.index[1] = 10 ** 12
    net = small_net()
    np.testing.assert_array_equal(sp.run(net, stim, 1).membrane, sp.run(net, sp.spikes([[[1, 0, 0, 0], [0, 0, 0, 2]]]), 1).membrane)


@pytest.mark.parametrize("make,shape", [
    (lambda: sp.spikes(np.ones((3, 0, 4))), r"\(3, 0, 4\)"),
    (lambda: sp.spikes(np.ones((0, 1, 4))), r"\(0, 1, 4\)"),
    (lambda: sp.currents(np.ones((0, 4))), r"\(0, 4\)"),
    (lambda: sp.poisson(np.full((0, 4), 0.5), 3), r"\(3, 0, 4\)"),
])
def test_a_stimulus_needs_a_step_a_sample_and_a_neuron(make, shape):
    with raises(f"need at least one step, sample and neuron, got shape {shape}"):
        make()


def test_receptor_must_be_known_and_fit_the_neuron():
    net = sp.Network()
    net.input("in", (2,))
    net.population("lif", sp.LIF(), (1,))
    net.population("cuba", sp.CubaLIF(), (1,))
    with raises("receptor must be one of"):
        net.connect("in", "cuba", sp.Linear(np.ones((1, 2))), receptor="gaba")
    with raises("receptor 'inh' needs a CubaLIF population, 'lif' is LIF"):
        net.connect("in", "lif", sp.Linear(np.ones((1, 2))), receptor="inh")
