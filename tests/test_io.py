"""HDF5 save/load: exact round trips, identical runs, atomic writes, and errors for tampered files."""
import os
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spiking
from spiking import (IF, LIF, AvgPool2d, Conv2d, CubaLIF, Flatten, FormatError, Linear, Network, Sparse, SumPool2d,
                     ValidationError, load, save)
from spiking.network import io
from spiking.neurons import NEURON_MODELS
from spiking.value import ByValue


def _w(rng, *shape):
    """Weights that are multiples of 1/64, so sums are exact in float32."""
    return (rng.integers(-24, 40, size=shape) / 64).astype(np.float32)


def dense_net() -> Network:
    """Every neuron model with scalar and per-neuron parameters; Linear and Sparse; recurrent and delayed."""
    rng = np.random.default_rng(1)
    net = Network()
    net.input("x", 6)
    net.population("h", LIF(beta=np.linspace(0.5, 0.95, 5).astype(np.float32), v_threshold=np.full(5, 0.75),
                            reset="hard", v_reset=-0.125, refractory=np.array([0, 1, 2, 0, 3]), bias=0.0625), 5)
    net.population("c", CubaLIF(alpha=0.5, beta=0.875, v_leak=np.arange(4) / 32, v_init=0.25, reset="none"), 4)
    net.population("i", IF(v_threshold=1.5, refractory=1), 4)
    net.connect("x", "h", Linear(_w(rng, 5, 6)))
    net.connect("h", "c", Sparse.from_dense(_w(rng, 4, 5) * (rng.random((4, 5)) < 0.5)))
    net.connect("h", "h", Linear(_w(rng, 5, 5)), name="h recurrent")
    net.connect("c", "h", Sparse.from_dense(_w(rng, 5, 4)), delay=2)
    net.connect("x", "c", Linear(_w(rng, 4, 6)), delay=3)
    net.connect("c", "i", Linear(_w(rng, 4, 4)))
    net.output = "c"
    return net


def conv_net() -> Network:
    """Conv2d with stride, padding and groups; AvgPool2d and SumPool2d; Flatten chains."""
    rng = np.random.default_rng(2)
    net = Network()
    net.input("img", (2, 8, 8))
    net.population("conv1", LIF(beta=0.75, v_threshold=np.full((4, 5, 8), 0.5)), (4, 5, 8))
    net.population("conv2", IF(reset="subtract"), (6, 2, 4))
    net.population("pool", LIF(beta=0.5), (6, 1, 2))
    net.population("flat", CubaLIF(beta=np.full(36, 0.9)), 36)
    net.population("out", LIF(beta=0.9375), 3)
    net.connect("img", "conv1", Conv2d(_w(rng, 4, 1, 3, 3), stride=(2, 1), padding=(2, 1), groups=2))
    net.connect("conv1", "conv2", [AvgPool2d(2), Conv2d(_w(rng, 6, 4, 1, 1))])
    net.connect("conv2", "pool", SumPool2d(kernel_size=(2, 3), stride=(1, 2), padding=(0, 1)))
    net.connect("pool", "flat", [Flatten(), Linear(_w(rng, 36, 12))])
    net.connect("conv1", "out", [SumPool2d(4, stride=4), Flatten(), Sparse.from_dense(_w(rng, 3, 8))])
    return net


NETWORKS = {"dense": dense_net, "conv": conv_net}


@pytest.mark.parametrize("make", NETWORKS.values(), ids=NETWORKS.keys())
def test_round_trip_is_exact_and_runs_identically(tmp_path, make):
    net = make()
    save(net, tmp_path / "net.h5")
    loaded = load(tmp_path / "net.h5")
    assert loaded == net
    assert list(loaded.populations) == list(net.populations)
    assert list(loaded.projections) == list(net.projections)
    assert [p.delay for p in loaded.projections.values()] == [p.delay for p in net.projections.values()]
    for name, pop in net.populations.items():
        if pop.neuron is not None:
            for key, value in pop.neuron.params().items():
                assert loaded.populations[name].neuron.params()[key].dtype == value.dtype, (name, key)
    rates = np.random.default_rng(3).random((2,) + net.input_population.shape) * 0.6
    stim = spiking.poisson(rates, 12, seed=4)
    a = spiking.run(net, stim, record=list(net.populations), record_membrane=True)
    b = spiking.run(loaded, stim, record=list(net.populations), record_membrane=True)
    assert a.output == b.output
    assert a.counts.spikes.sum() > 0
    np.testing.assert_array_equal(a.output_spikes, b.output_spikes)
    np.testing.assert_array_equal(a.membrane_trace, b.membrane_trace)
    for name in net.populations:
        np.testing.assert_array_equal(a.recorded[name], b.recorded[name])
    assert a.counts == b.counts


def test_equality_sees_a_changed_weight(tmp_path):
    """The round-trip assertion can fail: one weight changed in the file makes the networks differ."""
    path = tmp_path / "net.h5"
    save(dense_net(), path)
    with h5py.File(path, "r+") as f:
        f["projections/0/ops/0/weight"][0, 0] += 1 / 64
    assert load(path) != dense_net()


def test_layout_is_generic(tmp_path):
    path = tmp_path / "net.h5"
    save(conv_net(), path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == io.FORMAT and f.attrs["version"] == io.VERSION
        assert "output" not in f.attrs
        conv = f["projections/0/ops/0"]
        assert conv.attrs["type"] == "Conv2d"
        assert conv["weight"].dtype == np.float32 and conv["weight"].shape == (4, 1, 3, 3)
        assert conv["stride"][()].tolist() == [2, 1] and conv["stride"].attrs["tuple"]
        assert conv["groups"][()] == 2
        neuron = f["populations/1/neuron"]
        assert neuron.attrs["type"] == "LIF" and neuron.attrs["reset"] == "subtract"


def test_order_survives_alphabetical_listing(tmp_path):
    """Populations and more than ten projections keep insertion order, not HDF5's alphabetical one."""
    net = Network()
    names = ["z", "b", "y", "a"]
    for name in names:
        net.population(name, IF(), 2)
    net.input("in", 2)
    for k in range(12):
        pre, post = names[k % 4], names[(k * 3 + 1) % 4]
        net.connect(pre, post, Linear(np.full((2, 2), k / 8)), delay=1 + k % 3, name=f"p{11 - k}")
    save(net, tmp_path / "net.h5")
    loaded = load(tmp_path / "net.h5")
    assert list(loaded.populations) == ["z", "b", "y", "a", "in"]
    assert list(loaded.projections) == [f"p{11 - k}" for k in range(12)]
    assert loaded == net
    assert loaded.output is None and loaded.output_name == "a"


def test_output_kept(tmp_path):
    net = dense_net()
    save(net, tmp_path / "net.h5")
    assert load(tmp_path / "net.h5").output == "c"
    net.output = None
    save(net, tmp_path / "net.h5")
    assert load(tmp_path / "net.h5").output is None
    assert load(tmp_path / "net.h5").output_name == "i"


def test_str_and_pathlike_paths(tmp_path):
    net = dense_net()
    save(net, str(tmp_path / "a.h5"))
    save(net, tmp_path / "b.h5")
    assert load(str(tmp_path / "b.h5")) == load(tmp_path / "a.h5") == net


def test_network_without_input(tmp_path):
    net = Network()
    net.population("a", LIF(bias=0.5), 3)
    save(net, tmp_path / "n.h5")
    assert load(tmp_path / "n.h5") == net


def test_new_neuron_model_needs_no_io_code(tmp_path, monkeypatch):
    @dataclass(frozen=True, eq=False)
    class AdaptiveLIF(LIF):
        gain: float = 0.5

    monkeypatch.setitem(NEURON_MODELS, "AdaptiveLIF", AdaptiveLIF)
    net = Network()
    net.population("a", AdaptiveLIF(gain=np.arange(3.0), reset="hard"), 3)
    save(net, tmp_path / "n.h5")
    neuron = load(tmp_path / "n.h5").populations["a"].neuron
    assert type(neuron) is AdaptiveLIF and neuron == net.populations["a"].neuron
    assert neuron.gain.tolist() == [0.0, 1.0, 2.0]


@dataclass(frozen=True, eq=False)
class Probe(ByValue):
    """Every kind of field the generic encoding knows."""

    text: str
    nothing: object
    pair: tuple
    floats: tuple
    counts: np.ndarray
    scale: float


def test_generic_fields_round_trip(tmp_path):
    probe = Probe("héllo", None, (3, 4), (0.5, 2.0), np.arange(6, dtype=np.int16).reshape(2, 3), 0.1)
    with h5py.File(tmp_path / "p.h5", "w") as f:
        io._write_object(f.create_group("p"), probe)
    with h5py.File(tmp_path / "p.h5", "r") as f:
        back = io._read_object(f["p"], {"Probe": Probe}, "p.h5")
    assert back == probe
    assert back.text == "héllo" and back.nothing is None
    assert back.pair == (3, 4) and all(type(x) is int for x in back.pair)
    assert back.floats == (0.5, 2.0)
    assert back.counts.dtype == np.int16 and back.counts.shape == (2, 3)
    assert back.scale == 0.1


def test_unstorable_field_is_refused(tmp_path):
    with h5py.File(tmp_path / "p.h5", "w") as f:
        with pytest.raises(ValidationError, match="Probe: cannot store field nothing"):
            io._write_object(f.create_group("p"), Probe("a", {"k": 1}, (1,), (), np.zeros(1), 1.0))
        with pytest.raises(ValidationError, match="Probe: cannot store field pair"):
            io._write_object(f.create_group("q"), Probe("a", None, ((1, 2), (3, 4)), (), np.zeros(1), 1.0))


# --- atomic writes -------------------------------------------------------------------------------------------------

def test_failed_save_leaves_existing_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "net.h5"
    save(conv_net(), path)
    before = path.read_bytes()
    calls = []
    real = io._write_object

    def failing(g, obj):
        calls.append(obj)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(g, obj)

    monkeypatch.setattr(io, "_write_object", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        save(dense_net(), path)
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.h5"]
    assert load(path) == conv_net()


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "net.h5"
    save(conv_net(), path)
    save(dense_net(), path)
    assert load(path) == dense_net()
    assert os.listdir(tmp_path) == ["net.h5"]


# --- malformed files -----------------------------------------------------------------------------------------------

def _tampered(tmp_path, edit):
    path = tmp_path / "net.h5"
    save(dense_net(), path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("hello")
    with pytest.raises(FormatError, match=r"text\.h5: not an HDF5 file"):
        load(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.h5")


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.attrs.__setitem__("format", "nir"), r"format is 'nir', expected 'spiking\.network'"),
    (lambda f: f.attrs.__delitem__("format"), r"format is None, expected 'spiking\.network'"),
    (lambda f: f.attrs.__setitem__("version", io.VERSION + 1),
     rf"format version {io.VERSION + 1} is newer than this spiking reads \(up to {io.VERSION}\)"),
    (lambda f: f.attrs.__setitem__("version", "1"), r"version must be a positive integer, got '1'"),
], ids=["name", "no-name", "newer", "string-version"])
def test_format_and_version_checked(tmp_path, edit, match):
    path = _tampered(tmp_path, edit)
    with pytest.raises(FormatError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.__delitem__("projections"), r"/projections: missing group"),
    (lambda f: f.__delitem__("projections/2/ops"), r"/projections/2/ops: missing group"),
    (lambda f: f.move("populations/1", "populations/7"), r"/populations: members must be named 0 \.\. n-1"),
    (lambda f: f["populations/1/neuron"].attrs.__delitem__("reset"), r"/populations/1/neuron: LIF needs fields .*"
                                                                      r"missing \['reset'\]"),
    (lambda f: f["populations/2/neuron"].__delitem__("alpha"), r"missing \['alpha'\]"),
    (lambda f: f["populations/2/neuron"].attrs.__setitem__("gamma", "x"), r"unexpected \['gamma'\]"),
    (lambda f: f["populations/1/neuron"].attrs.__setitem__("type", "Izhikevich"),
     r"/populations/1/neuron: unknown type 'Izhikevich', expected one of \['CubaLIF', 'FixedLIF', 'IF', 'LIF'\]"),
    (lambda f: f["projections/0/ops/0"].attrs.__setitem__("type", "LIF"), r"/projections/0/ops/0: unknown type 'LIF'"),
    (lambda f: f["projections/1"].attrs.__delitem__("pre"), r"/projections/1: missing attribute 'pre'"),
    (lambda f: f["projections/1"].attrs.__setitem__("delay", 1.5), r"/projections/1: attribute 'delay' has the wrong"),
    (lambda f: f["populations/0"].attrs.__delitem__("shape"), r"/populations/0: missing attribute 'shape'"),
    (lambda f: f["populations/1/neuron"].attrs.__setitem__("beta", 3), r"beta must be a string or empty"),
    (lambda f: f["projections/0/ops/0"].__setitem__("bias", 1.0), r"unexpected \['bias'\]"),
], ids=["no-projections", "no-ops", "gap", "no-reset", "no-alpha", "extra-field", "unknown-neuron", "neuron-as-op",
        "no-pre", "float-delay", "no-shape", "attr-number", "extra-dataset"])
def test_structure_errors_name_file_and_hdf5_path(tmp_path, edit, match):
    path = _tampered(tmp_path, edit)
    with pytest.raises(FormatError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


def _set(name, value):
    def edit(f):
        del f[name]
        f[name] = value
    return edit


@pytest.mark.parametrize("edit, match", [
    (_set("projections/0/ops/0/weight", np.full((5, 6), np.nan, np.float32)), r"/projections/0/ops/0: Linear: weight"
                                                                              r" contains NaN"),
    (_set("projections/0/ops/0/weight", np.ones((5, 7), np.float32)), r"/projections/0: projection 'x->h': Linear "
                                                                      r"expects input shape \(7,\), got \(6,\)"),
    (_set("projections/1/ops/0/post", np.array([9, 0, 1])), r"/projections/1/ops/0: Sparse: (post|pre_ptr)"),
    (_set("populations/1/neuron/beta", np.full(4, 0.5)), r"/populations/1: population 'h': beta has shape \(4,\)"),
    (_set("populations/1/neuron/beta", 1.5), r"/populations/1/neuron: LIF: beta must lie in \[0, 1\]"),
    (lambda f: f["populations/1"].attrs.__setitem__("shape", np.array([0])), r"shape must be a whole number in \[1,"),
    (lambda f: f["projections/2"].attrs.__setitem__("delay", 0), r"closes a cycle and needs delay >= 1"),
    (lambda f: f["projections/2"].attrs.__setitem__("post", "nowhere"), r"no population named 'nowhere'"),
    (lambda f: f.attrs.__setitem__("output", "nowhere"), r"output 'nowhere' is not a population"),
], ids=["nan-weight", "weight-shape", "sparse-index", "param-shape", "param-range", "zero-shape", "cycle-delay",
        "unknown-post", "unknown-output"])
def test_tampered_values_get_the_builders_validation(tmp_path, edit, match):
    path = _tampered(tmp_path, edit)
    with pytest.raises(ValidationError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


def test_non_numeric_dataset_is_a_format_error(tmp_path):
    path = _tampered(tmp_path, _set("projections/0/ops/0/weight", "abc"))
    with pytest.raises(FormatError, match=r"/projections/0/ops/0/weight: expected a numeric dataset"):
        load(path)


# --- property: random small networks --------------------------------------------------------------------------------

def _param(draw, n, low, high, integer=False):
    if draw(st.booleans()):
        return draw(st.integers(low, high)) if integer else draw(st.floats(low, high, allow_nan=False))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if integer:
        return rng.integers(low, high + 1, size=n)
    return rng.uniform(low, high, size=n).astype(draw(st.sampled_from([np.float32, np.float64])))


@st.composite
def networks(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    net = Network()
    sizes = {}
    if draw(st.booleans()):
        sizes["in"] = draw(st.integers(1, 4))
        net.input("in", sizes["in"])
    for k in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 4))
        model = draw(st.sampled_from([IF, LIF, CubaLIF]))
        kw = dict(v_threshold=_param(draw, n, 0.1, 2.0), reset=draw(st.sampled_from(["subtract", "hard", "none"])),
                  refractory=_param(draw, n, 0, 3, integer=True), bias=_param(draw, n, -1.0, 1.0))
        if model is not IF:
            kw["beta"] = _param(draw, n, 0.0, 1.0)
        if model is CubaLIF:
            kw["alpha"] = _param(draw, n, 0.0, 1.0)
        name = f"p{k}"
        net.population(name, model(**kw), n)
        sizes[name] = n
    names = list(sizes)
    for _ in range(draw(st.integers(0, 6))):
        pre, post = draw(st.sampled_from(names)), draw(st.sampled_from(names[1:] if "in" in sizes else names))
        w = rng.normal(size=(sizes[post], sizes[pre])).astype(np.float32)
        op = Linear(w) if draw(st.booleans()) else Sparse.from_dense(w * (rng.random(w.shape) < 0.5))
        recurrent = net.rank(pre) >= net.rank(post)
        net.connect(pre, post, op, delay=draw(st.integers(1 if recurrent else 0, 3)))
    if draw(st.booleans()):
        net.output = draw(st.sampled_from([n for n in names if n != "in"]))
    return net


@settings(max_examples=40, deadline=None)
@given(networks())
def test_random_networks_round_trip(tmp_path_factory, net):
    path = tmp_path_factory.mktemp("prop") / "net.h5"
    save(net, path)
    loaded = load(path)
    assert loaded == net
    assert list(loaded.projections) == list(net.projections)
    assert loaded.output == net.output


def test_receptor_round_trips(tmp_path):
    net = Network()
    net.input("in", (2,))
    net.population("n", CubaLIF(alpha=0.5, alpha_inh=0.25), (3,))
    net.connect("in", "n", Linear(np.ones((3, 2))))
    net.connect("in", "n", Linear(-np.ones((3, 2))), receptor="inh", name="inh")
    spiking.save(net, tmp_path / "net.h5")
    loaded = spiking.load(tmp_path / "net.h5")
    assert loaded == net
    assert loaded.projections["inh"].receptor == "inh"
